"""The in-process engine a config section asks for (`ttt` for ARC, `update` for knowledge)."""

from __future__ import annotations

from seal_agent.config import UpdateEngineSettings
from seal_agent.engine.batched import BatchedEngine
from seal_agent.engine.sequential import LoraEngine


def local_engine(section: UpdateEngineSettings, peft_model, tokenizer, engine: str | None = None) -> BatchedEngine | LoraEngine:
    """`section.engine` (or `engine`, when given): "batched" trains a task's candidates together, "sequential" one by one."""
    common = dict(batch_size=section.batch_size, max_grad_norm=section.max_grad_norm, time_limit=section.max_seconds_per_candidate,
                  lr_schedule=section.lr_schedule)
    if (engine or section.engine) == "batched":
        return BatchedEngine(peft_model, tokenizer, max_tokens_per_pass=section.max_tokens_per_pass,
                             max_padding_fraction=section.max_padding_fraction, **common)
    return LoraEngine(peft_model, tokenizer, **common)
