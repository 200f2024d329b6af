"""Deciding when to update, on the nano knowledge world: updates made against accuracy as the
price of an update varies (`policy.no_update`, `reward.update_cost`).

    python benchmarks/update_gate_table.py --model models/nano-knowledge --seeds 1,2,3 --costs 0,0.1,0.5 \\
        --json benchmarks/results_update_gate_nano.json

The passages are about new people (the rl and eval roles, never in pretraining). With
--rl-known/--eval-known the lists also mix in people the model was pretrained on (the
recipe's question-answer people, read from the model's nano_recipe.json), so that a policy
could learn to skip what it knows already; the "base EM" columns of the JSON say whether
the model does know them (the project's nano model does not: it answers none of their
questions at base, so the mix is off by default). RL and evaluation never share a person.

For each seed:
  1. "always update" (no choice offered): the initial policy writes one self-edit per
     passage of the evaluation sequence and each is merged (`seal run knowledge --mode
     continual`).
  2. For each cost c: ReST-EM (`--rounds` rounds of `seal run knowledge --mode single`) on
     the RL passages with policy.no_update and reward.update_cost c, then the same
     continual sequence with the trained policy, which may now answer no_update.
Each row reports, pooled over seeds with normal 95% intervals: updates made (on new and on
known people), exact match and log-likelihood over all passages after the last update, on
new and on known people, and the seconds spent updating.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from seal_agent.config import deep_merge, read_yaml_mapping
from seal_agent.jobs.knowledge import prepare_knowledge_run, run_knowledge
from seal_agent.knowledge import nano_world
from seal_agent.knowledge.config import KnowledgeRunConfig
from seal_agent.knowledge.nano_world import LOOP_CONFIG
from seal_agent.model.tiny import recipe_summary
from seal_agent.run.seeding import each_seed, table_settings
from seal_agent.stats import mean_and_interval


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def known_people(model: str) -> list[nano_world.Person]:
    """The people whose questions the model was pretrained to answer (its recipe's qa people)."""
    recipe_file = Path(model) / "nano_recipe.json"
    if not recipe_file.is_file():
        raise SystemExit(f"--model {model}: no nano_recipe.json (a `seal pretrain nano --world knowledge` model is needed)")
    recipe = json.loads(recipe_file.read_text())
    people = recipe["people"]
    crowd = nano_world.people("pretraining", people["qa"] + people["text"] + people["self_edit_prompts"], recipe["data_seed"])
    return crowd[:people["qa"]]


def sequences(args, seed: int) -> tuple[list, list, set[str]]:
    """The RL passages and the evaluation sequence of a seed (new and known people, shuffled), and the known ids."""
    rng = random.Random(f"update-gate:{seed}")
    known = rng.sample(known_people(args.model), args.rl_known + args.eval_known) if args.rl_known + args.eval_known else []
    known_passages = [nano_world.passage_of(p) for p in known]
    rl = nano_world.passages("rl", args.rl_new, seed) + known_passages[:args.rl_known]
    evaluation = nano_world.passages("eval", args.eval_new, seed) + known_passages[args.rl_known:]
    rng.shuffle(rl)
    rng.shuffle(evaluation)
    if {p.title for p in rl} & {p.title for p in evaluation}:
        raise SystemExit("RL and evaluation passages share a person")
    return rl, evaluation, {p.passage_id for p in known_passages}


def config_for(args, seed: int, data: Path, extra: dict[str, Any]) -> KnowledgeRunConfig:
    layers = deep_merge(LOOP_CONFIG, read_yaml_mapping(args.config) if args.config else {})
    layers = deep_merge(layers, {"model": {"name_or_path": args.model}, "seed": seed, "data": {"path": str(data)},
                                 "policy": {"candidates_per_passage": args.candidates}, "update": {"seeds": 1},
                                 "eval": {"greedy_answers": True, "teacher": None}})
    return KnowledgeRunConfig.resolve(None, overrides=deep_merge(layers, extra))


def run(config: KnowledgeRunConfig, run_dir: Path) -> dict[str, Any]:
    resume = (run_dir / "config.yaml").exists()  # a seed cut mid-run goes on from its last step
    return run_knowledge(prepare_knowledge_run(None if resume else config, run_dir, resume=resume))


def continual_row(summary: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """What one continual run did and how it ended, on new and on known people."""
    steps = summary["steps"]
    last = steps[-1]
    order = summary["forgetting"]["passages"]
    row: dict[str, Any] = {"updates": sum(s["updated"] for s in steps),
                           "updates_known": sum(s["updated"] for s in steps if s["passage"] in known),
                           "updates_new": sum(s["updated"] for s in steps if s["passage"] not in known),
                           "update_seconds": round(sum(s["update_seconds"] for s in steps), 2)}
    for metric in ("exact_match", "loglik"):
        scores = dict(zip(order, (m[metric] for m in last["metrics"])))
        row[metric] = statistics.fmean(scores.values())
        new = [v for p, v in scores.items() if p not in known]
        old = [v for p, v in scores.items() if p in known]
        row[f"{metric}_new"] = statistics.fmean(new) if new else None
        row[f"{metric}_known"] = statistics.fmean(old) if old else None
    baseline = summary["baseline"]["per_passage"]  # whether the "known" people are known: the base model on them
    row["base_exact_match_known"] = statistics.fmean(baseline[p]["exact_match"] for p in order if p in known) if known else None
    row["base_exact_match_new"] = statistics.fmean(baseline[p]["exact_match"] for p in order if p not in known)
    return row


def run_seed(args, seed: int, work: Path) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    rl, evaluation, known = sequences(args, seed)
    nano_world.write_passages(rl, work / "rl.jsonl")
    nano_world.write_passages(evaluation, work / "eval.jsonl")
    continual = {"mode": "continual", "passages_per_round": len(evaluation)}
    rows: dict[str, Any] = {}
    start = time.perf_counter()
    say(f"seed {seed}: always update, the initial policy")
    rows["always update"] = continual_row(run(config_for(args, seed, work / "eval.jsonl", continual), work / "always"), known)
    rows["always update"]["seconds"] = round(time.perf_counter() - start, 1)
    rest_em = {}
    for cost in args.costs:
        start = time.perf_counter()
        gate = {"policy": {"no_update": True}, "reward": {"update_cost": cost}}
        say(f"seed {seed}: cost {cost:g}: ReST-EM, {args.rounds} round(s) of {len(rl)} RL passages")
        trained = run(config_for(args, seed, work / "rl.jsonl", deep_merge(gate, {
            "mode": "single", "rounds": args.rounds, "passages_per_round": len(rl)})), work / f"rest-em-{cost:g}")
        rest_em[f"{cost:g}"] = [{k: r.get(k) for k in ("round", "mean_reward", "kept", "no_update_sampled", "no_update_kept")}
                                for r in trained["rounds"]]
        policy = work / f"rest-em-{cost:g}" / "policy" / f"round_{args.rounds}"
        say(f"seed {seed}: cost {cost:g}: the continual sequence with that policy")
        summary = run(config_for(args, seed, work / "eval.jsonl", deep_merge(deep_merge(gate, continual), {
            "policy_checkpoint": str(policy)})), work / f"continual-{cost:g}")
        rows[f"cost {cost:g}"] = {**continual_row(summary, known), "seconds": round(time.perf_counter() - start, 1)}
    return {"seed": seed, "rl_passages": [p.passage_id for p in rl], "eval_passages": [p.passage_id for p in evaluation],
            "known": sorted(known), "rows": rows, "rest_em": rest_em}


KEYS = ("updates", "updates_new", "updates_known", "exact_match", "exact_match_new", "exact_match_known", "loglik",
        "loglik_new", "loglik_known", "update_seconds", "base_exact_match_new", "base_exact_match_known")


def pooled(per_seed: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    table = {}
    for name in per_seed[0]["rows"]:
        table[name] = {}
        for key in KEYS:
            values = [s["rows"][name][key] for s in per_seed]
            if None in values:  # no passage of that kind in the sequence
                table[name][key] = None
                continue
            mean, interval = mean_and_interval([float(v) for v in values])
            table[name][key] = {"mean": mean, "ci": interval}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="A `seal pretrain nano --world knowledge` model directory.")
    parser.add_argument("--seeds", default="1,2,3", type=lambda text: [int(s) for s in text.split(",")])
    parser.add_argument("--costs", default="0,0.1,0.5", type=lambda text: [float(c) for c in text.split(",")],
                        help="reward.update_cost values, in nats of log-likelihood per question (the loop's reward).")
    parser.add_argument("--rounds", type=int, default=1, help="ReST-EM rounds per cost.")
    parser.add_argument("--candidates", type=int, default=5, help="k: self-edits per RL passage.")
    parser.add_argument("--rl-new", type=int, default=16, help="RL passages about new (rl-role) people.")
    parser.add_argument("--rl-known", type=int, default=0, help="RL passages about known (pretrained) people.")
    parser.add_argument("--eval-new", type=int, default=8, help="Evaluation passages about new (eval-role) people.")
    parser.add_argument("--eval-known", type=int, default=0, help="Evaluation passages about known people.")
    parser.add_argument("--config", type=Path, help="A YAML config layered over the knowledge table's loop.")
    parser.add_argument("--work", type=Path, help="Where the runs go (default: a temporary directory); finished seeds are reused.")
    parser.add_argument("--json", type=Path, help="Write the table and everything behind it here.")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="seal-update-gate-"))
    per_seed = each_seed(args.seeds, work, lambda seed, directory: run_seed(args, seed, directory), table_settings(args))
    table = pooled(per_seed)
    size = args.eval_new + args.eval_known
    print(f"deciding when to update, nano world: {size} passages in sequence ({args.eval_known} about known people), "
          f"seeds {args.seeds}; mean over seeds [95% interval]")
    print(f"{'':16}{'updates (new/known)':>24}{'exact match':>24}{'EM known':>10}{'loglik':>24}{'update s':>10}")
    for name, row in table.items():
        def cell(key: str, digits: int = 3) -> str:
            return f"{row[key]['mean']:.{digits}f} [{row[key]['ci'][0]:.{digits}f}, {row[key]['ci'][1]:.{digits}f}]"
        updates = f"{row['updates']['mean']:.1f} ({row['updates_new']['mean']:.1f}/{row['updates_known']['mean']:.1f})"
        known_em = "-" if row["exact_match_known"] is None else f"{row['exact_match_known']['mean']:.3f}"
        print(f"{name:16}{updates:>24}{cell('exact_match'):>24}{known_em:>10}{cell('loglik'):>24}"
              f"{row['update_seconds']['mean']:>10.1f}")
    if args.json:
        args.json.write_text(json.dumps({
            "world": "nano-knowledge", "model": args.model, "seeds": args.seeds,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
            "settings": {k: v for k, v in vars(args).items() if k not in ("work", "json", "config")},
            "loop_config": LOOP_CONFIG, "config_layer": read_yaml_mapping(args.config) if args.config else None,
            "model_recipe": recipe_summary(args.model), "rows": table, "per_seed": per_seed,
        }, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
