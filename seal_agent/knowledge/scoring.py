"""Score one passage's self-edits: sample, validate, build the update data, train, reward.

The knowledge domain's inner loop as plain functions, the counterpart of
`seal_agent.arc.scoring`. The graph's nodes (`seal_agent.graphs.knowledge`) and `seal eval knowledge`
(`seal_agent.knowledge.baselines`) call them, so a self-edit is scored by the same path
wherever it comes from:

1. the policy writes k self-edits under the grammar of the prompt variant's tool
   (`sample_self_edits`);
2. each is validated (a bad one is rejected with its reason), turned into update sequences
   (its own plus the passage), and checked against `update.max_steps`;
3. the engine trains every accepted update with `update.seeds` seeds, all together, and
   scores each updated model on the passage's questions without the passage;
4. the reward is the configured metric's improvement over the base model, averaged over
   the seeds (`seal_agent.knowledge.reward.reward_of`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from seal_agent.engine.sequential import TrainJob, planned_steps, split_on_out_of_memory
from seal_agent.knowledge.config import KnowledgePolicyConfig, KnowledgeRunConfig
from seal_agent.knowledge.data import Passage
from seal_agent.knowledge.gate import skip_row
from seal_agent.knowledge.prompts import COPIED_FROM_EXAMPLE, bounded_tool_specs, knowledge_messages
from seal_agent.knowledge.reward import mean_metrics, passage_metrics, reward_of, score_passage
from seal_agent.knowledge.update import repeated_lines, self_edit_examples
from seal_agent.policy.candidates import candidates_from, rebuild_message
from seal_agent.policy.self_edit import KnowledgeEdit, Rejection, validate_knowledge_edit
from seal_agent.run.seeding import derive_seed
from seal_agent.state import Candidate


def sample_self_edits(policy, tools: list, passage: Passage, config: KnowledgeRunConfig, n: int, seed: int) -> tuple[str, list[Candidate]]:
    """n self-edits for `passage` from the policy, under the grammar of the variant's tool; and the rendered prompt."""
    settings = config.policy
    messages = knowledge_messages(passage, settings.prompt, tools, settings.prompt_form)
    specs = bounded_tool_specs(tools, settings.max_text_chars, settings.max_items)
    result = policy.generate([messages], tools=specs, n=n, seed=seed)
    return policy.render_prompt(messages), candidates_from([g.message for g in result.generations[0]])


def passage_scorer(config: KnowledgeRunConfig, tokenizer, passage: Passage) -> Callable[[Any], dict[str, Any]]:
    """`score(model)` for the engines: the passage's questions, asked without the passage."""
    answer_tokens = config.eval.answer_max_new_tokens if config.eval.greedy_answers else None
    return lambda model: score_passage(
        model, tokenizer, passage, batch_size=config.eval.batch_size, answer_max_new_tokens=answer_tokens,
        first_line_only=config.eval.first_line_only,
    )


def candidate_row(round_: int, passage_id: str, candidate: Candidate) -> dict[str, Any]:
    """A candidate's trace row before it is scored (`seal_agent.run.traces`)."""
    return {
        "round": round_, "task_id": passage_id, "candidate": candidate["candidate"], "completion": candidate["completion"],
        "tool_calls": candidate["tool_calls"], "status": "ok", "reason": None, "reward": 0.0, "tool_names": [],
        "timings": {}, "seconds": 0.0,
    }


def screened(edit: KnowledgeEdit | Rejection, policy: KnowledgePolicyConfig | None) -> KnowledgeEdit | Rejection:
    """The policy's own rejections on top of the tool call's validation: with
    `policy.reject_copied_example`, a self-edit with a line copied from the prompt's example;
    with `policy.reject_repeated_lines`, one that writes a line twice."""
    if policy is None or isinstance(edit, Rejection):
        return edit
    if policy.reject_copied_example:
        copied = next((text for text in edit.sequences if COPIED_FROM_EXAMPLE.search(text)), None)
        if copied is not None:
            return Rejection(f"a statement copies the prompt's example: {copied[:80]!r}")
    if policy.reject_repeated_lines:
        repeats = repeated_lines(edit.sequences)
        if repeats:
            return Rejection(f"{len(repeats)} statement(s) repeat an earlier one: {repeats[0][:80]!r}")
    return edit


def validated(candidate: Candidate, tools: list, row: dict[str, Any], policy: KnowledgePolicyConfig | None = None) -> KnowledgeEdit | None:
    """The candidate's self-edit, or None with the row marked rejected and why (`screened` by `policy`'s rejections)."""
    edit = screened(validate_knowledge_edit(rebuild_message(candidate), tools), policy)
    if isinstance(edit, Rejection):
        row.update(status="rejected", reason=edit.reason)
        return None
    row["tool_names"] = edit.tool_names
    row["data_sample"] = "\n---\n".join(edit.sequences)[:2000]
    return edit


def within_budget(config: KnowledgeRunConfig, examples: list, row: dict[str, Any]) -> bool:
    """Whether the update fits `update.max_steps`; if not, the row is marked rejected."""
    update = config.update
    steps = planned_steps(len(examples), update.epochs, update.batch_size)
    row["data_counts"] = {"sequences": len(examples), "tokens": sum(len(e.input_ids) for e in examples), "steps": steps}
    if steps > update.max_steps:
        row.update(status="rejected", reason=f"needs {steps} update steps; the budget is {update.max_steps}")
        return False
    return True


def update_seeds(config: KnowledgeRunConfig, round_: int, passage_id: str, candidate: int | str) -> list[int]:
    """The `update.seeds` training seeds of one update, derived from the run seed."""
    return [derive_seed(config.seed, round_, passage_id, candidate, "update", s) for s in range(config.update.seeds)]


def score_self_edits(
    passage: Passage,
    candidates: list[Candidate],
    base: dict[str, Any],
    *,
    config: KnowledgeRunConfig,
    engine,
    tools: list,
    round_: int,
    judge=None,
) -> list[dict[str, Any]]:
    """Trace rows for `candidates` (one per candidate, in order), each with its reward against `base`."""
    rows, jobs, owners = [], [], []
    for candidate in candidates:
        row = candidate_row(round_, passage.passage_id, candidate)
        rows.append(row)
        edit = validated(candidate, tools, row, config.policy)
        if edit is None:
            continue
        if edit.skips_update:  # the policy chose no update: nothing to train, nothing gained or paid
            row.update(skipped=True, improvement=0.0)
            continue
        examples = self_edit_examples(engine.tokenizer, passage, [edit.sequences], config.update)
        if not within_budget(config, examples, row):
            continue
        seeds = update_seeds(config, round_, passage.passage_id, candidate["candidate"])
        # The same keys as an ARC trace row's training (the `train` tool's argument names).
        row["training"] = {"learning_rate": config.update.learning_rate, "num_train_epochs": config.update.epochs, "seeds": seeds}
        for seed in seeds:
            jobs.append(TrainJob(examples, config.update.learning_rate, config.update.epochs, seed))
            owners.append(row)
    scorer = passage_scorer(config, engine.tokenizer, passage)
    outcomes = split_on_out_of_memory(engine, jobs, lambda some: engine.train_and_score(some, scorer))
    per_row: dict[int, list] = {}
    for row, outcome in zip(owners, outcomes):
        per_row.setdefault(id(row), []).append(outcome)
    for row in rows:
        outcomes = per_row.get(id(row))
        if not outcomes:
            continue
        failures = [o.failure for o in outcomes if o.failure is not None]
        if failures:
            row.update(status="failed", reason=failures[0])
            continue
        per_seed = [passage_metrics(o.evaluation, passage, judge) for o in outcomes]
        rewards = [reward_of(config.reward.kind, m, base) for m in per_seed]
        row["reward"] = sum(r for r, _ in rewards) / len(rewards)
        row["improvement"] = sum(i for _, i in rewards) / len(rewards)
        if config.policy.no_update:  # the policy chooses whether to update: an update pays its cost
            row["reward"] = row["improvement"] - config.reward.update_cost
        first = outcomes[0]
        row["loss_curve"] = first.train.losses
        row["predictions"] = first.evaluation["answers"]
        row["metrics"] = {
            "kind": config.reward.kind, "base": base, "after": mean_metrics(per_seed), "per_seed": per_seed,
            "rewards": [r for r, _ in rewards], "loglik_per_question": [o.evaluation["loglik"] for o in outcomes],
        }
        row["timings"] = {"train": sum(o.train.seconds for o in outcomes), "eval": sum(o.train.eval_seconds for o in outcomes)}
        row["seconds"] = row["timings"]["train"] + row["timings"]["eval"]
    return rows


def rest_em_kept(results: list[dict[str, Any]], passage_ids: list[str], keep: str = "improved",
                 gated: bool = False) -> list[dict[str, Any]]:
    """ReST-EM's selection for knowledge: per passage, its best-rewarded self-edit, in passage order.

    keep "improved": only if it beat the base model; "best": whatever its gain, as SEAL's
    released code does (the top-1 of k by mean reward over the update seeds).

    gated (`policy.no_update`): rewards already carry the update cost, and not updating is
    worth 0. A sampled no_update that beats every update is kept; where no update earned
    more than its cost (and none was sampled), no_update is kept all the same
    (`seal_agent.knowledge.gate.skip_row`): its reward is known without running it, so it
    is always among a passage's candidates.
    """
    if keep not in ("improved", "best"):
        raise ValueError(f"unknown selection {keep!r}; choose improved or best")
    kept = []
    for passage_id in passage_ids:
        scored = [r for r in results if r["task_id"] == passage_id and r["status"] == "ok"]
        best = max(scored, key=lambda r: (r["reward"], -r["candidate"]), default=None)
        if gated and scored and (best.get("skipped") or best["reward"] <= 0):
            kept.append(best if best.get("skipped") else skip_row(passage_id))
        elif best is not None and (keep == "best" or best["improvement"] > 0):
            kept.append(best)
    return kept

