"""Does the policy's prompt representation carry the contextual world's kinds, for families RL never saw?

    python benchmarks/contextual_probe.py --model models/nano-contextual-unseen --seeds 1,2,3,4,5 \\
        --tasks-per-family 40 --json benchmarks/results_contextual_probe.json
    # after RL, a policy adapter of an arc_table run beside the initial policy:
    python benchmarks/contextual_probe.py ... --policy "SEAL round 2=runs/contextual/seed-1/rest-em/round-2"

For each seed, the RL families' tasks and the evaluation families' tasks are drawn as
`arc_table.py --world contextual` draws them (the same seeds, more tasks per family; the
roles never share a family). Per policy and per layer, a linear probe
(`seal_agent.arc.contextual_probe`) is fitted on the RL tasks' prompt states to their kind
and scored on the evaluation tasks (chance 1/3), beside a control scored on held-out RL
tasks (which also picks the probe's L2 penalty), and beside the same probe on three numbers
read off the grids. Forward passes only:
seconds per seed for the nano model.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from arc_table import CONTEXTUAL_CONFIG, check_disjoint, write_tasks
from seal_agent.arc import contextual_world
from seal_agent.arc.config import RunConfig
from seal_agent.arc.contextual_probe import fit_probe, grid_features, prompt_states
from seal_agent.arc.prompts import prompt_options, self_edit_messages
from seal_agent.config import deep_merge
from seal_agent.jobs.arc import build_context, prepare_run
from seal_agent.rl.sft import load_policy
from seal_agent.run.directory import write_atomic
from seal_agent.stats import between_seed_interval, wilson


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def kinds(tasks) -> list[str]:
    return [contextual_world.kind_of(t.task_id) for t in tasks]


# The probe's L2 penalties; one is chosen per probe on held-out RL tasks, never on the evaluation families.
L2_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


def probe_scores(train_x: torch.Tensor, train_y: list[str], test_x: torch.Tensor, test_y: list[str]) -> dict[str, Any]:
    """A probe fitted on (train_x, train_y) and scored on the test tasks. Its L2 penalty is
    the one of `L2_GRID` that scores best when fitted on the even-numbered training tasks and
    scored on the odd ones (that score is the control, `held_out_rl_tasks`)."""
    control = {l2: fit_probe(train_x[0::2], train_y[0::2], l2=l2).accuracy(train_x[1::2], train_y[1::2]) for l2 in L2_GRID}
    l2 = max(L2_GRID, key=lambda value: control[value])  # ties: the weakest penalty
    probe = fit_probe(train_x, train_y, l2=l2)
    predicted = probe.predict(test_x)
    confusion: dict[str, int] = defaultdict(int)
    for truth, guess in zip(test_y, predicted):
        confusion[f"{truth} -> {guess}"] += 1
    return {"l2": l2, "train": probe.accuracy(train_x, train_y), "held_out_rl_tasks": control[l2],
            "evaluation_families": float(np.mean([p == y for p, y in zip(predicted, test_y)])),
            "evaluation_predictions": dict(sorted(confusion.items()))}


def run_seed(args, seed: int, policies: dict[str, Path | None]) -> dict[str, Any]:
    rl = contextual_world.tasks("rl", args.tasks_per_family, 10 + seed)
    evaluation = contextual_world.tasks("eval", args.tasks_per_family, 20 + seed)
    check_disjoint(rl, evaluation, by_family=True)
    with tempfile.TemporaryDirectory() as scratch:
        data = {"source": "path", "path": str(write_tasks(rl, Path(scratch) / "tasks")), "tasks": []}
        config = RunConfig.resolve(None, overrides=deep_merge(CONTEXTUAL_CONFIG, {
            "seed": seed, "model": {"name_or_path": args.model}, "data": data}))
        ctx = build_context(prepare_run(config, Path(scratch) / "run", resume=False))
        try:
            prompts = [ctx.policy.render_prompt(self_edit_messages(t, ctx.tools, **prompt_options(config.policy)))
                       for t in rl + evaluation]
            states: dict[str, dict[str, torch.Tensor]] = {}
            for name, directory in policies.items():
                load_policy(ctx.policy.model, directory, ctx.policy_slot.initial_state)
                ctx.policy.model.set_adapter(ctx.policy.adapter_name)
                states[name] = prompt_states(ctx.policy.model, ctx.policy.tokenizer, prompts)
        finally:
            ctx.traces.close()
    n = len(rl)
    train_y, test_y = kinds(rl), kinds(evaluation)
    record: dict[str, Any] = {"seed": seed, "rl_tasks": [t.task_id for t in rl], "eval_tasks": [t.task_id for t in evaluation],
                              "policies": {}}
    for name, by_feature in states.items():
        record["policies"][name] = {
            f"{feature} layer {layer}": probe_scores(x[:n, layer], train_y, x[n:, layer], test_y)
            for feature, x in by_feature.items() for layer in range(x.shape[1])}
    grids = torch.from_numpy(np.stack([grid_features(t) for t in rl + evaluation]))
    record["grid_features"] = probe_scores(grids[:n], train_y, grids[n:], test_y)
    return record


def pooled(per_seed: list[dict[str, Any]], pick) -> dict[str, Any]:
    """One probe's evaluation-family accuracy over seeds: the pooled share with its Wilson
    interval, and the seeds as replicates (between-seed t-interval), with the control's mean."""
    tasks = [len(r["eval_tasks"]) for r in per_seed]
    accuracies = [pick(r)["evaluation_families"] for r in per_seed]
    correct = sum(a * t for a, t in zip(accuracies, tasks))
    low, high = wilson(correct, sum(tasks))
    between = between_seed_interval([[a] for a in accuracies])
    return {"evaluation_families": correct / sum(tasks), "ci": [low, high], "between_seeds": between,
            "held_out_rl_tasks": sum(pick(r)["held_out_rl_tasks"] for r in per_seed) / len(per_seed)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the pretrained nano model (seal pretrain nano --world contextual)")
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[1])
    parser.add_argument("--tasks-per-family", type=int, default=40)
    parser.add_argument("--policy", action="append", default=[], metavar="NAME=DIR",
                        help="a saved policy adapter to probe beside the initial policy (repeatable)")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    policies: dict[str, Path | None] = {"initial policy": None}
    for item in args.policy:
        name, _, directory = item.partition("=")
        if not directory or not Path(directory).is_dir():
            raise SystemExit(f"--policy {item!r}: expected NAME=DIR with DIR a saved policy adapter directory")
        policies[name] = Path(directory)
    started = time.perf_counter()
    per_seed = []
    for seed in args.seeds:
        say(f"seed {seed}: {args.tasks_per_family} tasks per family, {len(policies)} policies")
        per_seed.append(run_seed(args, seed, policies))
    table: dict[str, dict[str, Any]] = defaultdict(dict)
    for name in policies:
        for probe in per_seed[0]["policies"][name]:
            table[name][probe] = pooled(per_seed, lambda r: r["policies"][name][probe])
    grid = pooled(per_seed, lambda r: r["grid_features"])
    for name, probes in table.items():
        best = max(probes, key=lambda p: probes[p]["held_out_rl_tasks"])
        say(f"{name}: best probe on held-out RL tasks, {best}: held-out RL {probes[best]['held_out_rl_tasks']:.0%}, "
            f"evaluation families {probes[best]['evaluation_families']:.0%} "
            f"[{probes[best]['ci'][0]:.0%}, {probes[best]['ci'][1]:.0%}] (chance 33%)")
    say(f"grid features: held-out RL {grid['held_out_rl_tasks']:.0%}, evaluation families {grid['evaluation_families']:.0%}")
    document = {"world": "contextual", "model": args.model, "seeds": args.seeds, "tasks_per_family": args.tasks_per_family,
                "command": " ".join(["python", "benchmarks/contextual_probe.py", *(argv if argv is not None else sys.argv[1:])]),
                "machine": platform.processor() or platform.machine(), "seconds": round(time.perf_counter() - started, 1),
                "chance": 1 / len(contextual_world.KINDS), "policies": {n: str(d) if d else "initial" for n, d in policies.items()},
                "probes": table, "grid_features": grid, "per_seed": per_seed}
    write_atomic(args.json, json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
