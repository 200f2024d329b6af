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

    python benchmarks/knowledge_diagnosis.py mstep --model models/smollm2 \
        --config benchmarks/knowledge_table_smollm2_worked.yaml --seed 1 --people 12 --candidates 4 \
        --steps 1e-4x2,1e-4x8,1e-3x2 --kept own,teacher --score own:1e-3x2 \
        --work runs/diagnosis-smollm2 --json benchmarks/results_knowledge_diagnosis_smollm2_worked.json
    python benchmarks/knowledge_diagnosis.py update --model models/smollm2 \
        --config benchmarks/knowledge_table_smollm2_worked.yaml --seed 1 --people 12 --candidates 4 \
        --settings table,all-projections,lr-3e-4 \
        --work runs/diagnosis-smollm2 --json benchmarks/results_knowledge_diagnosis_smollm2_worked.json

`mstep` asks whether the ReST-EM update is strong enough to move the policy. It takes the
seed's first-round RL people as the M-step's people and its second-round RL people as
fresh probe people (the evaluation people are never used). The M-step's data is the best
possible selection of the E-step: per person, of k sampled self-edits, the one stating the
most facts of the passage (`own`), or the scripted teacher's restatements (`teacher`).
Each M-step setting (learning rate x epochs) fine-tunes the initial policy on that data;
the policy's samples on the probe people are then read (facts per self-edit, lines in
question order, ...), and the arms named by --score, with the initial policy, have their
samples' updates scored (gain per self-edit over the base model, nats per question).
`update` asks whether the inner update's settings decide what a self-edit can earn: on
the probe people, the initial policy's k self-edits, the passage alone and the teacher's
restatements are each trained and scored under each update setting (the same self-edits
in every setting, so the settings pair).
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from seal_agent.config import deep_merge, read_yaml_mapping
from seal_agent.jobs.knowledge import PreparedKnowledgeRun, build_knowledge_context
from seal_agent.knowledge import nano_world
from seal_agent.knowledge.config import KnowledgeRunConfig
from seal_agent.knowledge.data import load_passages
from seal_agent.knowledge.nano_world import LOOP_CONFIG
from seal_agent.engine.sequential import TrainJob, split_on_out_of_memory
from seal_agent.knowledge.scoring import sample_self_edits
from seal_agent.knowledge.update import self_edit_examples
from seal_agent.rl.sft import fine_tune_policy, load_policy, policy_state, save_policy
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


# Inner-update settings of part `update`, layered over the config's `update` section.
ALL_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
UPDATE_SETTINGS: dict[str, dict[str, Any]] = {
    "table": {},
    "all-projections": {"update": {"lora": {"target_modules": ALL_PROJECTIONS}}},
    "lr-3e-4": {"update": {"learning_rate": 3.0e-4}},
    "lr-3e-3": {"update": {"learning_rate": 3.0e-3}},
    "3-epochs": {"update": {"epochs": 3}},
}


def parse_step(text: str) -> tuple[float, int]:
    """'1e-4x2' -> (learning rate 1e-4, 2 epochs): one M-step setting."""
    rate, _, epochs = text.partition("x")
    if not epochs.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: an M-step setting is LEARNING_RATExEPOCHS, e.g. 1e-4x2")
    return float(rate), int(epochs)


def probe_people(seed: int, people: int) -> tuple[list, list]:
    """The seed's first-round RL people (the M-step's) and its second-round ones (fresh probes), as the table draws them."""
    drawn = nano_world.passages("rl", 2 * people, seed)
    return drawn[:people], drawn[people:]


def diagnosis_config(args, data: Path, layer: dict[str, Any] | None = None) -> KnowledgeRunConfig:
    layers = deep_merge(LOOP_CONFIG, read_yaml_mapping(Path(args.config)) if args.config else {})
    return KnowledgeRunConfig.resolve(None, overrides=deep_merge(deep_merge(layers, layer or {}), {
        "model": {"name_or_path": args.model, **({"dtype": args.dtype} if args.dtype else {})}, "seed": args.seed,
        "data": {"path": str(data)}, "policy": {"candidates_per_passage": args.candidates}, "update": {"seeds": 1}}))


def sampled_lines(ctx, config, passages, k: int, seed: int, cache: Path | None = None) -> tuple[list, list]:
    """k self-edits per passage from the in-memory policy: each one's lines (None: rejected),
    and per passage (the rendered prompt, each self-edit's completion text). With `cache`,
    written once and read back by a re-run (a cut run resumes without resampling)."""
    def sample() -> dict[str, list]:
        lines, texts = [], []
        for index, passage in enumerate(passages):
            prompt, sampled = sample_self_edits(ctx.policy, ctx.tools, passage, config, k, seed=seed * 1000 + index)
            edits = [validate_knowledge_edit(rebuild_message(c), ctx.tools) for c in sampled]
            lines.append([None if isinstance(e, Rejection) else e.sequences for e in edits])
            texts.append((prompt, [c["completion"] for c in sampled]))
        return {"lines": lines, "texts": texts}

    saved = cached(cache, sample) if cache is not None else sample()
    return saved["lines"], [tuple(x) for x in saved["texts"]]


def update_gains(ctx, passage, edits: list[list[str] | None], seed: int) -> tuple[list[float], list[float]]:
    """Each self-edit's update (its lines and the passage; a rejected one, the passage alone)
    trained and scored: its log-likelihood gain over the base model (nats per question), and
    its accuracy (the gold value in the answer's first line)."""
    config = ctx.config
    base = ctx.metrics(ctx.engine.score_base(ctx.scorer(passage)), passage)
    jobs = [TrainJob(self_edit_examples(ctx.tokenizer, passage, [lines or []], config.update), config.update.learning_rate,
                     config.update.epochs, seed * 1000 + index) for index, lines in enumerate(edits)]
    outcomes = split_on_out_of_memory(ctx.engine, jobs, lambda some: ctx.engine.train_and_score(some, ctx.scorer(passage)))
    scored = [ctx.metrics(o.evaluation, passage) if o.failure is None else None for o in outcomes]
    return ([m["loglik"] - base["loglik"] if m else float("nan") for m in scored],
            [m["contains"] if m else float("nan") for m in scored])


def cached(path: Path, compute: Callable[[], Any]) -> Any:
    """`compute()`'s JSON result, written to `path` once and read back by a re-run (a cut run resumes)."""
    if path.exists():
        return json.loads(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    value = compute()
    write_atomic(path, json.dumps(value))
    return value


def gain_summary(per_passage: list[list[float]]) -> dict[str, Any]:
    """Gains of self-edits grouped by passage: the mean over passages of each passage's mean,
    and the spread between the self-edits of one passage (what ReST-EM selects on)."""
    means = [statistics.mean(g) for g in per_passage if g]
    spread = [statistics.stdev(g) for g in per_passage if len(g) > 1]
    return {"gain": mean_and_interval(means), "passages": len(means),
            "sd_between_self_edits_of_a_passage": statistics.mean(spread) if spread else None}


def mstep_probe(args) -> dict[str, Any]:
    train_people, probes = probe_people(args.seed, args.people)
    known = {p.passage_id: nano_world.known_facts(p) for p in train_people + probes}
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / "rl.jsonl"
    nano_world.write_passages(train_people + probes, data)
    config = diagnosis_config(args, data)
    run_dir = args.work / "mstep"
    (run_dir / "samples").mkdir(parents=True, exist_ok=True)
    ctx = build_knowledge_context(PreparedKnowledgeRun(config, run_dir, train_people + probes, resume=True))
    initial = policy_state(ctx.policy_slot.model)
    tokenizer = ctx.tokenizer
    arms: dict[str, Any] = {}
    try:
        def read_probes(name: str) -> dict[str, Any]:
            started = time.perf_counter()
            edits, _ = sampled_lines(ctx, config, probes, args.candidates, args.seed + 500,
                                     cache=run_dir / "samples" / f"{name.replace(':', '-')}.json")
            stats = self_edit_statistics([(lines, known[p.passage_id]) for p, some in zip(probes, edits) for lines in some])
            stats.pop("examples", None)
            say(f"{name:24} facts/self-edit {stats['facts_per_self_edit']:.2f}  without a fact "
                f"{stats['share_self_edits_without_a_fact']:.0%}  copied {stats['share_copies_example']:.0%}  "
                f"question order {stats['share_question_answer_order']:.0%}  ({time.perf_counter() - started:.0f} s)")
            return {"probe_self_edits": stats, "edits": edits}

        arms["initial"] = read_probes("initial")
        # The M-step's data: the best selection the E-step could make, as ReST-EM's pairs
        # (the rendered prompt, the completion text the policy wrote).
        sampled, texts = sampled_lines(ctx, config, train_people, args.candidates, args.seed,
                                       cache=run_dir / "samples" / "mstep-people.json")
        own, own_lines = [], []
        for passage, edits, (prompt, completions) in zip(train_people, sampled, texts):
            facts = [len(facts_stated(lines, known[passage.passage_id])) if lines else 0 for lines in edits]
            best = max(range(len(edits)), key=lambda i: (facts[i], -i))
            if facts[best] > 0:
                own_lines.append((edits[best], known[passage.passage_id]))
                own.append((prompt, completions[best]))
        teacher = [(prompt, json.dumps(nano_world.ideal_self_edit(p.context))) for p, (prompt, _) in zip(train_people, texts)]
        kept = {"own": own, "teacher": teacher}
        kept_stats = {"own": self_edit_statistics(own_lines),
                      "teacher": self_edit_statistics([(s, known[p.passage_id]) for p, s in zip(
                          train_people, [nano_world.ideal_self_edit(p.context)[0]["arguments"]["statements"] for p in train_people])])}
        for source in args.kept:
            for rate, epochs in args.steps:
                name = f"{source}:{rate:g}x{epochs}"
                done = run_dir / "arms" / f"{name.replace(':', '-')}.json"
                if done.exists():  # a cut run: this arm's M-step and samples are on disk
                    arms[name] = {**json.loads(done.read_text()), **read_probes(name)}
                    continue
                started = time.perf_counter()
                load_policy(ctx.policy_slot.model, None, initial)
                result = fine_tune_policy(ctx.policy_slot.model, tokenizer, kept[source], learning_rate=rate, epochs=epochs,
                                          batch_size=config.policy.sft_batch_size, seed=args.seed)
                ctx.policy_slot.loaded = "<diagnosis arm>"
                save_policy(ctx.policy_slot.model, run_dir / "arms" / name.replace(":", "-"))
                say(f"{name}: M-step of {result.steps} steps in {time.perf_counter() - started:.0f} s")
                arms[name] = {"kept": source, "learning_rate": rate, "epochs": epochs, "steps": result.steps,
                              "sft_loss_first_last": [result.losses[0], result.losses[-1]] if result.losses else None,
                              "mstep_seconds": round(time.perf_counter() - started, 1)}
                arms[name].update(read_probes(name))
                write_atomic(done, json.dumps({k: v for k, v in arms[name].items() if k not in ("edits", "probe_self_edits")}))
        load_policy(ctx.policy_slot.model, None, initial)
        for name in ["initial", *args.score]:
            if name not in arms:
                raise SystemExit(f"--score {name}: no such arm; the arms are {', '.join(arms)}")
            started = time.perf_counter()
            gains, accuracy = [], []
            for index, (passage, edits) in enumerate(zip(probes, arms[name]["edits"])):
                g, a = cached(run_dir / "scored" / name.replace(":", "-") / f"{passage.passage_id}.json",
                              lambda: update_gains(ctx, passage, edits, args.seed + index))
                gains.append(g)
                accuracy.append(a)
            arms[name]["scored"] = {**gain_summary(gains), "gains": gains,
                                    "accuracy": statistics.mean(x for a in accuracy for x in a),
                                    "seconds": round(time.perf_counter() - started, 1)}
            say(f"{name:24} gain {arms[name]['scored']['gain'][0]:+.2f} nats  ({time.perf_counter() - started:.0f} s)")
        for name in args.score:
            paired = [statistics.mean(a) - statistics.mean(b) for a, b in zip(arms[name]["scored"]["gains"],
                                                                              arms["initial"]["scored"]["gains"])]
            arms[name]["scored"]["minus_initial_paired"] = mean_and_interval(paired)
    finally:
        ctx.traces.close()
    for arm in arms.values():
        arm.pop("edits", None)
    return {"model": args.model, "config": args.config, "dtype": config.model.dtype, "seed": args.seed,
            "candidates": args.candidates, "mstep_people": [p.title for p in train_people], "probe_people": [p.title for p in probes],
            "policy_sft_batch_size": config.policy.sft_batch_size,
            "table_mstep": {"learning_rate": config.policy.sft_learning_rate, "epochs": config.policy.sft_epochs},
            "kept": {source: {"pairs": len(kept[source]), "self_edits": kept_stats[source]} for source in kept},
            "arms": arms}


def update_probe(args) -> dict[str, Any]:
    _train_people, probes = probe_people(args.seed, args.people)
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / "probe.jsonl"
    nano_world.write_passages(probes, data)
    settings: dict[str, Any] = {}
    edits = None
    for name in args.settings:
        if name not in UPDATE_SETTINGS:
            raise SystemExit(f"--settings {name}: unknown; choose from {', '.join(UPDATE_SETTINGS)}")
        config = diagnosis_config(args, data, UPDATE_SETTINGS[name])
        run_dir = args.work / "update" / name
        run_dir.mkdir(parents=True, exist_ok=True)
        ctx = build_knowledge_context(PreparedKnowledgeRun(config, run_dir, probes, resume=True))
        started = time.perf_counter()
        try:
            if edits is None:  # the initial policy's self-edits, the same in every setting
                edits, _ = sampled_lines(ctx, config, probes, args.candidates, args.seed + 500,
                                         cache=args.work / "update" / "samples-initial.json")
            rows: dict[str, list[list[float]]] = {"passage only": [], "implications before RL": [], "teacher": []}
            accuracy: dict[str, list[float]] = {k: [] for k in rows}
            for index, (passage, own) in enumerate(zip(probes, edits)):
                teacher = nano_world.ideal_self_edit(passage.context)[0]["arguments"]["statements"]
                g, a = cached(run_dir / "scored" / f"{passage.passage_id}.json",
                              lambda: update_gains(ctx, passage, [[], *own, teacher], args.seed + index))
                for row, cut in (("passage only", slice(0, 1)), ("implications before RL", slice(1, -1)), ("teacher", slice(-1, None))):
                    rows[row].append(g[cut])
                    accuracy[row].extend(a[cut])
        finally:
            ctx.traces.close()
        summary = {row: {**gain_summary(g), "accuracy": statistics.mean(accuracy[row]), "gains": g} for row, g in rows.items()}
        paired = {f"{a} - {b}": mean_and_interval([statistics.mean(x) - statistics.mean(y) for x, y in zip(rows[a], rows[b])])
                  for a, b in (("implications before RL", "passage only"), ("teacher", "implications before RL"))}
        settings[name] = {"layer": UPDATE_SETTINGS[name], "rows": summary, "paired": paired,
                          "seconds": round(time.perf_counter() - started, 1)}
        say(f"{name:16} " + "  ".join(f"{row} {s['gain'][0]:+.2f}" for row, s in summary.items())
            + f"  spread {summary['implications before RL']['sd_between_self_edits_of_a_passage']:.2f}"
            + f"  ({time.perf_counter() - started:.0f} s)")
    return {"model": args.model, "config": args.config, "dtype": args.dtype, "seed": args.seed, "candidates": args.candidates,
            "probe_people": [p.title for p in probes], "settings": settings}


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
    mstep = parts.add_parser("mstep", help="is the M-step strong enough to move the policy? (RL people only)")
    mstep.add_argument("--steps", type=lambda s: [parse_step(x) for x in s.split(",")], default=[(1e-4, 2)],
                       help="M-step settings LRxEPOCHS, comma-separated (the table's: 1e-4x2)")
    mstep.add_argument("--kept", type=lambda s: s.split(","), default=["own", "teacher"],
                       help="the M-step's data: own (the best of k by facts stated), teacher (scripted restatements)")
    mstep.add_argument("--score", type=lambda s: s.split(",") if s else [], default=[],
                       help="arms (e.g. own:0.001x2) whose probe self-edits are also trained and scored, beside the initial policy")
    update = parts.add_parser("update", help="do the inner update's settings decide what a self-edit earns? (RL people only)")
    update.add_argument("--settings", type=lambda s: s.split(","), default=["table", "all-projections", "lr-3e-4"],
                        help=f"inner-update settings, from: {', '.join(UPDATE_SETTINGS)}")
    for part in (mstep, update):
        part.add_argument("--model", required=True)
        part.add_argument("--config", help="a knowledge config layered over the nano world's loop")
        part.add_argument("--seed", type=int, default=1)
        part.add_argument("--people", type=int, default=12, help="people in each of the two RL rounds drawn")
        part.add_argument("--candidates", type=int, default=4)
        part.add_argument("--work", type=Path, required=True, help="where the data and the M-step's policies go")
        part.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                          help="the model's dtype over the config's (bfloat16 is slow on a CPU without native bf16 matmuls)")
    for part in (rest_em, prompts, mstep, update):
        part.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    run = {"rest-em": lambda: rest_em_diagnosis(args.work), "prompts": lambda: prompt_probe(args),
           "mstep": lambda: mstep_probe(args), "update": lambda: update_probe(args)}
    section = run[args.part]()
    document = json.loads(args.json.read_text()) if args.json.exists() else {}
    earlier = document.get(args.part, {})
    if args.part == "update" and earlier.get("probe_people") == section["probe_people"]:
        # Settings run one command at a time add up, when they are on the same people.
        section["settings"] = {**earlier.get("settings", {}), **section["settings"]}
    document[args.part] = {**section, "machine": platform.processor() or platform.machine(),
                           "torch_threads": torch.get_num_threads()}
    write_atomic(args.json, json.dumps(document, indent=1) + "\n")
    print(json.dumps(section, indent=1)[:4000])


if __name__ == "__main__":
    main()
