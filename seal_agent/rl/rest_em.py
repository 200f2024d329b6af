"""What the ARC and knowledge graphs share: the policy adapter they sample from, and the ReST-EM update.

Both graphs keep the policy as a peft adapter on the one base model. The state names the
checkpoint to sample from (`policy/round_N`, relative to the run directory, or None for
the initial adapter); `PolicySlot.use` makes the in-memory adapter match it, so a node
re-run after a crash samples from exactly the policy it sampled from the first time.

With `merge=True` (the reference code's ReST-EM, `policy.merge_into_base`) each round's
fine-tuned adapter is merged into the base weights and the adapter starts the next round
fresh: the merged model is then both the policy and the base that test-time training
starts from. Round N's policy is then the original weights plus rounds 1..N merged in
order, and `use` rebuilds exactly that from the saved round adapters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seal_agent.engine.sequential import CandidateFailed
from seal_agent.model.adapters import POLICY_ADAPTER, merge_adapter_into_base
from seal_agent.rl.sft import fine_tune_policy, load_policy, merged_chain, save_policy
from seal_agent.run.seeding import derive_seed

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
    merge: bool = False  # each round's adapter merged into the base weights (see the module docstring)
    _original_weights: dict | None = None  # merge mode: the base weights before any merge

    def use(self, checkpoint: str | None) -> None:
        """Make the in-memory policy equal to `checkpoint` (None: the initial one)."""
        if checkpoint == self.loaded:
            return
        if self.merge:
            self.restore_base()
            for directory in merged_chain(self.run_dir / checkpoint) if checkpoint else []:
                load_policy(self.model, directory, self.initial_state)
                self.merge_adapter()
        else:
            load_policy(self.model, self.run_dir / checkpoint if checkpoint else None, self.initial_state)
        self.now_holds(checkpoint)

    def merge_adapter(self) -> None:
        """Merge the adapter's current weights into the base, then reset it to its initial weights."""
        if self._original_weights is None:
            self._original_weights = {name: w.detach().clone() for name, w in policy_base_weights(self.model).items()}
        merge_adapter_into_base(self.model, POLICY_ADAPTER)
        load_policy(self.model, None, self.initial_state)

    def restore_base(self) -> None:
        if self._original_weights is not None:
            current = policy_base_weights(self.model)
            for name, weight in self._original_weights.items():
                current[name].data.copy_(weight)

    def now_holds(self, checkpoint: str | None) -> None:
        self.loaded = checkpoint
        if self.on_change is not None:
            self.on_change(checkpoint)


def rest_em_update(
    slot: PolicySlot, tokenizer, policy_config, seed: int, current: int, previous: str | None, pairs: list[tuple[str, str]],
    steps: int | None = None,
) -> dict[str, Any]:
    """One ReST-EM M-step: fine-tune the policy on (prompt, kept self-edit) pairs, save it.

    Starts from `previous` (the policy this round sampled from), also when re-run after a
    crash. Every round leaves its checkpoint, updated or not, so round N's policy is always
    on disk. A failed fine-tune (e.g. a NaN loss) keeps the previous policy.
    """
    slot.use(previous)
    losses, failure = train_from(slot, previous, lambda: fine_tune_policy(
        slot.model, tokenizer, pairs,
        learning_rate=policy_config.sft_learning_rate,
        epochs=policy_config.sft_epochs,
        batch_size=policy_config.sft_batch_size,
        seed=derive_seed(seed, current, "rest_em"),
        steps=steps,
    )) if pairs else ([], None)
    checkpoint = save_round(slot, current)
    return {
        "policy_checkpoint": checkpoint,
        "policy_updated": bool(pairs) and failure is None,
        "policy_update_failure": failure,
        "sft_loss": losses,
        "policy_optimizer_steps": len(losses),
    }


def train_from(slot: PolicySlot, previous: str | None, train: Callable[[], Any]) -> tuple[list[float], str | None]:
    """Run a round's training of the in-memory policy (`train()` returns a TrainResult): its
    losses, or the reason it failed (a NaN loss, say), the policy then back at `previous`."""
    # Until the save, the in-memory policy matches no checkpoint: a retry of this step in
    # the same process must reload rather than train on top of a half-trained adapter.
    slot.loaded = DIRTY
    try:
        return train().losses, None
    except CandidateFailed as err:
        slot.use(previous)
        return [], str(err)


def save_round(slot: PolicySlot, current: int) -> str:
    """Save the in-memory policy as round `current`'s checkpoint (merged into the base in merge mode)."""
    checkpoint = f"policy/round_{current}"
    save_policy(slot.model, slot.run_dir / checkpoint)
    if slot.merge:
        slot.merge_adapter()
    slot.now_holds(checkpoint)
    return checkpoint


def policy_base_weights(model) -> dict[str, Any]:
    """The base weight of every layer that carries the policy adapter, by module name."""
    from peft.tuners.lora import LoraLayer

    return {name: module.get_base_layer().weight for name, module in model.named_modules()
            if isinstance(module, LoraLayer) and POLICY_ADAPTER in module.lora_A}


def candidate_counts(results: list[dict[str, Any]]) -> dict[str, Any]:
    """A round's candidates: how many were scored, the fraction that were valid self-edits, how many failed to train."""
    return {
        "candidates": len(results),
        "valid_fraction": sum(r["status"] != "rejected" for r in results) / len(results) if results else 0.0,
        "failed": sum(r["status"] == "failed" for r in results),
    }


def end_of_round(summary: dict[str, Any], policy: dict[str, Any], current: int, rounds: int) -> dict[str, Any]:
    """A reinforce node's state update: the round's summary, the new policy checkpoint, and "done" after the last round."""
    update: dict[str, Any] = {"rounds": [summary], "policy_checkpoint": policy["policy_checkpoint"]}
    if current >= rounds:
        update["stop_reason"] = "done"
    return update
