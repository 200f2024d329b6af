"""Kill `seal run arc` with SIGKILL at random moments, resume it, repeat; check nothing is lost.

    python benchmarks/crash_harness.py --kills 20 --json crash.json
    python benchmarks/crash_harness.py --kills 3 --config tests/fast.yaml   # what the test suite does

1. A reference run, uninterrupted, in its own directory: its `summary.json` and duration T.
2. The same command in a second directory, killed (SIGKILL) at a random moment within
   the time it still needs (estimated from T and the candidates already traced), then
   continued with `--resume`, killed again, ... `--kills` times, then resumed to the end. Each kill is tagged with the node the run was in (from `--stream`).
3. After every kill: every file in the run directory is whole (config.yaml and
   summary.json parse, run.sqlite passes `PRAGMA integrity_check`, every policy
   checkpoint's weights load), and the tasks whose results were already in the
   checkpoint are noted.
4. At the end: `summary.json` equals the reference (timings aside); every candidate is in
   the trace exactly once; no task whose result had been checkpointed was computed again
   (the trace's append-only `computations` log says when each task was computed).

Prints a table and writes JSON (`--json`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from seal_agent.run.directory import CONFIG_FILE, DB_FILE, SUMMARY_FILE

TIMING_KEYS = {"seconds"}


def comparable(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without wall-clock figures."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in TIMING_KEYS}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    return strip(summary)


def seal_command(run_dir: Path, preset: str, config: Path | None, resume: bool) -> list[str]:
    command = [sys.executable, "-m", "seal_agent.cli", "run", "arc", "--run-dir", str(run_dir), "--stream"]
    if resume:
        return command + ["--resume"]
    command += ["--preset", preset]
    return command + (["--config", str(config)] if config else [])


def run_to_end(command: list[str], log: Path) -> float:
    start = time.perf_counter()
    with open(log, "a") as out:
        subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=True, env=child_env())
    return time.perf_counter() - start


def child_env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


def last_node(log: Path, offset: int) -> str:
    """The node of the last streamed line written after `offset`: where the run was killed."""
    text = log.read_text(errors="replace")[offset:]
    nodes = [line.split("]")[0][1:] for line in text.splitlines() if line.startswith("[")]
    if not nodes:
        return "starting up"
    after = {"baseline": "start_round", "start_round": "propose", "propose": "propose/execute",
             "execute": "execute/reinforce", "reinforce": "reinforce/next round"}
    return f"after {nodes[-1]} (in {after.get(nodes[-1], '?')})"


def check_files(run_dir: Path) -> list[str]:
    """Problems with the run directory's files after a kill; empty when everything is whole."""
    problems = []
    for name, load in ((CONFIG_FILE, yaml.safe_load), (SUMMARY_FILE, json.loads)):
        path = run_dir / name
        if path.exists():
            try:
                load(path.read_text())
            except Exception as err:
                problems.append(f"{name}: {err}")
    db = run_dir / DB_FILE
    if db.exists():
        conn = sqlite3.connect(str(db))
        try:
            (result,) = conn.execute("PRAGMA integrity_check").fetchone()
            if result != "ok":
                problems.append(f"run.sqlite: {result}")
        finally:
            conn.close()
    from safetensors.torch import load_file

    for weights in (run_dir / "policy").glob("round_*/*/adapter_model.safetensors"):
        if ".tmp" in str(weights):
            continue
        try:
            load_file(str(weights))
        except Exception as err:
            problems.append(f"{weights.relative_to(run_dir)}: {err}")
    return problems


def checkpointed_tasks(run_dir: Path) -> set[tuple[int, str]]:
    """(round, task) whose execute results the checkpoint holds: done, never to be recomputed."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from seal_agent.graphs.arc import build_arc_graph

    if not (run_dir / DB_FILE).exists():
        return set()
    conn = sqlite3.connect(str(run_dir / DB_FILE), check_same_thread=False)
    try:
        graph = build_arc_graph().compile(checkpointer=SqliteSaver(conn))
        state = graph.get_state({"configurable": {"thread_id": "seal-arc"}})
        results = list(state.values.get("results", []))
        for task in state.tasks:  # branches of the superstep in progress whose writes were saved
            if task.name == "execute" and task.result:
                results += task.result.get("results", [])
        return {(r["round"], r["task_id"]) for r in results}
    finally:
        conn.close()


def computations(run_dir: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(str(run_dir / DB_FILE))
    try:
        rows = conn.execute("SELECT round, task_id, pid, at FROM computations ORDER BY rowid").fetchall()
    finally:
        conn.close()
    return [{"round": r, "task_id": t, "pid": p, "at": a} for r, t, p, a in rows]


def remaining_seconds(run_dir: Path, reference: dict[str, Any], reference_seconds: float) -> float:
    """How long the run still needs, by the share of candidates already in its trace.

    Killing within this keeps every attempt's kill likely to land before the run ends; a
    share of the reference time (about its start-up) is always added.
    """
    expected = sum(r["candidates"] for r in reference["rounds"])
    done = 0
    if (run_dir / DB_FILE).exists():
        conn = sqlite3.connect(str(run_dir / DB_FILE))
        try:
            done = conn.execute("SELECT count(*) FROM candidates").fetchone()[0]
        except sqlite3.Error:
            done = 0
        finally:
            conn.close()
    startup = 0.15 * reference_seconds
    return startup + (reference_seconds - startup) * max(0.0, 1 - done / expected)


def crash_and_resume(work: Path, kills: int, seed: int, preset: str = "smoke", config: Path | None = None) -> dict[str, Any]:
    rng = random.Random(seed)
    reference_dir, crashed_dir = work / "reference", work / "crashed"
    log = work / "crashed.log"
    log.write_text("")
    reference_seconds = run_to_end(seal_command(reference_dir, preset, config, resume=False), work / "reference.log")
    reference = json.loads((reference_dir / SUMMARY_FILE).read_text())

    records, problems = [], []
    resume = False
    for number in range(kills):
        offset = len(log.read_text(errors="replace"))
        with open(log, "a") as out:
            process = subprocess.Popen(seal_command(crashed_dir, preset, config, resume), stdout=out,
                                       stderr=subprocess.STDOUT, env=child_env())
        delay = rng.uniform(0.1, 0.9) * remaining_seconds(crashed_dir, reference, reference_seconds)
        try:
            process.wait(timeout=delay)
            outcome = "finished before the kill"
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            outcome = "killed"
        resume = resume or (crashed_dir / CONFIG_FILE).exists()
        broken = check_files(crashed_dir)
        problems += [f"after kill {number + 1}: {p}" for p in broken]
        records.append({
            "kill": number + 1, "after_seconds": round(delay, 2), "outcome": outcome, "pid": process.pid,
            "phase": last_node(log, offset), "checkpointed_tasks": sorted(checkpointed_tasks(crashed_dir)),
            "files_whole": not broken,
        })
        if outcome != "killed":
            break
    final_seconds = run_to_end(seal_command(crashed_dir, preset, config, resume=resume), log)
    summary = json.loads((crashed_dir / SUMMARY_FILE).read_text())
    problems += [f"at the end: {p}" for p in check_files(crashed_dir)]
    leftovers = [str(p.relative_to(crashed_dir)) for p in crashed_dir.rglob("*.tmp")]
    problems += [f"partial file left behind: {p}" for p in leftovers]

    # Every candidate exactly once.
    conn = sqlite3.connect(str(crashed_dir / DB_FILE))
    keys = conn.execute("SELECT round, task_id, candidate FROM candidates").fetchall()
    conn.close()
    expected = sum(r["candidates"] for r in reference["rounds"])
    if len(keys) != expected or len(set(keys)) != len(keys):
        problems.append(f"trace holds {len(keys)} candidates ({len(set(keys))} distinct); expected {expected}")
    # Nothing checkpointed was computed again.
    log_rows = computations(crashed_dir)
    recomputed_after_checkpoint = []
    for record in records:
        done = {tuple(t) for t in record["checkpointed_tasks"]}
        later = [c for c in log_rows if c["pid"] not in {r["pid"] for r in records[: record["kill"]]}]
        recomputed_after_checkpoint += [
            f"kill {record['kill']}: round {c['round']} task {c['task_id']}" for c in later if (c["round"], c["task_id"]) in done]
    seen: dict[tuple[int, str], int] = {}
    for c in log_rows:
        seen[(c["round"], c["task_id"])] = seen.get((c["round"], c["task_id"]), 0) + 1
    recomputed = sum(n - 1 for n in seen.values())
    problems += [f"computed again after its result was checkpointed: {r}" for r in recomputed_after_checkpoint]
    same = comparable(summary) == comparable(reference)
    if not same:
        problems.append("the final summary.json differs from the uninterrupted run's")
    return {
        "kills": sum(r["outcome"] == "killed" for r in records),
        "records": records,
        "reference_seconds": round(reference_seconds, 1),
        "final_resume_seconds": round(final_seconds, 1),
        "candidates": len(keys),
        "task_computations": len(log_rows),
        "tasks_recomputed_after_a_kill": recomputed,
        "results_lost": 0 if len(keys) == expected else expected - len(keys),
        "summary_equal": same,
        "problems": problems,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="Seeds the kill times.")
    parser.add_argument("--preset", default="smoke")
    parser.add_argument("--config", type=Path, help="A config overlay (e.g. a smaller model for a quick check).")
    parser.add_argument("--work", type=Path, help="Where the two run directories go (default: a temporary directory).")
    parser.add_argument("--json", type=Path, help="Write the results here.")
    args = parser.parse_args()
    import tempfile

    work = args.work or Path(tempfile.mkdtemp(prefix="seal-crash-"))
    work.mkdir(parents=True, exist_ok=True)
    result = crash_and_resume(work, args.kills, args.seed, args.preset, args.config)
    print(f"{'kill':>4}  {'after s':>7}  {'outcome':<26} phase")
    for r in result["records"]:
        print(f"{r['kill']:>4}  {r['after_seconds']:>7}  {r['outcome']:<26} {r['phase']}")
    print(f"kills survived: {result['kills']} · candidates {result['candidates']} · results lost {result['results_lost']} · "
          f"task computations {result['task_computations']} ({result['tasks_recomputed_after_a_kill']} redone after a kill, "
          f"none of them checkpointed) · summary equal to the uninterrupted run: {result['summary_equal']}")
    for problem in result["problems"]:
        print("PROBLEM:", problem)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    sys.exit(1 if result["problems"] else 0)


if __name__ == "__main__":
    main()
