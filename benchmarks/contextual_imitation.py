"""Could ReST-EM's update teach the contextual world's policy to choose by the task, if the
reward said which choice each family wants? An M-step on an ideal training set.

In the contextual table (`arc_table.py --world contextual`) ReST-EM trains on the rewarded
self-edits of the RL tasks, and those carry almost no family-specific signal. This script
replaces the reward by the world's design: from the self-edits the initial policy sampled
in a table seed's first RL round (read from its outer-loop trace), it keeps those whose
augmentation set is the one the task's kind wants (`contextual_rows.designed_sets`:
rotations for colour-bound rules, colour permutations for colour-free ones, none for
positional ones), runs the table's own M-step on them, and samples self-edits on the RL
tasks and on the evaluation tasks (families the update never saw). Beside it, the same
M-step on what the reward kept (ReST-EM's round 1) and the initial policy.

If the policy then chooses by family on the RL tasks but not on the evaluation families,
the update can fit a family-specific choice and the policy's reading of a new task cannot
carry it over (the probe's finding, `contextual_probe.py`). If it chooses by family on both,
what the table's RL lacked was the signal. No test-time training is run: only sampling.

    python -m benchmarks.contextual_imitation --model models/nano-contextual-unseen \\
        --work runs/contextual --seeds 1 --json benchmarks/results_contextual_imitation.json

(Run as a module from the repository root: it reuses `benchmarks/arc_table.py`'s loop config.)
`--work` is the table's: its seed directories hold the RL and evaluation tasks and the outer
loop's trace; the updates go to WORK/seed-N/imitation-STEPS/, and each seed's result to
WORK/seed-N/imitation-STEPS.json (or, with --seed-records DIR, DIR/seed-N-imitation-STEPS.json),
which a rerun with the same --steps reads back. The JSON pools the seeds' mean specificity
(between-seed t-interval) beside each seed's tables.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from benchmarks.arc_table import CONTEXTUAL_CONFIG, print_toward_best
from seal_agent.arc import contextual_rows
from seal_agent.arc.config import RunConfig
from seal_agent.arc.contextual_world import family_of
from seal_agent.arc.data import load_configured_tasks
from seal_agent.arc.prompts import prompt_options, self_edit_messages
from seal_agent.arc.scoring import prepare_self_edits
from seal_agent.arc.sources import policy_source
from seal_agent.config import deep_merge
from seal_agent.jobs.arc import build_context, prepare_run
from seal_agent.model.tiny import model_identity
from seal_agent.rl.rest_em import rest_em_update
from seal_agent.run.directory import DB_FILE, write_atomic
from seal_agent.run.driver import exclusive_run
from seal_agent.run.seeding import derive_seed
from seal_agent.run.traces import read_traces
from seal_agent.stats import between_seed_interval


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def training_sets(trace: list[dict[str, Any]], prompts: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """(prompt, self-edit) pairs from a first RL round's trace (`prompts`: task id -> the
    policy's prompt): what the reward kept, and the valid self-edits whose augmentation set is
    the one the task's family wants by design."""
    wanted = contextual_rows.designed_sets()
    first = [r for r in trace if r["round"] == 1 and r.get("completion")]
    sets = {
        "rewarded (ReST-EM's round 1)": [(prompts[r["task_id"]], r["completion"]) for r in first if r["reward"] >= 1],
        "the designed set (an ideal reward)": [(prompts[r["task_id"]], r["completion"]) for r in first if r["status"] != "rejected"
                                               and contextual_rows.augmentation_set(r) == wanted[family_of(r["task_id"])]],
    }
    empty = [name for name, pairs in sets.items() if not pairs]
    if empty:
        raise SystemExit(f"no self-edits to train on for: {', '.join(empty)} (is the trace a finished first round?)")
    return sets


def sample(ctx, checkpoint: str | None, tasks, k: int, seed: int) -> list[dict[str, Any]]:
    """K self-edits per task from `checkpoint`, validated as the table's rows are (no training)."""
    source = policy_source(ctx, checkpoint, "probe")
    rows = []
    for task in tasks:
        messages = self_edit_messages(task, ctx.tools, **prompt_options(ctx.config.policy))
        _prompt, candidates = source.propose(task, messages, k, derive_seed(seed, "imitation", task.task_id))
        rows += [row for row, _job in prepare_self_edits(task, candidates, config=ctx.config, tokenizer=ctx.engine.tokenizer,
                                                          tools=ctx.tools, round_=1)]
    return rows


def run_seed(args, seed: int) -> dict[str, Any]:
    """One seed's imitation, saved as WORK/seed-N/imitation-STEPS.json (with --seed-records,
    SEED_RECORDS/seed-N-imitation-STEPS.json) and read back by a rerun with the same --steps,
    so seeds can be added one at a time and pooled."""
    name = f"{run_name(args.steps)}.json"
    saved = args.seed_records / f"seed-{seed}-{name}" if args.seed_records else args.work / f"seed-{seed}" / name
    made_with = {"k": args.k, "model": model_identity(args.model)}
    if saved.exists():
        result = json.loads(saved.read_text())
        if result.get("made_with") != made_with:
            raise SystemExit(f"{saved} was made with {result.get('made_with')}, not {made_with}; remove it to run the seed again")
        say(f"seed {seed}: finished earlier, reusing {saved}")
        return result
    result = {**imitate(args, seed), "made_with": made_with}
    write_atomic(saved, json.dumps(result))
    return result


def run_name(steps: int | None) -> str:
    return f"imitation-{steps}-steps" if steps else "imitation-table-steps"


def imitate(args, seed: int) -> dict[str, Any]:
    seed_dir = args.work / f"seed-{seed}"
    trace = read_traces(seed_dir / "rest-em" / DB_FILE)[0]

    def config_on(tasks: str) -> RunConfig:  # the table's loop config, on one of the seed's task folders
        data = {"source": "path", "path": str(seed_dir / tasks), "tasks": []}
        return RunConfig.resolve(overrides=deep_merge(CONTEXTUAL_CONFIG, {"seed": seed, "model": {"name_or_path": args.model},
                                                                          "data": data}))

    config = config_on("rl-tasks")
    tasks_by_role = {"rl": load_configured_tasks(config.data), "eval": load_configured_tasks(config_on("eval-tasks").data)}
    run_dir = seed_dir / run_name(args.steps)
    shutil.rmtree(run_dir, ignore_errors=True)
    prepared = prepare_run(config, run_dir, resume=False)
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {"rl": {}, "eval": {}}
    steps: dict[str, int] = {}
    with exclusive_run(prepared.run_dir):
        ctx = build_context(prepared)
        try:
            sets = training_sets(trace, {task.task_id: ctx.policy.render_prompt(self_edit_messages(
                task, ctx.tools, **prompt_options(config.policy))) for task in tasks_by_role["rl"]})
            policies: list[tuple[str, str | None]] = [("initial policy", None)]
            for index, (name, pairs) in enumerate(sets.items(), start=1):
                say(f"seed {seed}: M-step on {len(pairs)} self-edits: {name}")
                update = rest_em_update(ctx.policy_slot, ctx.engine.tokenizer, config.policy, seed, index, None, pairs,
                                        steps=args.steps)
                steps[name] = update["policy_optimizer_steps"]
                policies.append((name, update["policy_checkpoint"]))
            for name, checkpoint in policies:
                for role, tasks in tasks_by_role.items():
                    say(f"seed {seed}: sampling {args.k} self-edits on each of {len(tasks)} {role} tasks: {name}")
                    samples[role][name] = sample(ctx, checkpoint, tasks, args.k, seed)
        finally:
            ctx.traces.close()
    wanted = contextual_rows.designed_sets()
    families = {role: sorted({family_of(t.task_id) for t in tasks}) for role, tasks in tasks_by_role.items()}
    return {
        "seed": seed,
        "training_pairs": {name: len(pairs) for name, pairs in sets.items()},
        "optimizer_steps": steps,
        "toward_designed_set": {role: contextual_rows.choices_toward(rows, {f: wanted[f] for f in families[role]})
                                for role, rows in samples.items()},
    }


def pool(results: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Each policy's mean specificity on each role's families, seeds as the replicates:
    {role: {policy: {"mean", "ci" (between-seed t), "seed_means", "seeds"}}}."""
    pooled: dict[str, dict[str, dict[str, Any]]] = {}
    for role in ("rl", "eval"):
        names = results[0]["toward_designed_set"][role]["rows"]
        pooled[role] = {name: between_seed_interval([[value] if value is not None else []  # None: no valid self-edit
                                                     for r in results
                                                     for value in [r["toward_designed_set"][role]["rows"][name]["mean_specificity"]]])
                        for name in names}
    return pooled


def print_pooled(pooled: dict[str, dict[str, dict[str, Any]]]) -> None:
    print("mean specificity toward the designed set, seeds as the replicates (between-seed 95% t-interval)")
    for role, by_policy in pooled.items():
        for name, cell in by_policy.items():
            interval = f"[{cell['ci'][0]:+.2f}, {cell['ci'][1]:+.2f}]" if cell["seeds"] > 1 else "-"
            mean = f"{cell['mean']:+.2f}" if cell["seeds"] else "-"
            print(f"  {role:5} {name:40} {mean:>5} {interval:>16}  ({cell['seeds']} seeds)")


def print_seed(result: dict[str, Any]) -> None:
    for role, title in (("rl", "RL tasks (the families the update trained on)"), ("eval", "evaluation families (never trained on)")):
        print_toward_best(result["toward_designed_set"][role], f"seed {result['seed']}, {title}, against the designed set")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="The contextual table's pretrained nano model.")
    parser.add_argument("--work", type=Path, required=True, help="The contextual table's --work directory.")
    parser.add_argument("--seeds", default="1", type=lambda text: [int(s) for s in text.split(",")])
    parser.add_argument("--k", type=int, default=5, help="Self-edits sampled per task and policy.")
    parser.add_argument("--steps", type=int, help="Optimizer steps of each M-step (default: the table's "
                        "policy.sft_epochs passes over its pairs): a stronger fit than the table's.")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--seed-records", type=Path, help="Keep each finished seed here instead of in its --work seed "
                        "directory: a folder to commit, so that seeds pool after their --work is gone.")
    args = parser.parse_args()
    args.work = args.work.resolve()
    results = []
    for seed in args.seeds:
        results.append(run_seed(args, seed))
        print_seed(results[-1])
    pooled = pool(results)
    print_pooled(pooled)
    write_atomic(args.json, json.dumps({"model": args.model, "work": str(args.work), "k": args.k, "steps": args.steps,
                                        "designed_sets": contextual_rows.designed_sets(), "mean_specificity": pooled,
                                        "seeds": results}, indent=1))


if __name__ == "__main__":
    main()
