"""Drive a LangGraph graph to the end in a run directory, under its SQLite checkpointer.

The graph's checkpoints live in the run directory's `run.sqlite` (beside the traces), so
a run killed at any point resumes from its last completed step (`--resume`).
`summary.json` is rewritten as the run goes. Nothing here knows a domain: the callers
(`seal_agent.jobs`) pass the graph, its context and how to summarise its state.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

from seal_agent.run.directory import DB_FILE, SUMMARY_FILE, remove_leftovers, write_atomic
from seal_agent.run.lock import RunLock
from seal_agent.run.traces import open_read_only


# How many of a run's nodes may run at once (its Send branches: `drive_graph`'s
# max_concurrency), taken by every node the graphs add (`graphs/serving.add_nodes`).
#
# Why not LangGraph's own max_concurrency: it sizes the one thread pool that runs both the
# branches and the checkpointer's saving of each finished branch's writes. With one worker,
# a finished branch's writes wait behind every other branch of the step, so a run killed
# mid-step had saved none of them and did the whole step again on resume. The pool gets
# room for every branch (threads wait on this semaphore, not in the pool's queue), and the
# writes are saved as each branch finishes.
BRANCH_SLOTS: ContextVar[threading.BoundedSemaphore | None] = ContextVar("branch_slots", default=None)
POOL_ROOM = 4096  # threads are made as branches are scheduled; this only has to exceed a step's branches


def open_checkpointer(run_dir: Path) -> SqliteSaver:
    conn = sqlite3.connect(str(run_dir / DB_FILE), check_same_thread=False, timeout=30)
    return SqliteSaver(conn)


def drive_graph(
    builder,
    run_dir: Path,
    thread_id: str,
    context,
    initial_input: dict[str, Any],
    resume: bool,
    summarise: Callable[[dict[str, Any], float | None], dict[str, Any]],
    summary_nodes: tuple[str, ...],
    on_update: Callable[[str, dict[str, Any]], None] | None = None,
    interrupt_after: list[str] | None = None,
    max_concurrency: int = 1,
) -> dict[str, Any]:
    """Run (or resume) a graph to the end under the run directory's SQLite checkpointer.

    `summary.json` is rewritten (atomically) after each node in `summary_nodes` and at the
    end; `summarise(state, seconds)` makes it. `on_update(node, update)` sees every node's
    update as it happens (LangGraph "updates" streaming). `interrupt_after` stops the run
    after the named nodes, as a kill would, for tests and for stepping through a run.
    """
    checkpointer = open_checkpointer(run_dir)
    graph = builder.compile(checkpointer=checkpointer)
    # max_concurrency: how many Send branches run at once (more than 1 with several Ray actors),
    # enforced by BRANCH_SLOTS; LangGraph's pool is larger so that writes are saved as branches end.
    run_config = {"configurable": {"thread_id": thread_id}, "max_concurrency": POOL_ROOM, "recursion_limit": 10_000}
    slots = BRANCH_SLOTS.set(threading.BoundedSemaphore(max_concurrency))
    existing = graph.get_state(run_config)
    if resume and existing.values and not existing.next:
        stream = []  # finished already: nothing to run, just summarise
    else:
        stream = graph.stream(
            None if existing.values else initial_input,
            run_config,
            context=context,
            stream_mode="updates",
            interrupt_after=interrupt_after,
            durability="sync",
        )
    start = time.perf_counter()
    try:
        for chunk in stream:
            for node, update in chunk.items():
                if on_update is not None and node != "__interrupt__":
                    on_update(node, update or {})
                if node in summary_nodes:
                    state = graph.get_state(run_config).values
                    write_atomic(run_dir / SUMMARY_FILE, json.dumps(summarise(state, None), indent=2))
        state = graph.get_state(run_config).values
        summary = summarise(state, time.perf_counter() - start)
        write_atomic(run_dir / SUMMARY_FILE, json.dumps(summary, indent=2))
    finally:
        BRANCH_SLOTS.reset(slots)
        checkpointer.conn.close()
    return summary


def has_progress(run_dir: Path) -> bool:
    """Whether a run directory holds any completed step worth resuming."""
    db = run_dir / DB_FILE
    if not db.exists():
        return False
    conn = open_read_only(db)
    try:
        (count,) = conn.execute("SELECT count(*) FROM checkpoints").fetchone()
        return count > 0
    except sqlite3.Error:
        return False
    finally:
        conn.close()


@contextmanager
def exclusive_run(run_dir: Path):
    """Hold the run directory's lock for the whole run; then clear what a killed process left.

    Every file a run writes is written under a temporary name and renamed into place, so a
    kill leaves at worst such a temporary file or directory, never a half-written real one.
    With the lock held nobody else is writing: those leftovers can go (the run's own
    temporary names only, and only in a marked run directory).
    """
    with RunLock(run_dir):
        remove_leftovers(run_dir)
        yield
