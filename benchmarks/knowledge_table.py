"""The paper's Table 2 (single passage, or CPT) on passages the policy never trained on, pooled over seeds.

    seal pretrain nano --world knowledge --out models/nano-knowledge
    python benchmarks/knowledge_table.py --model models/nano-knowledge --seeds 1,2,3 \\
        --json benchmarks/results_knowledge_table_nano.json

Protocol, for each seed (docs/results/protocol.md):
  1. ReST-EM (`seal run knowledge`, mode single) runs on the RL passages only: `--rounds`
     rounds of `--rl-passages` fresh passages, `--candidates` self-edits each.
  2. Every row is scored on the evaluation passages by `seal eval knowledge`'s code
     (`seal_agent.knowledge.baselines.evaluate_baselines`): each update trains on the passage
     (and a self-edit) with `--update-seeds` seeds, then the passage's questions are asked
     without it:
        base model                 no update
        passage only               the passage alone
        implications before RL     the passage + `--candidates` self-edits of the initial policy
        teacher implications       the passage + the scripted teacher's self-edit (every fact
                                   restated person first; it stands in for the paper's GPT-4.1)
        SEAL round N               the passage + self-edits of the policy after N rounds
With `--setting cpt` every row but the base model is instead ONE update over all the
evaluation passages and that row's self-edits (the paper's continued-pretraining rows; a
LoRA update, or every weight with `--update-method full`), and ReST-EM is the same as in
the single-passage setting: `--rest-em-work` reuses the ReST-EM runs of an earlier
table's --work, after checking they ran on this model, seeds and RL passages.
`--rows-config` layers settings over the evaluation rows only (the CPT update's learning
rate, say), leaving ReST-EM as it was.

The RL and evaluation passages are people of disjoint roles of the nano world
(`seal_agent.knowledge.nano_world.role_of`); the script refuses to run if they share
a person or a passage id.

The primary metric is the log-likelihood gain of the gold answers over the base model
(nats per question), a mean over passages with a Student-t interval. Accuracy (the gold
value in the greedy answer's first line) and exact match are pooled over the (question,
self-edit, update seed) triples whose update trained, with 95% Wilson intervals (as the
ARC table counts). Beside each pooled interval is the between-seed one (each seed's mean,
then a t-interval over the seeds), and `paired_differences` compares rows passage by
passage. Rows that train on written self-edits carry `self_edit_stats`
(`seal_agent.knowledge.self_edit_stats`). Each evaluation passage's rows are saved under
WORK/seed-N/<stage>/passages/ as they are scored, finished seeds to WORK/seed-N.json; both
are reused with the same --work, and `--json` is rewritten after every seed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from seal_agent.inspect.figures import write_figure
from seal_agent.inspect.streaming import describe_update
from seal_agent.config import deep_merge, load_run_config, read_yaml_mapping
from seal_agent.jobs.knowledge import PreparedKnowledgeRun, build_knowledge_context, prepare_knowledge_run, run_knowledge
from seal_agent.knowledge import nano_world
from seal_agent.knowledge.nano_world import LOOP_CONFIG, TEACHER
from seal_agent.knowledge.baselines import BASE, PASSAGE, POLICY, evaluate_baselines
from seal_agent.knowledge.config import KnowledgeRunConfig
from seal_agent.knowledge.self_edit_stats import self_edit_statistics
from seal_agent.model.tiny import model_identity, recipe_summary
from seal_agent.policy.chat_models import load_chat_model
from seal_agent.run.directory import saved_config_is, started_with, write_atomic
from seal_agent.run.seeding import add_table_options, each_seed, table_settings
from seal_agent.stats import between_seed_interval, mean_and_interval, success_row


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def seed_config(args, seed: int, data_path: Path, extra: dict[str, Any]) -> KnowledgeRunConfig:
    """The world's loop, then --config, then what this script sets (model, seed, data, k, s): the last word."""
    if extra.get("mode") != "single":  # the evaluation rows, not ReST-EM's own runs
        rows = read_yaml_mapping(args.rows_config) if args.rows_config else {}
        if args.setting == "cpt":
            rows = deep_merge(rows, {"mode": "cpt", "update": {"method": args.update_method}})
        extra = deep_merge(rows, extra)
    layers = read_yaml_mapping(args.config) if args.config else {}
    layers = deep_merge(deep_merge(LOOP_CONFIG, layers), {
        "model": {"name_or_path": args.model}, "seed": seed, "data": {"path": str(data_path)},
        "policy": {"candidates_per_passage": args.candidates}, "update": {"seeds": args.update_seeds},
        "eval": {"greedy_answers": True, "teacher": TEACHER}})
    return KnowledgeRunConfig.resolve(None, overrides=deep_merge(layers, extra))


def check_disjoint(rl, evaluation) -> None:
    """Refuse RL and evaluation passages that share a person (title) or a passage id."""
    shared = {p.title for p in rl} & {p.title for p in evaluation} | {p.passage_id for p in rl} & {p.passage_id for p in evaluation}
    if shared:
        raise SystemExit(f"RL and evaluation passages overlap: {sorted(shared)[:5]}")


def check_same_rest_em(config: KnowledgeRunConfig, rest_em: Path) -> None:
    """--rest-em-work: the earlier run must be this seed's ReST-EM on the same model and RL passages."""
    if not (rest_em / "config.yaml").exists():
        raise SystemExit(f"--rest-em-work: {rest_em} holds no ReST-EM run")
    earlier = load_run_config(rest_em / "config.yaml", KnowledgeRunConfig)
    mine, theirs = config.model_dump(mode="json"), earlier.model_dump(mode="json")
    for settings in (mine, theirs):  # the same model directory, however it was named
        if Path(settings["model"]["name_or_path"]).is_dir():
            settings["model"]["name_or_path"] = str(Path(settings["model"]["name_or_path"]).resolve())
    for key in ("model", "seed", "rounds", "passages_per_round", "policy", "update", "reward"):
        if mine[key] != theirs[key]:
            raise SystemExit(f"--rest-em-work: {rest_em} was run with another {key}: {theirs[key]} (this table: {mine[key]})")
    if Path(earlier.data.path).read_text() != Path(config.data.path).read_text():
        raise SystemExit(f"--rest-em-work: {rest_em} trained on other RL passages")


def score(config: KnowledgeRunConfig, run_dir: Path, passages, k: int, teacher: bool) -> dict[str, Any]:
    """`seal eval knowledge`'s rows on `passages` with the policy `config.policy_checkpoint` names.

    Mode single: one passage at a time, each passage's result saved to
    run_dir/passages/ID.json as soon as it is scored and read back by a resumed seed (every
    seed of a passage's updates derives from its id, so the figures are the same either way).
    Mode cpt is one update over every passage: all or nothing.
    """
    prepared = PreparedKnowledgeRun(config, run_dir, passages, resume=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    cache = run_dir / "passages"
    todo = [p for p in passages if config.mode == "cpt" or not (cache / f"{p.passage_id}.json").exists()]
    if todo:
        ctx = build_knowledge_context(prepared)
        try:
            chat = load_chat_model(config.eval.teacher) if teacher else None
            if config.mode == "cpt":
                return evaluate_baselines(ctx, passages, self_edits=k, teacher=chat, teacher_name="teacher")
            cache.mkdir(exist_ok=True)
            for index, passage in enumerate(todo, start=1):
                started = time.perf_counter()
                result = evaluate_baselines(ctx, [passage], self_edits=k, teacher=chat, teacher_name="teacher")
                write_atomic(cache / f"{passage.passage_id}.json", json.dumps(result))
                say(f"  {run_dir.name}: passage {index}/{len(todo)} ({passage.title}) in {time.perf_counter() - started:.0f} s")
        finally:
            ctx.traces.close()
    parts = [json.loads((cache / f"{p.passage_id}.json").read_text()) for p in passages]
    merged: dict[str, Any] = {"rows": parts[0]["rows"], "per_passage": {}, "scored_updates": {}, "self_edits": {}}
    for part in parts:
        for key in ("per_passage", "scored_updates", "self_edits"):
            for name, by_passage in part[key].items():
                merged[key].setdefault(name, {}).update(by_passage)
    return merged


def rest_em_progress():
    """ReST-EM's progress on stderr (an hour or more on a CPU): `seal run --stream`'s line for
    each node update worth one, with the seconds since the last."""
    last = time.perf_counter()

    def on_update(node: str, update: dict[str, Any]) -> None:
        nonlocal last
        line = describe_update(node, update)
        if line:
            say(f"  {line} ({time.perf_counter() - last:.0f} s)")
            last = time.perf_counter()

    return on_update


def run_seed(args, seed: int, work: Path) -> dict[str, Any]:
    start = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    rl = nano_world.passages("rl", args.rounds * args.rl_passages, seed)
    evaluation = nano_world.passages("eval", args.eval_passages, seed)
    check_disjoint(rl, evaluation)
    nano_world.write_passages(rl, work / "rl.jsonl")
    nano_world.write_passages(evaluation, work / "eval.jsonl")
    seconds: dict[str, float] = {}

    say(f"seed {seed}: rows before RL on {len(evaluation)} evaluation passages")
    t = time.perf_counter()
    before = score(seed_config(args, seed, work / "eval.jsonl", {}), work / "before", evaluation, args.candidates, True)
    seconds["rows before RL"] = time.perf_counter() - t

    t = time.perf_counter()
    rl_seeds = args.rl_update_seeds or args.update_seeds
    config = seed_config(args, seed, work / "rl.jsonl", {"mode": "single", "rounds": args.rounds,
                                                          "passages_per_round": args.rl_passages,
                                                          "update": {"seeds": rl_seeds}})
    algorithm = {"rest_em": "ReST-EM", "rloo": "RLOO", "grpo": "GRPO"}[config.rl.algorithm]
    say(f"seed {seed}: {algorithm}, {args.rounds} rounds of {args.rl_passages} RL passages")
    rest_em = (args.rest_em_work / f"seed-{seed}" / "rest-em") if args.rest_em_work else work / "rest-em"
    if args.rest_em_work:  # an earlier table's finished runs
        check_same_rest_em(config, rest_em)
        resume = True
    else:  # a seed cut during ReST-EM goes on from its last step; a run there with other settings is refused
        resume = started_with(rest_em, config)
        if not resume and (rest_em / "config.yaml").exists():
            if not saved_config_is(rest_em, config):
                raise SystemExit(f"{rest_em} holds a ReST-EM run with other settings than this table's; "
                                 "give another --work (or remove that run)")
            shutil.rmtree(rest_em)  # taken with these settings but cut before its first checkpoint: start it again
    summary = run_knowledge(prepare_knowledge_run(None if resume else config, rest_em, resume=resume),
                            on_update=rest_em_progress())
    seconds["ReST-EM"] = time.perf_counter() - t

    rounds = []
    for r in summary["rounds"]:
        say(f"seed {seed}: SEAL round {r['round']} on the evaluation passages")
        t = time.perf_counter()
        checkpoint = r.get("policy_checkpoint")
        extra = {"policy_checkpoint": str(rest_em / checkpoint)} if checkpoint else {}
        scored = score(seed_config(args, seed, work / "eval.jsonl", extra), work / f"round-{r['round']}", evaluation,
                       args.candidates, False)
        seconds[f"SEAL round {r['round']}"] = time.perf_counter() - t
        rounds.append({"round": r["round"], "kept": r.get("kept"), "policy_updated": r.get("policy_updated"), "scored": scored})

    teacher_name = next(row["name"] for row in before["rows"] if row["name"] not in (BASE, PASSAGE, POLICY))
    conditions = [(BASE, before, BASE), (PASSAGE, before, PASSAGE), ("implications before RL", before, POLICY),
                  ("teacher implications", before, teacher_name)]
    conditions += [(f"SEAL round {r['round']}", r["scored"], POLICY) for r in rounds]
    base_per_passage = before["per_passage"][BASE]
    known = {p.passage_id: nano_world.known_facts(p) for p in evaluation}
    rows = []
    for name, scored, key in conditions:
        per_passage, updates = scored["per_passage"][key], scored["scored_updates"][key]
        scored_passages = [p for p in evaluation if p.passage_id in per_passage]  # every update of a passage may fail

        def count(metric: str) -> float:
            """Each passage's mean over the updates that trained, times its questions and those updates."""
            return sum(per_passage[p.passage_id][metric] * len(p.questions) * updates[p.passage_id] for p in scored_passages)

        written = scored.get("self_edits", {}).get(key)
        rows.append({
            "name": name,
            "correct": count("exact_match"),
            "contains_correct": count("contains"),
            "trials": sum(len(p.questions) * updates[p.passage_id] for p in scored_passages),
            "exact_match_per_passage": [per_passage[p.passage_id]["exact_match"] for p in scored_passages],
            "contains_per_passage": [per_passage[p.passage_id]["contains"] for p in scored_passages],
            "loglik_gain": [per_passage[p.passage_id]["loglik"] - base_per_passage[p.passage_id]["loglik"] for p in scored_passages],
            "passage_ids": [p.passage_id for p in scored_passages],
            "unscored_passages": [p.passage_id for p in evaluation if p.passage_id not in per_passage],
            # What the self-edits of this row said (rows that train on written self-edits only).
            "self_edit_stats": self_edit_statistics(
                [(lines, known[pid]) for pid, edits in written.items() for lines in edits]) if written else None,
        })
    return {
        "seed": seed, "rl_passages": [p.passage_id for p in rl], "eval_passages": [p.passage_id for p in evaluation],
        "rl_people": [p.title for p in rl], "eval_people": [p.title for p in evaluation],
        "rows": rows, "rest_em": [{k: v for k, v in r.items() if k != "scored"} for r in rounds],
        "rest_em_summary": [{**{k: r.get(k) for k in ("round", "mean_reward", "best_reward", "kept", "valid_fraction",
                                                       "policy_updated", "policy_optimizer_steps")},
                             "rl_algorithm": config.rl.algorithm} for r in summary["rounds"]],
        "seconds": {**{k: round(v, 1) for k, v in seconds.items()}, "total": round(time.perf_counter() - start, 1)},
    }


# Row pairs whose paired difference (same passages, same seed) the table reports: the done-when order.
PAIRED = [("implications before RL", "passage only"), ("teacher implications", "passage only")]


def paired_difference(per_seed: list[dict[str, Any]], first: str, second: str) -> dict[str, Any] | None:
    """first - second in log-likelihood gain, passage by passage within each seed: pooled and between seeds."""
    per_seed_differences = []
    for seed in per_seed:
        rows = {r["name"]: r for r in seed["rows"]}
        if first not in rows or second not in rows or "passage_ids" not in rows[first]:
            return None
        a = dict(zip(rows[first]["passage_ids"], rows[first]["loglik_gain"]))
        b = dict(zip(rows[second]["passage_ids"], rows[second]["loglik_gain"]))
        per_seed_differences.append([a[p] - b[p] for p in a if p in b])
    mean, interval = mean_and_interval([d for items in per_seed_differences for d in items])
    return {"rows": [first, second], "mean": mean, "ci": interval,
            "between_seeds": between_seed_interval(per_seed_differences),
            "positive_in_every_seed": all(sum(items) > 0 for items in per_seed_differences if items)}


def pool(per_seed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the same name over seeds.

    Accuracy (the gold value in the greedy answer's first line, `contains`) and exact match
    are counted over every (question, self-edit, update seed), with a Wilson interval (as the
    ARC table counts); the log-likelihood gain of the gold answers (nats per question, the
    primary metric) is a mean over passages with a t-interval. Beside each pooled interval,
    the between-seed one: each seed's mean, then a t-interval over the seeds (questions and
    passages within a seed are not independent draws)."""
    names = [r["name"] for r in per_seed[0]["rows"]]
    table = []
    for name in names:
        rows = [r for seed in per_seed for r in seed["rows"] if r["name"] == name]
        row = success_row(name, round(sum(r["correct"] for r in rows), 3), sum(r["trials"] for r in rows))
        em, em_ci = mean_and_interval([v for r in rows for v in r["exact_match_per_passage"]])
        gain, gain_ci = mean_and_interval([g for r in rows for g in r["loglik_gain"]])
        row.update({"exact_match_by_passage": em, "exact_match_by_passage_ci": em_ci, "loglik_gain": gain,
                    "loglik_gain_ci": gain_ci, "loglik_gain_between_seeds": between_seed_interval([r["loglik_gain"] for r in rows]),
                    "passages": sum(len(r["loglik_gain"]) for r in rows),
                    "unscored_passages": sum(len(r["unscored_passages"]) for r in rows)})
        if all("contains_correct" in r for r in rows):
            accuracy = success_row(name, round(sum(r["contains_correct"] for r in rows), 3), row["n"])
            row["accuracy"] = {key: accuracy[key] for key in ("success", "ci_low", "ci_high", "solved", "n")}
            row["accuracy_between_seeds"] = between_seed_interval([r["contains_per_passage"] for r in rows])
        stats = [r["self_edit_stats"] for r in rows if r.get("self_edit_stats")]
        if stats:
            row["self_edit_stats"] = pool_self_edit_stats(stats)
        table.append(row)
    return table


def weighted_mean(values: list[float], weights: list[float]) -> float:
    return sum(v * w for v, w in zip(values, weights)) / sum(weights) if sum(weights) else 0.0


def pool_self_edit_stats(stats: list[dict[str, Any]]) -> dict[str, Any]:
    """Seeds' self-edit statistics pooled: the shares of lines weighted by each seed's lines,
    the figures per self-edit (facts stated, share stating none) by its accepted self-edits;
    the first seed's examples."""
    lines = sum(s["lines"] for s in stats)
    accepted = [s["self_edits"] - s["rejected"] for s in stats]
    per_self_edit = ("facts_per_self_edit", "share_self_edits_without_a_fact")
    shared = [key for key in stats[0] if all(key in s for s in stats)]  # a seed saved by an older version may lack one
    shares = {key: weighted_mean([s[key] for s in stats], [s["lines"] for s in stats]) for key in shared
              if key.startswith("share_") and key not in per_self_edit}
    by_self_edit = {key: weighted_mean([s[key] for s in stats], accepted) for key in per_self_edit if key in shared}
    return {"self_edits": sum(s["self_edits"] for s in stats), "rejected": sum(s["rejected"] for s in stats), "lines": lines,
            "lines_per_self_edit": lines / sum(accepted) if sum(accepted) else 0.0, **shares, **by_self_edit,
            "examples": stats[0]["examples"]}


def reported_pairs(per_seed: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Every SEAL round against the policy before RL, and the best-known order's other pairs."""
    names = [r["name"] for r in per_seed[0]["rows"]]
    return [(name, "implications before RL") for name in names if name.startswith("SEAL round")] + PAIRED


def print_table(rows: list[dict[str, Any]], title: str, differences: list[dict[str, Any]] | None = None) -> None:
    print(title)
    print(f"{'':26} {'accuracy':>9}  {'95% CI':>15}  {'exact match':>11}  {'correct/trials':>15}  "
          f"{'loglik gain':>11}  {'pooled 95% CI':>17}  {'between seeds':>17}")
    for r in rows:
        low, high = r["loglik_gain_ci"]
        between = r.get("loglik_gain_between_seeds") or {}
        seeds = f"[{between['ci'][0]:.3f}, {between['ci'][1]:.3f}]" if between.get("seeds", 0) > 1 else "-"
        accuracy = r.get("accuracy") or {"success": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
        print(f"{r['name']:26} {accuracy['success']:>9.1%}  [{accuracy['ci_low']:.1%}, {accuracy['ci_high']:.1%}]  "
              f"{r['success']:>11.1%}  {r['solved']:>7.0f}/{r['n']:<7}  {r['loglik_gain']:>11.3f}  [{low:.3f}, {high:.3f}]  "
              f"{seeds:>17}")
    for d in differences or []:
        between = d["between_seeds"]
        seeds = (f"between seeds [{between['ci'][0]:.3f}, {between['ci'][1]:.3f}]" if between.get("seeds", 0) > 1
                 else "between seeds - (one seed)")
        print(f"  {d['rows'][0]} - {d['rows'][1]}: {d['mean']:+.3f} [{d['ci'][0]:.3f}, {d['ci'][1]:.3f}], "
              f"{seeds}, positive in every seed: {d['positive_in_every_seed']}")
    stats = [(r["name"], r["self_edit_stats"]) for r in rows if r.get("self_edit_stats")]
    if stats:
        print(f"{'self-edits':26} {'lines/edit':>10} {'names person':>12} {'correct fact':>12} {'wrong value':>11} {'Q-A order':>9} "
              f"{'repeated':>8} {'facts/edit':>10}")
        for name, s in stats:
            print(f"{name:26} {s['lines_per_self_edit']:>10.2f} {s['share_names_person']:>12.1%} {s['share_correct_fact']:>12.1%} "
                  f"{s['share_wrong_value']:>11.1%} {s['share_question_answer_order']:>9.1%} "
                  f"{s.get('share_repeated_lines', float('nan')):>8.1%} {s.get('facts_per_self_edit', float('nan')):>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rl-passages", type=int, default=24, help="Fresh RL passages per round.")
    parser.add_argument("--eval-passages", type=int, default=24, help="Evaluation passages (people never seen by RL or pretraining).")
    parser.add_argument("--candidates", type=int, default=5, help="k self-edits per passage, in ReST-EM and in each policy row (paper: 5).")
    parser.add_argument("--update-seeds", type=int, default=2, help="s: seeds of every update (paper: 3).")
    parser.add_argument("--rl-update-seeds", type=int,
                        help="s for ReST-EM's rewards alone (default: --update-seeds). The selection of the best of k "
                        "is where update noise does harm; the rows average over passages.")
    parser.add_argument("--setting", choices=("single", "cpt"), default="single",
                        help="single: one update per passage and self-edit. cpt: each row is one update over all the "
                        "evaluation passages (the paper's continued pretraining); ReST-EM is the same.")
    parser.add_argument("--update-method", choices=("lora", "full"), default="lora",
                        help="--setting cpt: a LoRA update, or every weight trained (the paper's v2 reports both).")
    parser.add_argument("--rows-config", type=Path,
                        help="A YAML layer over --config for the evaluation rows only, not ReST-EM (e.g. the CPT update's "
                        "learning rate).")
    parser.add_argument("--rest-em-work", type=Path,
                        help="Reuse the ReST-EM runs in an earlier table's --work (same model, seeds, rounds, RL passages).")
    add_table_options(parser, "1,2,3", "A `seal pretrain nano --world knowledge` model directory.")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="seal-knowledge-table-"))
    seeds = args.seeds
    if args.update_method == "full" and args.setting != "cpt":
        parser.error("--update-method full needs --setting cpt")
    setting = ("single passage" if args.setting == "single"
               else f"continued pretraining: one {args.update_method} update over {args.eval_passages} passages")

    def write(per_seed: list[dict[str, Any]]) -> None:
        """The table over the seeds finished so far: printed, and written to --json after every seed."""
        rows = pool(per_seed)
        differences = [d for pair in reported_pairs(per_seed) if (d := paired_difference(per_seed, *pair))]
        done = [s["seed"] for s in per_seed]
        print_table(rows, f"knowledge table ({setting}), {Path(args.model).name}, seeds {done} of {seeds}: "
                    "evaluation people disjoint from RL", differences)
        if args.json:
            write_atomic(args.json, json.dumps({
                "world": "nano-knowledge", "setting": args.setting, "model": args.model, "seeds": seeds,
                "seeds_done": done, "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                            "torch_threads": torch.get_num_threads()},
                "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("work", "json")},
                "loop_config": LOOP_CONFIG, "config_layer": read_yaml_mapping(args.config) if args.config else None,
                "rows_config_layer": read_yaml_mapping(args.rows_config) if args.rows_config else None,
                "model_recipe": recipe_summary(args.model),
                "rl_passages": {s["seed"]: s["rl_passages"] for s in per_seed},
                "eval_passages": {s["seed"]: s["eval_passages"] for s in per_seed},
                "rl_people": {s["seed"]: s.get("rl_people") for s in per_seed},
                "eval_people": {s["seed"]: s.get("eval_people") for s in per_seed},
                "people_disjoint": all(not set(s["rl_passages"]) & set(s["eval_passages"]) for s in per_seed),
                "rows": rows, "paired_differences": differences,
                "per_seed": {s["seed"]: pool([s]) for s in per_seed},  # each seed's rows, self-edit statistics included
                "rest_em": {s["seed"]: s["rest_em_summary"] for s in per_seed},
                "seconds_per_seed": {s["seed"]: s["seconds"] for s in per_seed},
            }, indent=1))
            print(f"wrote {args.json} and {write_figure(args.json).name}")

    finished: list[dict[str, Any]] = []
    for seed in seeds:  # the table as soon as each seed lands (each_seed reuses finished ones)
        finished += each_seed([seed], work, lambda seed, directory: run_seed(args, seed, directory),
                              table_settings(args, model_identity=model_identity), records=args.seed_records)
        write(finished)


if __name__ == "__main__":
    main()
