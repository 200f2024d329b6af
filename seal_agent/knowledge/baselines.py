"""`seal eval knowledge`: the paper's comparison rows on the same passages, in one command.

    base model                  no update
    passage only                the update trains on the passage alone
    passage + policy self-edits the passage and the self-edits the current policy writes
    passage + <teacher>         the passage and a second chat model's self-edits (the
                                paper's GPT-4.1 row), when `eval.teacher` is configured

In mode single every update is a single-passage update (the config's `update` section)
run with s seeds; in mode cpt each row is one update over all the passages (continued
pretraining). Every row is scored on the passage's questions without the passage. A
self-edit that is rejected (unparsable, wrong arguments) still trains on the passage, and
is counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from seal_agent.engine.sequential import TrainJob, split_on_out_of_memory
from seal_agent.knowledge.config import KnowledgePolicyConfig
from seal_agent.knowledge.data import Passage
from seal_agent.knowledge.prompts import knowledge_messages
from seal_agent.knowledge.reward import mean_metrics
from seal_agent.knowledge.scoring import sample_self_edits, screened
from seal_agent.knowledge.update import self_edit_examples
from seal_agent.policy.candidates import rebuild_message
from seal_agent.policy.chat_models import self_edit_from
from seal_agent.policy.self_edit import Rejection, validate_knowledge_edit
from seal_agent.run.seeding import derive_seed

BASE, PASSAGE, POLICY = "base model", "passage only", "passage + policy self-edits"


def evaluate_baselines(
    ctx, passages: list[Passage], *, self_edits: int = 1, teacher=None, teacher_name: str = "teacher",
    on_passage: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score every condition on every passage; `ctx` is a `seal_agent.graphs.knowledge.KnowledgeContext`.

    Mode single (and continual): each self-edit is its own update on its passage, as above.
    Mode cpt: each condition is one update over every passage and all of that condition's
    self-edits (the paper's continued-pretraining rows), run with s seeds; then every
    passage is scored. `on_passage` is called as each passage's self-edits are written
    (single: and its updates scored).
    """
    config = ctx.config
    conditions = [BASE, PASSAGE, POLICY] + ([f"passage + {teacher_name} self-edits"] if teacher is not None else [])
    per_passage: dict[str, dict[str, Any]] = {name: {} for name in conditions}
    scored_updates: dict[str, dict[str, int]] = {name: {} for name in conditions}  # per passage: updates that trained
    rejected = {name: 0 for name in conditions}
    written = {name: 0 for name in conditions}
    cpt_edits: dict[str, dict[str, list[list[str]]]] = {name: {} for name in conditions[1:]}  # mode cpt: valid self-edits
    written_edits: dict[str, dict[str, list[list[str] | None]]] = {name: {} for name in conditions[2:]}  # what was written
    for passage in passages:
        per_passage[BASE][passage.passage_id] = ctx.metrics(ctx.engine.score_base(ctx.scorer(passage)), passage)
        scored_updates[BASE][passage.passage_id] = 1
        edits = conditions_self_edits(ctx, passage, conditions, self_edits, teacher)
        for name, texts in edits.items():
            written[name] += len(texts) if name != PASSAGE else 0
            rejected[name] += sum(sequences is None for sequences in texts)
            if name in written_edits:
                written_edits[name][passage.passage_id] = texts
        if config.mode == "cpt":
            for name, texts in edits.items():
                cpt_edits[name][passage.passage_id] = [sequences for sequences in texts if sequences]
        else:
            score_single_updates(ctx, passage, edits, per_passage, scored_updates)
        if on_passage is not None:
            on_passage(passage.passage_id)
    if config.mode == "cpt":
        score_cpt_updates(ctx, passages, cpt_edits, per_passage, scored_updates)
    rows = []
    for name in conditions:
        metrics = mean_metrics(list(per_passage[name].values()))
        rows.append({
            "name": name, "metrics": metrics, "passages": len(per_passage[name]),
            "self_edits": written[name] if name not in (BASE, PASSAGE) else None,
            "rejected": rejected[name] if name not in (BASE, PASSAGE) else None,
        })
    return {
        "passages": [p.passage_id for p in passages], "reward_kind": config.reward.kind, "seeds": config.update.seeds,
        "mode": "cpt" if config.mode == "cpt" else "single", "rows": rows, "per_passage": per_passage,
        "scored_updates": scored_updates,
        # Per self-edit condition and passage, each self-edit's sequences (None: rejected).
        "self_edits": written_edits,
    }


def conditions_self_edits(ctx, passage: Passage, conditions: list[str], self_edits: int, teacher) -> dict[str, list[list[str] | None]]:
    """Per condition after the base model, the sequences of each self-edit (None: rejected);
    passage only is one empty self-edit."""
    config = ctx.config
    messages = knowledge_messages(passage, config.policy.prompt, ctx.tools, config.policy.prompt_form)
    edits: dict[str, list[list[str] | None]] = {PASSAGE: [[]]}
    seed = derive_seed(config.seed, "eval", passage.passage_id, "propose")
    ctx.policy_slot.use(None)  # the policy the run started from (config.policy_checkpoint)
    _prompt, sampled = sample_self_edits(ctx.policy, ctx.tools, passage, config, self_edits, seed)
    edits[POLICY] = [sequences_or_none(rebuild_message(c), ctx.tools, config.policy) for c in sampled]
    if teacher is not None:
        edits[conditions[3]] = [sequences_or_none(self_edit_from(teacher, messages, ctx.tools), ctx.tools)]
    return edits


def score_single_updates(ctx, passage: Passage, edits, per_passage, scored_updates) -> None:
    """One update per self-edit (a rejected one still trains on the passage), s seeds each."""
    config = ctx.config
    jobs, owners = [], []
    for name, texts in edits.items():
        for index, sequences in enumerate(texts):
            examples = self_edit_examples(ctx.tokenizer, passage, [sequences or []], config.update)
            for s in range(config.update.seeds):
                jobs.append(TrainJob(examples, config.update.learning_rate, config.update.epochs,
                                     derive_seed(config.seed, "eval", passage.passage_id, name, index, s)))
                owners.append(name)
    scorer = ctx.scorer(passage)
    outcomes = split_on_out_of_memory(ctx.engine, jobs, lambda some: ctx.engine.train_and_score(some, scorer))
    for name in edits:
        scored = [ctx.metrics(o.evaluation, passage) for o, owner in zip(outcomes, owners) if owner == name and o.failure is None]
        if scored:
            per_passage[name][passage.passage_id] = mean_metrics(scored)
            scored_updates[name][passage.passage_id] = len(scored)


def score_cpt_updates(ctx, passages: list[Passage], cpt_edits, per_passage, scored_updates) -> None:
    """Mode cpt: per condition, one update over every passage with its valid self-edits (a
    passage whose self-edits were all rejected still trains on itself), s seeds."""
    config = ctx.config
    engine = ctx.cpt_engine()

    def score_all(model):
        return {p.passage_id: ctx.scorer(p)(model) for p in passages}

    for name, by_passage in cpt_edits.items():
        examples = []
        for passage in passages:
            examples += self_edit_examples(ctx.tokenizer, passage, by_passage[passage.passage_id], config.update)
        jobs = [TrainJob(examples, config.update.learning_rate, config.update.epochs, derive_seed(config.seed, "eval", "cpt", name, s))
                for s in range(config.update.seeds)]
        outcomes = [o for o in split_on_out_of_memory(engine, jobs, lambda some: engine.train_and_score(some, score_all))
                    if o.failure is None]
        for passage in passages:
            if outcomes:
                per_passage[name][passage.passage_id] = mean_metrics(
                    [ctx.metrics(o.evaluation[passage.passage_id], passage) for o in outcomes])
                scored_updates[name][passage.passage_id] = len(outcomes)


def sequences_or_none(message, tools, policy: KnowledgePolicyConfig | None = None) -> list[str] | None:
    """The self-edit's sequences, or None if it is rejected (`screened` by `policy`'s rejections)."""
    edit = screened(validate_knowledge_edit(message, tools), policy)
    return None if isinstance(edit, Rejection) else edit.sequences
