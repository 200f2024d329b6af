"""The SEAL graphs as LangGraph's own server runs them, for clients that share it
(`langgraph.json`: `seal_arc`, `seal_knowledge`; `langgraph dev` from `pip install -e ".[server]"`).

A client starts a run on a thread with a JSON context, a preset the server serves and the
fields a client may set (`seal_agent.jobs.serving.request`):

    client.runs.stream(thread_id, "seal_arc", input={}, context={"preset": "smoke",
                       "config": {"rounds": 1}}, stream_mode="updates")

`seal_arc` and `seal_knowledge` are graph factories: LangGraph's server enters one for each
run and leaves it when the run ends, fails or is cancelled. Entering checks the request
(a refusal names each field, before anything is built) and refuses a run beyond the owner's
`max_concurrent_runs`; the run's first node builds its context (model, engines, policy,
traces) through the same preparation as `seal run`, in the thread's own run directory,
RUN_ROOT/<domain>/<thread id> (`seal_agent.jobs.serving.run_dirs`); leaving releases it
(`seal_agent.jobs.serving.live_runs`). One node of any run runs at a time
(`seal_agent.graphs.serving.SERVED_NODES`), so each run's figures are those it has alone. A thread whose directory already holds a run (the
server was killed and restarted, a cancelled run is resumed with `input=None`) goes on
with the config it started with. The server owner's settings (run root, presets, the
owner's config layer: code, files, models) come from SEAL_SERVE_CONFIG
(`seal_agent.jobs.serving.server_config`); `langgraph.json` points it at `serve.yaml`.
"""

from __future__ import annotations

import asyncio
import atexit
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.config import get_config

from seal_agent.graphs.arc import build_arc_graph
from seal_agent.graphs.knowledge import build_knowledge_graph
from seal_agent.jobs.serving.live_runs import LiveRuns
from seal_agent.jobs.serving.request import (ServedArcRequest, ServedKnowledgeRequest, check_server_config, parse_request,
                                             served_config)
from seal_agent.jobs.serving.run_dirs import served_run_dir
from seal_agent.jobs.serving.server_config import ServerConfig, load_server_config

if TYPE_CHECKING:  # LangGraph's server resolves the name itself (langgraph-sdk: the server extra)
    from langgraph_sdk.runtime import ServerRuntime

SERVER = load_server_config()
check_server_config(SERVER)  # the owner's mistakes stop the server at startup, not a client's run
LIVE = LiveRuns(SERVER.max_concurrent_runs)
atexit.register(LIVE.release_all)  # on shutdown, runs still live close their traces and locks


def prepare(domain: str, config, run_dir: Path, resume: bool):
    """`seal run`'s preparation: check everything, then (a new run) take the directory."""
    if domain == "arc":
        from seal_agent.jobs.arc import prepare_run

        return prepare_run(None if resume else config, run_dir, resume=resume)
    from seal_agent.jobs.knowledge import prepare_knowledge_run

    return prepare_knowledge_run(None if resume else config, run_dir, resume=resume)


def build(domain: str, prepared):
    if domain == "arc":
        from seal_agent.jobs.arc import build_context

        return build_context(prepared)
    from seal_agent.jobs.knowledge import build_knowledge_context

    return build_knowledge_context(prepared)


def close(context) -> None:
    """What `seal run` closes at the end of a run, for either domain's context."""
    context.traces.close()
    engines = {id(e): e for e in (context.engine, getattr(context, "sequential", None)) if e is not None}
    for engine in engines.values():
        engine.shutdown()


def open_served_run(domain: str, thread_id: object, raw_context: Any, server: ServerConfig = SERVER,
                    live: LiveRuns = LIVE) -> None:
    """Check `raw_context` (a client's JSON) and open the run of `thread_id` in `live`, until released."""
    request = parse_request(domain, raw_context, server)  # ServedRequestError: nothing built, nothing written
    config = served_config(domain, request, server)
    run_dir = served_run_dir(server.run_root, domain, thread_id)
    live.open((domain, str(thread_id)), run_dir, lambda path, resume: prepare(domain, config, path, resume),
                     lambda prepared: build(domain, prepared), close)


@asynccontextmanager
async def served_run(domain: str, config: dict, runtime: ServerRuntime, server: ServerConfig = SERVER,
                     live: LiveRuns = LIVE):
    """A run's lifetime as LangGraph's server sees it: opened before its first node, released after its last."""
    execution = runtime.execution_runtime
    if execution is None:  # the server reads the graph's schema or a thread's state: nothing to run
        yield
        return
    thread_id = (config.get("configurable") or {}).get("thread_id")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, open_served_run, domain, thread_id, execution.context, server, live)
    try:
        yield
    finally:
        # Shielded: a cancelled run is released all the same (after its node in progress ends).
        await asyncio.shield(loop.run_in_executor(None, live.release, (domain, str(thread_id))))


def live_context(domain: str):
    """The context of this thread's live run, for the graph's nodes."""
    def context_from(_request):
        return LIVE.context((domain, str(get_config().get("configurable", {}).get("thread_id"))))

    return context_from


def arc_initial_state(ctx) -> dict[str, Any]:
    return {"round": 0, "task_ids": list(ctx.tasks)}


def knowledge_initial_state(ctx) -> dict[str, Any]:
    from seal_agent.jobs.knowledge import plan_passages

    plan = plan_passages(list(ctx.passages), ctx.config)
    return {"round": 0, "passage_ids": list(dict.fromkeys(p for block in plan for p in block)), "round_passages": plan}


ARC_GRAPH = build_arc_graph(ServedArcRequest, live_context("arc"), arc_initial_state).compile()
# The single-passage mode (ReST-EM rounds), the one `seal run knowledge` runs by default.
KNOWLEDGE_GRAPH = build_knowledge_graph("single", ServedKnowledgeRequest, live_context("knowledge"),
                                        knowledge_initial_state).compile()


@asynccontextmanager
async def seal_arc(config: dict, runtime: ServerRuntime):
    """The ARC loop, one run of it (LangGraph's server enters this per run)."""
    async with served_run("arc", config, runtime):
        yield ARC_GRAPH


@asynccontextmanager
async def seal_knowledge(config: dict, runtime: ServerRuntime):
    """The knowledge loop in mode single, one run of it (LangGraph's server enters this per run)."""
    async with served_run("knowledge", config, runtime):
        yield KNOWLEDGE_GRAPH
