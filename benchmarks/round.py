"""One SEAL round on a fixed config, timed stage by stage.

    python benchmarks/round.py --config nano                    # the nano world, default model size
    python benchmarks/round.py --config smoke                   # the smoke preset's model and tasks
    python benchmarks/round.py --config nano --against REV --json benchmarks/results_round_cpu.json
    python benchmarks/round.py --config knowledge --model models/smollm2 \
        --knowledge-config benchmarks/knowledge_table_smollm2.yaml --tasks 2 --candidates 4   # a knowledge round

The stages, in the order a round of `seal run arc` runs them:

    startup     build the run: load the model, attach the adapters, build the engine and the
                policy, compile the self-edit grammar
    sampling    the policy writes K self-edits per task, constrained by the grammar
    data        validate the self-edits, build their test-time-training data
    training    test-time training of each task's K candidates (the configured engine)
    evaluation  the adapted candidates answer the task's queries (voting, reward)
    reinforce   ReST-EM: fine-tune the policy on the rewarded self-edits

`--config knowledge` times a round of `seal run knowledge` (mode single) on `--tasks` RL people
of the nano knowledge world, with `--knowledge-config` layered over the world's loop (the
config of the knowledge table being measured): sampling the k self-edits, their update
data, the k x s updates trained together (the configured engine), scoring each updated
model on the passage's questions without the passage, and ReST-EM on the best self-edit
of each passage. The self-edits trained are the sampled ones; with `--against` both
versions sample with the same seeds.

Per stage: seconds, tokens processed and tokens per second. For sampling, the same model
also decodes the same batch to the same length with plain `generate` and no grammar, so
the grammar's cost is a ratio measured in the same process ("constrained / plain").

So that two commits do the same work in every stage after sampling, the candidates that are
trained are a fixed spread of self-edits (`FIXED_SELF_EDITS`: learning rates x epochs, with
and without the basic augmentations), not the sampled ones: what a policy samples changes
whenever the sampling code changes its use of the random stream.

`--against REV` checks REV out in a temporary git worktree, copies this script into it,
and runs both REV's code and this checkout's in subprocesses, alternating `--repeats`
times, then prints the ratio per stage (REV's median seconds / this checkout's).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from seal_agent.config import resolve_config


def first_module(*names: str):
    """The first of `names` whose file the measured code has (a name outside seal_agent: the last resort).

    `--against` runs this script with an older commit's code, where some modules had their
    earlier, flat names. The check is on files, not on whether the import succeeds: an
    editable install would otherwise supply a module missing there from this checkout.
    """
    root = Path(importlib.import_module("seal_agent").__file__).parent
    for name in names:
        if not name.startswith("seal_agent."):  # outside the package (graphs): as it comes
            return importlib.import_module(name)
        relative = Path(*name.split(".")[1:])
        if (root / relative).with_suffix(".py").exists() or (root / relative / "__init__.py").exists():
            return importlib.import_module(name)
    raise ModuleNotFoundError(f"none of {names} in {root}")


scoring = first_module("seal_agent.arc.scoring", "seal_agent.arc_scoring")
nano_world = first_module("seal_agent.arc.nano_world", "seal_agent.nano_world")
nano_pretrain = first_module("seal_agent.arc.nano_pretrain", "seal_agent.nano_pretrain")
derive_seed = first_module("seal_agent.run.seeding", "seal_agent.seeding").derive_seed
candidate_json = first_module("seal_agent.policy.candidates", "seal_agent.candidates")
arc_prompts = first_module("seal_agent.arc.prompts", "seal_agent.policy.prompts", "seal_agent.prompts")
tool_format = first_module("seal_agent.policy.tool_format", "seal_agent.policy.prompts", "seal_agent.prompts")
rest_em_update = first_module("seal_agent.rl.rest_em", "seal_agent.graphs.shared").rest_em_update
arc_job = first_module("seal_agent.jobs.arc", "seal_agent.runner")
build_context, prepare_run = arc_job.build_context, arc_job.prepare_run
RunConfig = first_module("seal_agent.arc.config", "seal_agent.config").RunConfig

ROOT = Path(__file__).resolve().parent.parent  # this checkout (the code --against compares with)

STAGES = ("startup", "sampling", "data", "training", "evaluation", "reinforce")

# The nano world's round: the arc_table settings (compact prompt, greedy answers), on the
# first TASKS RL tasks. The model is `seal pretrain nano`'s default size; without --model,
# that architecture with random weights (the timings depend on shapes, not on skill).
NANO = {
    "model": {"dtype": "float32", "device": "cpu"},
    "policy": {"candidates_per_task": 8, "temperature": 1.0, "max_new_tokens": 400, "max_optional_calls": 0,
               "prompt": "compact", "lora": {"rank": 8, "alpha": 16}, "sft_learning_rate": 3e-3, "sft_epochs": 8,
               "sft_batch_size": 4},
    "tools": {"vocabulary": "seal"},
    "ttt": {"lora": {"rank": 16, "alpha": 32}, "batch_size": 2, "max_steps": 200, "max_examples": 16,
            "max_sequence_tokens": 1024, "colour_twins": False},
    "eval": {"strategy": "greedy", "max_new_tokens": 16, "batch_size": 32, "baseline": False},
}


def fixed_self_edits(k: int) -> list[str]:
    """K self-edits as the policy would write them: lr x epochs, every other one with basic augmentations."""
    grid = [(lr, epochs) for lr in (1e-4, 1e-3, 3e-3, 1e-2) for epochs in (2, 8)]
    edits = []
    for index in range(k):
        lr, epochs = grid[index % len(grid)]
        flags = {f"use_{g}_augmentations": g == "basic" and index % 2 == 1 for g in ("basic", "size", "chain", "repeat")}
        edits.append(json.dumps([{"name": "data_generation", "arguments": flags},
                                 {"name": "train", "arguments": {"learning_rate": lr, "num_train_epochs": epochs,
                                                                 "strategy": "output_tokens"}}]))
    return edits


def round_config(name: str, model: str | None, tasks: int, candidates: int | None, work: Path):
    """The RunConfig of the benchmarked round (its tasks written under `work` for the nano world)."""
    if name == "smoke":
        overrides: dict[str, Any] = {"rounds": 1, "tools": {"vocabulary": "seal"}, "eval": {"baseline": False}}
        if model:
            overrides["model"] = {"name_or_path": model}
        if candidates:
            overrides["policy"] = {"candidates_per_task": candidates}
        return resolve_config("smoke", overrides=overrides, schema=RunConfig)
    task_dir = work / "tasks"
    task_dir.mkdir(parents=True, exist_ok=True)
    for task in nano_world.rl_tasks(1, 10)[:tasks]:
        (task_dir / f"{task.task_id}.json").write_text(json.dumps(task.to_json()))
    if model is None:
        model = str(work / "nano-model")
        if not Path(model).exists():
            build_nano_architecture(model)
    overrides = {**NANO, "rounds": 1, "model": {**NANO["model"], "name_or_path": model},
                 "data": {"source": "path", "path": str(task_dir), "tasks": []}}
    if candidates:
        overrides["policy"] = {**NANO["policy"], "candidates_per_task": candidates}
    return resolve_config(None, overrides=overrides, schema=RunConfig)


def build_nano_architecture(out: str) -> None:
    """`seal pretrain nano`'s default architecture and tokenizer, random weights, saved to `out`."""
    tiny = first_module("seal_agent.model.tiny", "seal_agent.tiny_model")
    tiny.build_tiny_model(out, seed=0, **nano_pretrain.SIZES["small"])


def token_count(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def plain_generate_seconds(policy, prompt: str, n: int, length: int, seed: int) -> float:
    """The same model, batch and length as a constrained sample, decoded with `generate` and no grammar."""
    model, tokenizer = policy.model, policy.tokenizer
    model.set_adapter(policy.adapter_name, inference_mode=True)
    device = next(model.parameters()).device
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"].to(device)
    torch.manual_seed(seed)
    start = time.perf_counter()
    with torch.no_grad():
        model.generate(input_ids=ids.expand(n, -1), attention_mask=torch.ones(n, ids.shape[1], dtype=torch.long, device=device),
                       do_sample=True, temperature=max(policy.temperature, 1e-5), max_new_tokens=length,
                       min_new_tokens=length, pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    return time.perf_counter() - start


def compile_grammar(policy, tools) -> None:
    # Commits before the sampling rework compile lazily in `_grammar`; later ones expose `compile_grammar`.
    compile_ = getattr(policy, "compile_grammar", None) or policy._grammar
    compile_(tool_format.openai_tools(tools))


def timed_reinforce(ctx, config, pairs: list[tuple[str, str]], seconds: dict, tokens: dict) -> None:
    """The round's ReST-EM step on the kept (prompt, self-edit) pairs, timed; then the traces close."""
    start = time.perf_counter()
    rest_em_update(ctx.policy_slot, ctx.engine.tokenizer, config.policy, config.seed, 1, None, pairs)
    seconds["reinforce"] = time.perf_counter() - start
    tokens["reinforce"] = sum(token_count(ctx.engine.tokenizer, p + c) for p, c in pairs) * config.policy.sft_epochs
    ctx.traces.close()


def run_knowledge_round(args) -> dict[str, Any]:
    """One knowledge round, each stage timed (`--config knowledge`)."""
    from seal_agent.config import deep_merge, read_yaml_mapping
    from seal_agent.jobs.knowledge import PreparedKnowledgeRun, build_knowledge_context
    from seal_agent.knowledge import nano_world as knowledge_world
    from seal_agent.knowledge.config import KnowledgeRunConfig
    from seal_agent.knowledge.scoring import rest_em_kept, sample_self_edits, score_self_edits

    if not args.model:
        raise SystemExit("--config knowledge needs --model (a model directory, e.g. `seal models smollm2 --out DIR`)")
    torch.set_num_threads(args.threads or torch.get_num_threads())
    work = Path(tempfile.mkdtemp(prefix="seal-round-"))
    seconds = dict.fromkeys(STAGES, 0.0)
    tokens = dict.fromkeys(STAGES, 0)
    try:
        passages = knowledge_world.passages("rl", args.tasks, 0)
        knowledge_world.write_passages(passages, work / "rl.jsonl")
        layer = read_yaml_mapping(Path(args.knowledge_config)) if args.knowledge_config else {}
        overrides = deep_merge(deep_merge(knowledge_world.LOOP_CONFIG, layer), {
            "model": {"name_or_path": args.model}, "seed": 0, "data": {"path": str(work / "rl.jsonl")}, "mode": "single",
            "passages_per_round": args.tasks, **({"policy": {"candidates_per_passage": args.candidates}} if args.candidates else {})})
        config = KnowledgeRunConfig.resolve(None, overrides=overrides)
        start = time.perf_counter()
        (work / "run").mkdir()
        ctx = build_knowledge_context(PreparedKnowledgeRun(config, work / "run", passages, resume=True))
        seconds["startup"] = time.perf_counter() - start
        tokenizer = ctx.tokenizer
        k = config.policy.candidates_per_passage
        plain_seconds, generated_positions = 0.0, 0
        rows_all, prompts = [], {}
        for passage in passages:
            base = ctx.metrics(ctx.engine.score_base(ctx.scorer(passage)), passage)
            seed = derive_seed(config.seed, 1, passage.passage_id, "propose")
            start = time.perf_counter()
            prompt, candidates = sample_self_edits(ctx.policy, ctx.tools, passage, config, k, seed)
            seconds["sampling"] += time.perf_counter() - start
            prompts[passage.passage_id] = prompt
            lengths = [token_count(tokenizer, c["completion"]) + 1 for c in candidates]  # + the end token
            tokens["sampling"] += sum(lengths)
            generated_positions += k * max(lengths)
            plain_seconds += plain_generate_seconds(ctx.policy, prompt, k, max(lengths), seed)
            start = time.perf_counter()
            rows = score_self_edits(passage, candidates, base, config=config, engine=ctx.engine, tools=ctx.tools, round_=1)
            scored = time.perf_counter() - start
            train = sum(r["timings"].get("train", 0.0) for r in rows)
            evaluation = sum(r["timings"].get("eval", 0.0) for r in rows)
            seconds["training"] += train
            seconds["evaluation"] += evaluation
            seconds["data"] += max(0.0, scored - train - evaluation)  # validation, update data, the engine's set-up
            counts = [r["data_counts"] for r in rows if r.get("data_counts")]
            tokens["data"] += sum(c["tokens"] for c in counts)
            tokens["training"] += sum(c["tokens"] for c in counts) * config.update.epochs * config.update.seeds
            tokens["evaluation"] += sum(token_count(tokenizer, a) for r in rows for a in (r.get("predictions") or []))
            rows_all += rows
        kept = rest_em_kept(rows_all, [p.passage_id for p in passages], config.policy.keep)
        pairs = [(prompts[r["task_id"]], r["completion"]) for r in kept]
        timed_reinforce(ctx, config, pairs, seconds, tokens)
        import seal_agent

        return {
            "config": "knowledge", "knowledge_config": layer, "model": args.model,
            "code": str(Path(seal_agent.__file__).resolve().parent.parent),
            "tasks": len(passages), "candidates_per_task": k, "update_epochs": config.update.epochs,
            "update_seeds": config.update.seeds,
            "seconds": {s: round(v, 3) for s, v in seconds.items()}, "tokens": tokens,
            "sampling_plain_generate_seconds": round(plain_seconds, 3),
            "sampling_generated_positions": generated_positions,
            "rewarded": len(pairs), "rewards": [round(r["reward"], 6) for r in rows_all],
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_round(args) -> dict[str, Any]:
    """One round, each stage timed; the measurement this script exists for."""
    if args.config == "knowledge":
        return run_knowledge_round(args)
    torch.set_num_threads(args.threads or torch.get_num_threads())
    work = Path(tempfile.mkdtemp(prefix="seal-round-"))
    seconds = dict.fromkeys(STAGES, 0.0)
    tokens = dict.fromkeys(STAGES, 0)
    try:
        config = round_config(args.config, args.model, args.tasks, args.candidates, work)
        start = time.perf_counter()
        ctx = build_context(prepare_run(config, work / "run", resume=False))
        compile_grammar(ctx.policy, ctx.tools)
        seconds["startup"] = time.perf_counter() - start
        tokenizer = ctx.engine.tokenizer
        k = config.policy.candidates_per_task
        plain_seconds = 0.0
        generated_positions = 0
        rows_all, pairs = [], []
        edits = fixed_self_edits(k)
        for task_id in sorted(ctx.tasks):
            task = ctx.tasks[task_id]
            messages = arc_prompts.self_edit_messages(task, ctx.tools, **arc_prompts.prompt_options(config.policy))
            seed = derive_seed(config.seed, 1, task_id, "propose")
            start = time.perf_counter()
            result = ctx.policy.generate([messages], tools=tool_format.openai_tools(ctx.tools), n=k, seed=seed)
            seconds["sampling"] += time.perf_counter() - start
            prompt = ctx.policy.render_prompt(messages)
            lengths = [token_count(tokenizer, g.message.text) + 1 for g in result.generations[0]]  # + the end token
            tokens["sampling"] += sum(lengths)
            generated_positions += k * max(lengths)
            plain_seconds += plain_generate_seconds(ctx.policy, prompt, k, max(lengths), seed)

            candidates = candidate_json.candidates_from([candidate_json.message_from_json(text) for text in edits])
            start = time.perf_counter()
            prepared = scoring.prepare_self_edits(task, candidates, config=config, tokenizer=tokenizer, tools=ctx.tools, round_=1)
            seconds["data"] += time.perf_counter() - start
            tokens["data"] += sum(len(e.input_ids) for _row, job in prepared if job for e in job.examples)
            tokens["training"] += sum(len(e.input_ids) * job.epochs for _row, job in prepared if job for e in job.examples)
            rows = scoring.train_and_reward(task, prepared, config=config, engine=ctx.engine)
            seconds["training"] += sum(r["timings"].get("train", 0.0) for r in rows)
            seconds["evaluation"] += sum(r["timings"].get("eval", 0.0) for r in rows)
            tokens["evaluation"] += sum(token_count(tokenizer, text) for r in rows for text in r.get("raw_outputs") or [])
            rows_all += rows
            pairs += [(prompt, r["completion"]) for r in rows if r["reward"] >= 1.0]
        timed_reinforce(ctx, config, pairs, seconds, tokens)
        import seal_agent

        return {
            "config": args.config,
            "code": str(Path(seal_agent.__file__).resolve().parent.parent),
            "tasks": len(ctx.tasks),
            "candidates_per_task": k,
            "seconds": {s: round(v, 3) for s, v in seconds.items()},
            "tokens": tokens,
            "sampling_plain_generate_seconds": round(plain_seconds, 3),
            "sampling_generated_positions": generated_positions,
            "rewarded": len(pairs),
            "rewards": [r["reward"] for r in rows_all],
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def per_second(tokens: int, seconds: float) -> float | None:
    return round(tokens / seconds, 1) if seconds > 0 and tokens else None


def stage_table(result: dict[str, Any], baseline: dict[str, Any] | None = None) -> str:
    total = sum(result["seconds"].values())
    head = "| stage | seconds | share | tokens | tokens/s |" + (" before (s) | speed-up |" if baseline else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for stage in (*STAGES, "total"):
        secs = total if stage == "total" else result["seconds"][stage]
        toks = sum(result["tokens"].values()) if stage == "total" else result["tokens"][stage]
        rate = per_second(toks, secs) if stage != "total" else None
        line = f"| {stage} | {secs:.2f} | {secs / total:.0%} | {toks} | {rate if rate is not None else ''} |"
        if baseline:
            before = sum(baseline["seconds"].values()) if stage == "total" else baseline["seconds"][stage]
            line += f" {before:.2f} | {before / secs:.2f}x |" if secs > 0 else f" {before:.2f} | |"
        lines.append(line)
    return "\n".join(lines)


def grammar_line(result: dict[str, Any]) -> str:
    constrained, plain = result["seconds"]["sampling"], result["sampling_plain_generate_seconds"]
    positions = result["sampling_generated_positions"]
    return (f"sampling: constrained {constrained:.2f} s, plain generate (same model, batch, length; no grammar) "
            f"{plain:.2f} s for {positions} positions: constrained runs at {plain / constrained:.0%} of plain decode throughput")


def median_result(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per stage, the median over repeats (the other fields from the first repeat)."""
    merged = dict(results[0])
    merged["seconds"] = {s: round(statistics.median(r["seconds"][s] for r in results), 3) for s in STAGES}
    merged["sampling_plain_generate_seconds"] = round(statistics.median(r["sampling_plain_generate_seconds"] for r in results), 3)
    merged["repeats"] = [r["seconds"] for r in results]
    return merged


def subprocess_round(code_root: Path, args) -> dict[str, Any]:
    """This script's round, run with the code at `code_root` in a fresh Python process."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = out.name
    command = [sys.executable, str(code_root / "benchmarks" / "round.py"), "--config", args.config, "--tasks", str(args.tasks),
               "--single", path]
    if args.model:
        command += ["--model", args.model]
    if args.candidates:
        command += ["--candidates", str(args.candidates)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.knowledge_config:
        command += ["--knowledge-config", str(Path(args.knowledge_config).resolve())]
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    subprocess.run(command, cwd=code_root, env=env, check=True)
    result = json.loads(Path(path).read_text())
    os.unlink(path)
    return result


def against(args) -> dict[str, Any]:
    worktree = Path(tempfile.mkdtemp(prefix="seal-round-against-")) / "code"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.against],
                   check=True, capture_output=True)
    try:
        (worktree / "benchmarks").mkdir(exist_ok=True)
        shutil.copy(Path(__file__), worktree / "benchmarks" / "round.py")
        revision = subprocess.run(["git", "-C", str(worktree), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        before, after = [], []
        for repeat in range(args.repeats):
            print(f"repeat {repeat + 1}/{args.repeats}: {args.against} ({revision[:10]})", file=sys.stderr, flush=True)
            before.append(subprocess_round(worktree, args))
            print(f"repeat {repeat + 1}/{args.repeats}: this checkout", file=sys.stderr, flush=True)
            after.append(subprocess_round(ROOT, args))
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], capture_output=True)
    return {"against": args.against, "against_commit": revision, "before": median_result(before), "after": median_result(after)}


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=("nano", "smoke", "knowledge"), default="nano")
    parser.add_argument("--knowledge-config", help="knowledge: a YAML layer over the knowledge world's loop "
                        "(e.g. benchmarks/knowledge_table_smollm2.yaml)")
    parser.add_argument("--model", help="a model directory (nano: `seal pretrain nano --out DIR`; default: that architecture, random weights)")
    parser.add_argument("--tasks", type=int, default=8, help="nano: how many RL tasks; knowledge: RL passages (default 8)")
    parser.add_argument("--candidates", type=int, help="self-edits per task (default: the config's)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds per code version; medians are reported")
    parser.add_argument("--against", metavar="REV", help="also run REV's code (a git commit) and print the ratio per stage")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--single", help=argparse.SUPPRESS)  # one round, its JSON to this path (the subprocess form)
    args = parser.parse_args(argv)
    if args.single:
        Path(args.single).write_text(json.dumps(run_round(args)))
        return 0
    command = "python benchmarks/" + " ".join([Path(__file__).name, *(argv if argv is not None else sys.argv[1:])])
    if args.against:
        report = against(args)
        print(f"\n{args.config} round: {report['after']['tasks']} tasks x {report['after']['candidates_per_task']} self-edits; "
              f"before = {args.against}, medians of {args.repeats}")
        print(stage_table(report["after"], report["before"]))
        print(grammar_line(report["after"]))
        print("before: " + grammar_line(report["before"]))
        if report["before"]["rewards"] != report["after"]["rewards"]:
            print("note: the rewards differ between the two versions")
    else:
        report = median_result([run_round(args) for _ in range(args.repeats)])
        print(f"\n{args.config} round: {report['tasks']} tasks x {report['candidates_per_task']} self-edits")
        print(stage_table(report))
        print(grammar_line(report))
    report.update(command=command, machine=machine())
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
