"""What lets a graph run outside `seal run`, under LangGraph's own server (`langgraph dev`).

`seal run` hands the graph its heavy runtime context (model, engines, policy, traces)
directly. LangGraph's server can only pass JSON: a request such as {"preset": "smoke"}.
A graph built with `context_from` turns that request into the real context before each
node runs (the jobs layer builds it, once per run), and starts with a `setup` node that
writes the initial state a `seal run` would have given it (`initial_state(context)`).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

from langgraph.graph import START

SETUP = "setup"


_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def one_at_a_time(context) -> threading.Lock:
    """The lock of one run's context. `seal run` runs a local run's nodes one at a time (the
    engine and the model are shared by the Send branches); a server runs branches in threads."""
    with _locks_guard:
        return _locks.setdefault(id(context), threading.Lock())


def with_context(node: Callable, context_from: Callable[[Any], Any]) -> Callable:
    """`node` run with `context_from(runtime.context)` as its runtime context, one node of a run at a time."""
    def served(payload, runtime):
        context = context_from(runtime.context)
        with one_at_a_time(context):
            return node(payload, runtime.override(context=context))

    served.__name__ = getattr(node, "__name__", "node")
    return served


def add_nodes(builder, nodes: dict[str, Callable], context_from: Callable | None, destinations: dict[str, tuple] | None = None):
    """Add `nodes`; with `context_from`, those that take a runtime get the real context through it."""
    for name, node in nodes.items():
        options = {"destinations": destinations[name]} if destinations and name in destinations else {}
        takes_runtime = "runtime" in inspect.signature(node).parameters
        builder.add_node(name, with_context(node, context_from) if context_from and takes_runtime else node, **options)


def add_start(builder, first: str, context_from: Callable | None, initial_state: Callable | None) -> None:
    """START -> first; served: START -> setup (the initial state from the context) -> first."""
    if context_from is None or initial_state is None:
        builder.add_edge(START, first)
        return

    def setup(state, runtime) -> dict[str, Any]:
        return initial_state(context_from(runtime.context))

    builder.add_node(SETUP, setup)
    builder.add_edge(START, SETUP)
    builder.add_edge(SETUP, first)
