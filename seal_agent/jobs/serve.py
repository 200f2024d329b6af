"""The SEAL graphs as LangGraph's own server runs them (`langgraph.json`: `seal_arc`,
`seal_knowledge`; `langgraph dev` from `pip install "langgraph-cli[inmem]"`).

A client starts a run on a thread with a JSON runtime context, the same layers as the
command line: a preset, then a config mapping over it, and optionally the run directory:

    client.runs.stream(thread_id, "seal_arc", input={}, context={"preset": "smoke",
                       "config": {"rounds": 1}}, stream_mode="updates")

Before the first node, the request becomes the real context (model, engines, policy,
traces) through the same preparation as `seal run` (`prepare_run` / `prepare_knowledge_run`,
`build_context` / `build_knowledge_context`), once per thread; the run directory defaults
to `runs/served/<thread id>`. The server's own checkpointer holds the graph's state; the
run directory holds the traces, the policy adapters and the config, as for `seal run`.
Bad requests (an unknown preset, a config error) fail the run with the usual message.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from langgraph.config import get_config
from pydantic import BaseModel, ConfigDict, Field

from seal_agent.graphs.arc import build_arc_graph
from seal_agent.graphs.knowledge import build_knowledge_graph
from seal_agent.arc.config import RunConfig
from seal_agent.knowledge.config import KnowledgeRunConfig


class ServedRun(BaseModel):
    """The JSON runtime context a LangGraph client sends to start a SEAL run."""

    model_config = ConfigDict(extra="forbid")

    preset: str | None = Field("smoke", description="A preset of the domain (as --preset); None: the defaults.")
    config: dict[str, Any] = Field(default_factory=dict, description="Config layered over the preset (as --config).")
    run_dir: str | None = Field(None, description="The run directory; default runs/served/<thread id>.")


_contexts: dict[tuple[str, str, str], Any] = {}
_lock = threading.Lock()


def _thread_id() -> str:
    return str(get_config().get("configurable", {}).get("thread_id") or "no-thread")


def served_context(domain: str, request: ServedRun | dict | None):
    """The runtime context of this thread's run, built from `request` the first time."""
    if not isinstance(request, (ServedRun, dict, type(None))):  # already a real context (seal run)
        return request
    request = request if isinstance(request, ServedRun) else ServedRun.model_validate(request or {})
    thread = _thread_id()
    key = (domain, thread, request.model_dump_json())
    with _lock:  # Send branches run in threads: one of them builds, the others wait for it
        if key not in _contexts:
            _contexts[key] = _build(domain, request, thread)
        return _contexts[key]


def _build(domain: str, request: ServedRun, thread: str):
    run_dir = Path(request.run_dir or Path("runs") / "served" / thread)
    resume = (run_dir / "config.yaml").exists()  # the server restarted mid-run: the directory goes on
    if domain == "arc":
        from seal_agent.jobs.arc import build_context, prepare_run

        config = None if resume else RunConfig.resolve(request.preset, overrides=request.config)
        return build_context(prepare_run(config, run_dir, resume=resume))
    from seal_agent.jobs.knowledge import build_knowledge_context, prepare_knowledge_run

    config = None if resume else KnowledgeRunConfig.resolve(request.preset, overrides=request.config)
    if config is not None and config.mode != "single":
        raise ValueError(f"seal_knowledge serves mode single (ReST-EM rounds); mode {config.mode!r} runs with seal run knowledge")
    return build_knowledge_context(prepare_knowledge_run(config, run_dir, resume=resume))


def arc_initial_state(ctx) -> dict[str, Any]:
    return {"round": 0, "task_ids": list(ctx.tasks)}


def knowledge_initial_state(ctx) -> dict[str, Any]:
    from seal_agent.jobs.knowledge import plan_passages

    plan = plan_passages(list(ctx.passages), ctx.config)
    return {"round": 0, "passage_ids": list(dict.fromkeys(p for block in plan for p in block)), "round_passages": plan}


seal_arc = build_arc_graph(ServedRun, lambda request: served_context("arc", request), arc_initial_state).compile()
# The single-passage mode (ReST-EM rounds), the one `seal run knowledge` runs by default.
seal_knowledge = build_knowledge_graph(
    "single", ServedRun, lambda request: served_context("knowledge", request), knowledge_initial_state).compile()
