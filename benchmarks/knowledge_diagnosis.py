"""Why SEAL's knowledge round can fail on a real model: experiments that separate the causes.

Two parts, each a section of one JSON (`--json`; a part rewrites its own section only):

    python benchmarks/knowledge_diagnosis.py rest-em --work runs/knowledge-smollm2 \\
        --json benchmarks/results_knowledge_diagnosis_smollm2.json
    python benchmarks/knowledge_diagnosis.py prompts --model models/smollm2 \\
        --config benchmarks/knowledge_table_smollm2.yaml --forms full,worked,compact \\
        --seed 1 --people 12 --candidates 4 --json benchmarks/results_knowledge_diagnosis_smollm2.json

`rest-em` reads the ReST-EM runs of a finished `knowledge_table.py --work` (every seed's
rest-em/ trace and rl.jsonl), so it looks at RL people only, never the evaluation people:
  - reward validity: each question's log-likelihood gain when the self-edit states that
    question's fact (correctly) and when it does not; the reward by number of facts stated;
  - reward noise: the spread of one self-edit's reward across update seeds against the
    spread between the self-edits of one passage (the noise part taken out);
  - sparsity: the share of self-edits stating no fact, and of passages where none of the k
    does;
  - what ReST-EM keeps (per passage the best of k if it beat the base model, the rule the
    runs used) against what it leaves: facts stated, reward, lines, placeholders copied
    from the prompt's example;
  - what the M-step did: each round's samples, from the policy that round started with.
`prompts` samples k self-edits for RL people under each prompt form (`policy.prompt_form`)
with the initial policy and reads them (`seal_agent.knowledge.self_edit_stats`): the
prompt's prior, measured before any RL. Sampling only, no update.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from seal_agent.config import deep_merge, read_yaml_mapping
from seal_agent.jobs.knowledge import PreparedKnowledgeRun, build_knowledge_context
from seal_agent.knowledge import nano_world
from seal_agent.knowledge.config import KnowledgeRunConfig
from seal_agent.knowledge.data import load_passages
from seal_agent.knowledge.nano_world import LOOP_CONFIG
from seal_agent.knowledge.scoring import sample_self_edits
from seal_agent.knowledge.prompts import COPIED_FROM_EXAMPLE
from seal_agent.knowledge.self_edit_stats import facts_stated, self_edit_statistics
from seal_agent.policy.candidates import rebuild_message
from seal_agent.policy.self_edit import Rejection, validate_knowledge_edit
from seal_agent.run.directory import write_atomic
from seal_agent.run.traces import open_read_only, select_baseline, select_candidates
from seal_agent.stats import mean_and_interval


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def candidate_records(seed_dir: Path) -> list[dict[str, Any]]:
    """One record per scored self-edit of a seed's ReST-EM run, with the facts it states."""
    passages = {p.passage_id: p for p in load_passages(seed_dir / "rl.jsonl")}
    conn = open_read_only(seed_dir / "rest-em" / "run.sqlite")
    try:
        base = {row["task_id"]: row["raw_outputs"] for row in select_baseline(conn)}
        candidates = select_candidates(conn)
    finally:
        conn.close()
    records = []
    for row in candidates:
        if row["status"] != "ok":
            continue
        passage = passages[row["task_id"]]
        known = nano_world.known_facts(passage)
        lines = [line for call in row["tool_calls"] for line in call["args"].get("statements", [])]
        stated = facts_stated(lines, known)
        attribute_of = {value: attribute for attribute, value in known.facts.items()}
        per_question = row["metrics"]["loglik_per_question"]  # per update seed, per question
        gains = [(attribute_of.get(q.answers[0]) in stated,
                  statistics.mean(seed[i] for seed in per_question) - base[row["task_id"]][i])
                 for i, q in enumerate(passage.questions)]
        records.append({
            "seed": seed_dir.name, "round": row["round"], "passage": row["task_id"], "candidate": row["candidate"],
            "reward": row["reward"], "seed_rewards": row["metrics"]["rewards"], "lines": lines, "facts": len(stated),
            "copies_example": any(COPIED_FROM_EXAMPLE.search(line) for line in lines), "question_gains": gains,
        })
    return records


def kept_flags(records: list[dict[str, Any]]) -> list[bool]:
    """ReST-EM's rule in these runs (`policy.keep: improved`): per passage the best of k, if it beat the base model."""
    best: dict[tuple, dict[str, Any]] = {}
    for r in records:
        key = (r["seed"], r["round"], r["passage"])
        if key not in best or (r["reward"], -r["candidate"]) > (best[key]["reward"], -best[key]["candidate"]):
            best[key] = r
    return [best[(r["seed"], r["round"], r["passage"])] is r and r["reward"] > 0 for r in records]


def describe(records: list[dict[str, Any]]) -> dict[str, Any]:
    if not records:
        return {"self_edits": 0}
    return {
        "self_edits": len(records),
        "reward": mean_and_interval([r["reward"] for r in records]),
        "facts_per_self_edit": statistics.mean(r["facts"] for r in records),
        "share_without_a_fact": sum(r["facts"] == 0 for r in records) / len(records),
        "lines_per_self_edit": statistics.mean(len(r["lines"]) for r in records),
        "share_copying_the_example": sum(r["copies_example"] for r in records) / len(records),
    }


def rest_em_diagnosis(work: Path) -> dict[str, Any]:
    seed_dirs = sorted(d for d in work.glob("seed-*") if (d / "rest-em" / "run.sqlite").exists())
    if not seed_dirs:
        raise SystemExit(f"{work}: no seed-N/rest-em/run.sqlite (run benchmarks/knowledge_table.py --work {work} first)")
    records = [r for d in seed_dirs for r in candidate_records(d)]
    return {"work": str(work), "seeds": [d.name for d in seed_dirs], "people": "RL people only", **diagnose(records)}


def diagnose(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of part rest-em from `candidate_records`' records."""
    stated = [g for r in records for hit, g in r["question_gains"] if hit]
    unstated = [g for r in records for hit, g in r["question_gains"] if not hit]
    # Noise: one self-edit's reward across its update seeds; signal: the self-edits of one
    # passage, each a mean over S seeds, whose variance holds noise/S on top of the true spread.
    noisy = [r for r in records if len(r["seed_rewards"]) > 1]
    within = statistics.mean(statistics.variance(r["seed_rewards"]) for r in noisy) if noisy else 0.0
    update_seeds = statistics.mean(len(r["seed_rewards"]) for r in records)
    by_passage: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        by_passage[(r["seed"], r["round"], r["passage"])].append(r["reward"])
    between = statistics.mean(statistics.variance(v) for v in by_passage.values() if len(v) > 1)
    true_between = max(between - within / update_seeds, 0.0)
    flags = kept_flags(records)
    kept = [r for r, k in zip(records, flags) if k]
    left = [r for r, k in zip(records, flags) if not k]
    rounds = sorted({r["round"] for r in records})
    return {
        "reward_validity": {
            "question_gain_when_its_fact_is_stated": mean_and_interval(stated), "questions_stated": len(stated),
            "question_gain_when_it_is_not": mean_and_interval(unstated), "questions_not_stated": len(unstated),
            "reward_by_facts_stated": {str(n): describe([r for r in records if r["facts"] == n])
                                       for n in sorted({r["facts"] for r in records})},
        },
        "reward_noise": {
            "update_seeds_per_reward": update_seeds,
            "sd_across_update_seeds": within ** 0.5,
            "sd_between_self_edits_of_a_passage": between ** 0.5,
            "sd_between_self_edits_noise_removed": true_between ** 0.5,
        },
        "sparsity": {
            "share_self_edits_without_a_fact": sum(r["facts"] == 0 for r in records) / len(records),
            "share_passages_where_no_self_edit_states_a_fact": sum(
                all(r["facts"] == 0 for r in records if (r["seed"], r["round"], r["passage"]) == key)
                for key in by_passage) / len(by_passage),
        },
        "kept_by_rest_em": describe(kept), "left_by_rest_em": describe(left),
        "kept_examples": [r["lines"] for r in kept[:5]],
        "samples_by_round": {str(n): describe([r for r in records if r["round"] == n]) for n in rounds},
    }


def prompt_probe(args) -> dict[str, Any]:
    people = nano_world.passages("rl", args.people, args.seed)  # the table's first RL round of this seed
    known = {p.passage_id: nano_world.known_facts(p) for p in people}
    results: dict[str, Any] = {}
    layers = deep_merge(LOOP_CONFIG, read_yaml_mapping(Path(args.config)) if args.config else {})
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "rl.jsonl"
        nano_world.write_passages(people, data)
        for form in args.forms:
            started = time.perf_counter()
            config = KnowledgeRunConfig.resolve(None, overrides=deep_merge(layers, {
                "model": {"name_or_path": args.model}, "seed": args.seed, "data": {"path": str(data)},
                "policy": {"prompt_form": form, "candidates_per_passage": args.candidates}}))
            (Path(tmp) / form).mkdir()
            ctx = build_knowledge_context(PreparedKnowledgeRun(config, Path(tmp) / form, people, resume=True))
            try:
                edits = []
                for index, passage in enumerate(people):
                    _prompt, sampled = sample_self_edits(ctx.policy, ctx.tools, passage, config, args.candidates,
                                                         seed=args.seed * 1000 + index)
                    for candidate in sampled:
                        edit = validate_knowledge_edit(rebuild_message(candidate), ctx.tools)
                        lines = None if isinstance(edit, Rejection) else edit.sequences
                        edits.append((lines, known[passage.passage_id]))
            finally:
                ctx.traces.close()
            stats = self_edit_statistics(edits)
            stats["seconds"] = time.perf_counter() - started
            results[form] = stats
            say(f"{form:8} facts/self-edit {stats['facts_per_self_edit']:.2f}  without a fact "
                f"{stats['share_self_edits_without_a_fact']:.0%}  copied lines {stats['share_copies_example']:.0%}  "
                f"question order {stats['share_question_answer_order']:.0%}  ({stats['seconds']:.0f} s)")
    return {"model": args.model, "config": args.config, "seed": args.seed, "people": [p.title for p in people],
            "candidates": args.candidates, "forms": results}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parts = parser.add_subparsers(dest="part", required=True)
    rest_em = parts.add_parser("rest-em", help="read the ReST-EM runs of a knowledge table's --work")
    rest_em.add_argument("--work", type=Path, required=True)
    prompts = parts.add_parser("prompts", help="sample self-edits of RL people under each prompt form")
    prompts.add_argument("--model", required=True)
    prompts.add_argument("--config", help="a knowledge config layered over the nano world's loop")
    prompts.add_argument("--forms", type=lambda s: s.split(","), default=["full", "worked", "compact"])
    prompts.add_argument("--seed", type=int, default=1)
    prompts.add_argument("--people", type=int, default=12)
    prompts.add_argument("--candidates", type=int, default=4)
    for part in (rest_em, prompts):
        part.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    section = rest_em_diagnosis(args.work) if args.part == "rest-em" else prompt_probe(args)
    document = json.loads(args.json.read_text()) if args.json.exists() else {}
    document[args.part] = {**section, "machine": platform.processor() or platform.machine(),
                           "torch_threads": torch.get_num_threads()}
    write_atomic(args.json, json.dumps(document, indent=1) + "\n")
    print(json.dumps(section, indent=1)[:4000])


if __name__ == "__main__":
    main()
