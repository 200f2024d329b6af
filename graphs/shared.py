"""What the ARC and knowledge graphs share: the policy adapter they sample from, and ReST-EM.

Both graphs keep the policy as a peft adapter on the one base model. The state names the
checkpoint to sample from (`policy/round_N`, relative to the run directory, or None for
the initial adapter); `PolicySlot.use` makes the in-memory adapter match it, so a node
re-run after a crash samples from exactly the policy it sampled from the first time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage

from seal_agent.lora_engine import CandidateFailed
from seal_agent.rest_em import fine_tune_policy, load_policy, save_policy
from seal_agent.seeding import derive_seed
from seal_agent.state import Candidate

DIRTY = "<policy adapter modified since its last checkpoint>"


@dataclass
class PolicySlot:
    """Which checkpoint the in-memory policy adapter holds, and how to load another one."""

    model: Any  # the peft model carrying the "policy" adapter
    run_dir: Path
    initial_state: dict
    loaded: str | None = None
    # Told each time the in-memory policy becomes another checkpoint (the vLLM backend
    # points vLLM at it and checks that vLLM really samples from it).
    on_change: Callable[[str | None], None] | None = None

    def use(self, checkpoint: str | None) -> None:
        """Make the in-memory policy adapter equal to `checkpoint` (None: the initial one)."""
        if checkpoint != self.loaded:
            load_policy(self.model, self.run_dir / checkpoint if checkpoint else None, self.initial_state)
            self.now_holds(checkpoint)

    def now_holds(self, checkpoint: str | None) -> None:
        self.loaded = checkpoint
        if self.on_change is not None:
            self.on_change(checkpoint)


def rest_em_update(
    slot: PolicySlot, tokenizer, policy_config, seed: int, current: int, previous: str | None, pairs: list[tuple[str, str]]
) -> dict[str, Any]:
    """One ReST-EM M-step: fine-tune the policy on (prompt, kept self-edit) pairs, save it.

    Starts from `previous` (the policy this round sampled from), also when re-run after a
    crash. Every round leaves its checkpoint, updated or not, so round N's policy is always
    on disk. A failed fine-tune (e.g. a NaN loss) keeps the previous policy.
    """
    slot.use(previous)
    losses: list[float] = []
    failure = None
    if pairs:
        # Until the save, the in-memory policy matches no checkpoint: a retry of this step in
        # the same process must reload rather than train on top of a half-trained adapter.
        slot.loaded = DIRTY
        try:
            losses = fine_tune_policy(
                slot.model, tokenizer, pairs,
                learning_rate=policy_config.sft_learning_rate,
                epochs=policy_config.sft_epochs,
                batch_size=policy_config.sft_batch_size,
                seed=derive_seed(seed, current, "rest_em"),
            ).losses
        except CandidateFailed as err:
            failure = str(err)
            slot.use(previous)
    checkpoint = f"policy/round_{current}"
    save_policy(slot.model, slot.run_dir / checkpoint)
    slot.now_holds(checkpoint)
    return {
        "policy_checkpoint": checkpoint,
        "policy_updated": bool(pairs) and failure is None,
        "policy_update_failure": failure,
        "sft_loss": losses,
    }


def rebuild_message(payload: Candidate) -> AIMessage:
    """The policy's message back from a candidate stored in the state (plain JSON).

    A call whose name is not a string or whose arguments are not an object becomes an
    invalid tool call (the self-edit is then rejected with the reason), never an error.
    """
    calls, invalid = [], []
    for i, call in enumerate(payload["tool_calls"]):
        if isinstance(call, dict) and isinstance(call.get("name"), str) and isinstance(call.get("args"), dict):
            calls.append({"name": call["name"], "args": call["args"], "id": f"call_{i}"})
        else:
            invalid.append({"name": None, "args": _text(call), "id": f"call_{i}",
                            "error": "a tool call needs a string name and an object of arguments"})
    for i, call in enumerate(payload["invalid_tool_calls"]):
        invalid.append({"name": None, "args": _text(call.get("args")), "id": f"bad_{i}", "error": _text(call.get("error"))})
    return AIMessage(content=payload["completion"], tool_calls=calls, invalid_tool_calls=invalid)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str)[:500]


def candidates_from(messages: list[AIMessage]) -> list[Candidate]:
    """Sampled messages as JSON candidates, numbered in sampling order."""
    return [
        Candidate(
            candidate=index,
            completion=message.text,
            tool_calls=[{"name": c["name"], "args": c["args"]} for c in message.tool_calls],
            invalid_tool_calls=[{"args": c.get("args"), "error": c.get("error")} for c in message.invalid_tool_calls],
        )
        for index, message in enumerate(messages)
    ]
