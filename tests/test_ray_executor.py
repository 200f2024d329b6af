"""The inner loop on a local Ray cluster: same results as in-process, and a killed worker loses nothing."""

from __future__ import annotations

import os
import signal
import time

import pytest

from benchmarks.crash_harness import comparable
from seal_agent.arc.config import RunConfig
from seal_agent.jobs.arc import build_context, prepare_run, run_arc
from seal_agent.run.traces import TraceStore
from tests.conftest import fast_config

ray = pytest.importorskip("ray", reason="Ray is in the dev extra; without it the Ray executor cannot be tested")


def traced(run_dir):
    rows = TraceStore(run_dir / "run.sqlite").candidates()
    for row in rows:
        row.pop("seconds"), row.pop("timings")
    return rows


def test_ray_actors_give_the_same_run_as_in_process(tmp_path):
    local = run_arc(prepare_run(fast_config(rounds=1), tmp_path / "local", resume=False))
    on_ray = run_arc(prepare_run(fast_config(rounds=1, executor={"kind": "ray", "actors": 2}), tmp_path / "ray", resume=False))
    assert comparable(on_ray) == comparable(local)
    assert traced(tmp_path / "ray") == traced(tmp_path / "local")
    assert not ray.is_initialized()  # the Ray instance the run started is shut down with it


@pytest.mark.slow  # ~30 s: a second Ray start and a worker killed mid-task
def test_a_killed_ray_worker_is_restarted_and_its_task_retried(tmp_path):
    from seal_agent.engine.ray import RayEngine

    prepared = prepare_run(fast_config(rounds=1, executor={"kind": "ray", "actors": 1}), tmp_path / "run", resume=False)
    ctx = build_context(prepared)
    engine: RayEngine = ctx.engine
    killed = []

    def kill_during_the_first_task(jobs, prompts, max_new_tokens, batch_size):
        actor = engine.idle.get()
        try:
            pid = engine.ray.get(actor.pid.remote())  # asked first: the actor runs one call at a time
            pending = actor.train_and_generate.remote(jobs, prompts, max_new_tokens, batch_size)
            if not killed:
                time.sleep(0.3)  # the task is under way (a task here trains for about a second)
                os.kill(pid, signal.SIGKILL)  # the worker dies holding the task
                killed.append(pid)
            return engine.ray.get(pending)
        finally:
            engine.idle.put(actor)

    engine.train_and_generate = kill_during_the_first_task
    try:
        summary = run_arc(prepared, context=ctx)
        restarted = engine.actor_pids()
    finally:
        ctx.traces.close()
        engine.shutdown()
    assert killed and restarted[0] != killed[0]
    assert summary["stop_reason"] == "done" and summary["rounds"][0]["candidates"] == 6
    store = TraceStore(prepared.run_dir / "run.sqlite")
    keys = [(r["round"], r["task_id"], r["candidate"]) for r in store.candidates()]
    assert len(keys) == len(set(keys)) == 6
    computed = [(c["round"], c["task_id"]) for c in store.computations()]
    assert sorted(computed) == sorted(set(computed))  # each task recorded once: nothing counted twice
    local = run_arc(prepare_run(fast_config(rounds=1), tmp_path / "local", resume=False))
    assert comparable(summary) == comparable(local)


def test_ray_needs_the_batched_engine():
    with pytest.raises(Exception, match="ttt.engine: batched"):
        RunConfig.resolve("smoke", overrides={"executor": {"kind": "ray"}, "ttt": {"engine": "sequential"}})


@pytest.mark.slow
def test_smoke_preset_on_ray_matches_in_process(tmp_path):
    local = run_arc(prepare_run(RunConfig.resolve("smoke"), tmp_path / "local", resume=False))
    on_ray = run_arc(prepare_run(RunConfig.resolve("smoke", overrides={"executor": {"kind": "ray"}}), tmp_path / "ray", resume=False))
    assert comparable(on_ray) == comparable(local)
