"""The runs going on in a server hold their contexts only while they run: released when a run
ends, fails or is cancelled, at most N at once, a clear "busy" beyond (`seal_agent.jobs.serving.live_runs`)."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from seal_agent.graphs.serving import ServedStateError, check_served_state
from seal_agent.jobs.serve import open_served_run, served_run
from seal_agent.jobs.serving.live_runs import LiveRuns, ServerBusyError
from seal_agent.jobs.serving.server_config import ServerConfig
from seal_agent.knowledge.config import KnowledgeRunConfig
from seal_agent.run.directory import create_run_dir
from seal_agent.run.lock import RunLock


class Context:
    def __init__(self):
        self.closed = False


def fake_run(closed: list, fail: bool = False):
    """prepare, build, close as serve.py passes them, without a model."""
    def prepare(run_dir, resume):
        if not resume:
            create_run_dir(run_dir, KnowledgeRunConfig())
        return run_dir

    def build(prepared):
        if fail:
            raise RuntimeError("the model could not be loaded")
        (prepared / "config.yaml.tmp").write_text("half")  # what a killed write leaves
        return Context()

    return prepare, build, lambda context: closed.append(type(context).__name__)  # no reference kept


def test_a_released_run_frees_its_context_lock_and_leftovers(tmp_path):
    live, closed = LiveRuns(limit=2), []
    run_dir = tmp_path / "arc" / "t1"
    live.open(("arc", "t1"), run_dir, *fake_run(closed))
    context = weakref.ref(live.context(("arc", "t1")))
    assert live.context(("arc", "t1")) is context()  # built once
    with pytest.raises(Exception, match="another seal process"):
        RunLock(run_dir).acquire()  # the run directory is held while the run is live
    live.release(("arc", "t1"))
    gc.collect()
    assert len(closed) == 1 and context() is None and len(live) == 0
    RunLock(run_dir).acquire().release()  # and let go after
    assert not (run_dir / "config.yaml.tmp").exists() and (run_dir / "config.yaml").exists()
    with pytest.raises(RuntimeError, match="no arc run is going on"):
        live.context(("arc", "t1"))
    live.release(("arc", "t1"))  # twice is harmless


def test_beyond_the_limit_a_run_is_refused_as_busy(tmp_path):
    live, closed = LiveRuns(limit=1, wait_for_thread_s=0.2), []
    live.open(("arc", "t1"), tmp_path / "t1", *fake_run(closed))
    with pytest.raises(ServerBusyError, match="at most 1 runs at once"):
        live.open(("arc", "t2"), tmp_path / "t2", *fake_run(closed))
    with pytest.raises(ServerBusyError, match="already has a run going on"):
        live.open(("arc", "t1"), tmp_path / "t1", *fake_run(closed))
    live.release(("arc", "t1"))
    live.open(("arc", "t2"), tmp_path / "t2", *fake_run(closed))
    live.release_all()
    assert len(live) == 0


def test_a_new_run_that_cannot_start_leaves_nothing(tmp_path):
    live, closed = LiveRuns(limit=2), []
    run_dir = tmp_path / "arc" / "t1"
    live.open(("arc", "t1"), run_dir, *fake_run(closed, fail=True))
    for _ in range(2):  # each branch that asks gets the same failure; nothing is built twice
        with pytest.raises(RuntimeError, match="could not be loaded"):
            live.context(("arc", "t1"))
    assert not run_dir.exists()
    live.release(("arc", "t1"))
    assert len(live) == 0 and closed == []


def test_a_real_served_run_is_built_and_then_freed(tmp_path):
    server = ServerConfig(run_root=str(tmp_path / "root"), knowledge={"config": {"model": {"tiny": {
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1}}}})
    live = LiveRuns(limit=1)
    key = ("knowledge", "t1")
    open_served_run(*key, {"config": {"rounds": 1, "passages_per_round": 1}}, server, live)
    context = live.context(key)
    model, traces = weakref.ref(context.policy_slot.model), context.traces
    run_dir = context.run_dir
    assert run_dir == tmp_path.resolve() / "root" / "knowledge" / "t1" and (run_dir / "config.yaml").exists()
    del context
    live.release(key)
    gc.collect()
    assert model() is None  # the model went with the run
    with pytest.raises(Exception):
        traces.conn.execute("select 1")  # closed
    RunLock(run_dir).acquire().release()


def test_the_graph_factory_opens_a_run_and_releases_it_when_the_run_ends_or_fails(tmp_path):
    from langgraph_sdk.runtime import _ExecutionRuntime, _ReadRuntime

    server, live = ServerConfig(run_root=str(tmp_path / "root")), LiveRuns(limit=2)
    config = {"configurable": {"thread_id": "t1"}}

    async def one_run(context, fail=False):
        runtime = _ExecutionRuntime(access_context="threads.create_run", store=None, context=context)
        async with served_run("arc", config, runtime, server, live):
            assert len(live) == 1
            if fail:
                raise RuntimeError("a node failed")

    asyncio.run(one_run({"config": {"rounds": 1}}))
    assert len(live) == 0
    with pytest.raises(RuntimeError, match="a node failed"):
        asyncio.run(one_run({}, fail=True))
    assert len(live) == 0
    with pytest.raises(ValueError, match="config.tools.modules"):  # ValueError: LangGraph shows it to the client
        asyncio.run(one_run({"config": {"tools": {"modules": ["os"]}}}))

    async def read():  # the server reading a schema or a state opens nothing
        async with served_run("arc", config, _ReadRuntime(access_context="threads.read", store=None), server, live):
            assert len(live) == 0

    asyncio.run(read())


@pytest.mark.parametrize("checkpoint", ["/etc", "../../other/policy/round_1", "policy/round_1/../../../x", 3,
                                        "policy/round_1x"])
def test_a_path_a_client_wrote_into_the_threads_state_is_refused(checkpoint):
    with pytest.raises(ServedStateError, match="policy_checkpoint"):
        check_served_state({"round": 2, "policy_checkpoint": checkpoint})
    check_served_state({"policy_checkpoint": None})
    check_served_state({"policy_checkpoint": "policy/round_12"})
