"""The inner loop on Ray: actors that each hold the base model once and train batches of candidates.

    seal run arc --preset smoke --executor ray                 # a local Ray instance
    seal run arc --config big.yaml --executor ray              # executor.address: auto (a cluster)

Each actor loads the base model from the same source as the driver, adds the same LoRA
adapters from the same seed (so every candidate starts from the very same TTT adapter),
and runs the batched engine. The graph's `execute` branches (one per task) run
`executor.actors` at a time; each takes an idle actor, sends it the task's jobs (token ids
and hyperparameters, plain data) and gets back each candidate's losses and outputs. The
driver keeps its own copy of the model for sampling self-edits and ReST-EM.

A killed actor is restarted by Ray (`executor.max_restarts`) and the task it held is
retried on it; the task's results reach the checkpointer only when they come back, so
nothing is lost and nothing is counted twice.
"""

from __future__ import annotations

import os
import queue
from typing import Any

import torch

from seal_agent.engine.sequential import CandidateOutcome, TrainJob


class RayUnavailableError(Exception):
    """`executor.kind: ray` without Ray installed."""


class EngineActor:
    """Runs in a Ray worker: the base model with its adapters and a batched engine."""

    def __init__(self, source: str, model: dict[str, Any], ttt_lora: dict, policy_lora: dict, seed: int,
                 engine: dict[str, Any], threads: int | None):
        from seal_agent.engine.batched import BatchedEngine
        from seal_agent.config import LoraConfigSection
        from seal_agent.model.adapters import attach_adapters
        from seal_agent.model.loading import load_model_and_tokenizer

        if threads:
            torch.set_num_threads(threads)  # the driver's count: the same arithmetic, the same results
        base, tokenizer = load_model_and_tokenizer(source, model["dtype"], model["device"], model.get("gguf_file"))
        peft_model = attach_adapters(base, LoraConfigSection(**ttt_lora), LoraConfigSection(**policy_lora), seed=seed)
        self.engine = BatchedEngine(peft_model, tokenizer, **engine)

    def pid(self) -> int:
        return os.getpid()

    def train_and_generate(self, jobs: list[TrainJob], prompts: list[str], max_new_tokens: int, batch_size: int):
        return self.engine.train_and_generate(jobs, prompts, max_new_tokens, batch_size)


class RayEngine:
    """The engine protocol over a pool of Ray actors; generation without adapters stays local."""

    def __init__(self, local_engine, config, source: str):
        try:
            import ray
        except ImportError:
            raise RayUnavailableError("--executor ray needs Ray: pip install 'ray>=2.9' (the ray extra)") from None
        self.ray = ray
        self.local = local_engine
        self.tokenizer = local_engine.tokenizer
        self.model = local_engine.model
        executor = config.executor
        self.started_ray = False
        if not ray.is_initialized():
            ray.init(address=executor.address, include_dashboard=False, log_to_driver=False)
            self.started_ray = executor.address is None
        actor_class = ray.remote(EngineActor).options(
            num_cpus=executor.num_cpus_per_actor, num_gpus=executor.num_gpus_per_actor,
            max_restarts=executor.max_restarts, max_task_retries=executor.max_restarts,
        )
        engine = {
            "batch_size": config.ttt.batch_size, "max_grad_norm": config.ttt.max_grad_norm,
            "max_tokens_per_pass": config.ttt.max_tokens_per_pass, "max_padding_fraction": config.ttt.max_padding_fraction,
            "time_limit": config.ttt.max_seconds_per_candidate, "lr_schedule": config.ttt.lr_schedule,
        }
        self.actors = [
            actor_class.remote(source, config.model.model_dump(), config.ttt.lora.model_dump(), config.policy.lora.model_dump(),
                               config.seed, engine, torch.get_num_threads())
            for _ in range(executor.actors)
        ]
        self.idle: queue.Queue = queue.Queue()
        for actor in self.actors:
            self.idle.put(actor)

    def actor_pids(self) -> list[int]:
        return self.ray.get([actor.pid.remote() for actor in self.actors])

    def train_and_generate(self, jobs: list[TrainJob], prompts: list[str], max_new_tokens: int, batch_size: int
                           ) -> list[CandidateOutcome]:
        actor = self.idle.get()  # waits while every actor is busy with another task
        try:
            return self.ray.get(actor.train_and_generate.remote(jobs, prompts, max_new_tokens, batch_size))
        finally:
            self.idle.put(actor)

    def generate_base(self, prompts: list[str], max_new_tokens: int, batch_size: int) -> list[str]:
        return self.local.generate_base(prompts, max_new_tokens, batch_size)

    def release(self) -> None:
        self.local.release()

    def shutdown(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        if self.started_ray:
            self.ray.shutdown()
