"""What lets a graph run outside `seal run`, under LangGraph's own server (`langgraph dev`).

`seal run` hands the graph its heavy runtime context (model, engines, policy, traces)
directly. LangGraph's server can only pass JSON: a request such as {"preset": "smoke"}.
A graph built with `context_from` looks up the real context before each node runs (the
jobs layer builds it from the request, once per run, and releases it when the run ends),
and starts with a `setup` node that
writes the initial state a `seal run` would have given it (`initial_state(context)`).
"""

from __future__ import annotations

import functools
import inspect
import re
import threading
from collections.abc import Callable
from typing import Any

from langgraph.graph import START

from seal_agent.run.driver import BRANCH_SLOTS

SETUP = "setup"


# One node of any served run at a time, across all the server's runs: the runs share the
# process's torch (its global random generator, its threads), so a node that runs alone
# computes what it computes in a run alone; and a run's Send branches share its model.
SERVED_NODES = threading.Lock()


# A served thread's state can be written by its client (a run's input, `update_state`), so
# it is untrusted like a request: its one field that names a path must name a checkpoint
# the run itself wrote (`seal_agent.rl.rest_em.save_round`), inside its run directory.
OWN_CHECKPOINT = re.compile(r"policy/round_\d{1,6}")


class ServedStateError(ValueError):
    """A served thread's state holds what the graph never writes (shown to the client)."""


def check_served_state(payload) -> None:
    checkpoint = payload.get("policy_checkpoint") if isinstance(payload, dict) else None
    if checkpoint is not None and not (isinstance(checkpoint, str) and OWN_CHECKPOINT.fullmatch(checkpoint)):
        raise ServedStateError(f"state field policy_checkpoint: {str(checkpoint)[:80]!r} is not one of this run's "
                               "checkpoints (policy/round_N); a served thread's state is written by its runs")


def with_context(node: Callable, context_from: Callable[[Any], Any]) -> Callable:
    """`node` run with `context_from(runtime.context)` as its runtime context, under `SERVED_NODES`.

    The context is looked up with the lock held: a run released meanwhile (ended, cancelled)
    is never handed to a branch that was waiting for its turn."""
    def served(payload, runtime):
        check_served_state(payload)
        with SERVED_NODES:
            context = context_from(runtime.context)
            return node(payload, runtime.override(context=context))

    served.__name__ = getattr(node, "__name__", "node")
    return served


def in_a_branch_slot(node: Callable) -> Callable:
    """`node`, run once `seal run`'s driver grants it one of the run's branch slots
    (`seal_agent.run.driver.BRANCH_SLOTS`; none is set under LangGraph's server)."""
    @functools.wraps(node)  # LangGraph reads the node's signature through __wrapped__
    def run(*args, **kwargs):
        slots = BRANCH_SLOTS.get()
        if slots is None:
            return node(*args, **kwargs)
        with slots:
            return node(*args, **kwargs)

    return run


def add_nodes(builder, nodes: dict[str, Callable], context_from: Callable | None, destinations: dict[str, tuple] | None = None):
    """Add `nodes`; with `context_from`, those that take a runtime get the real context through it."""
    for name, node in nodes.items():
        options = {"destinations": destinations[name]} if destinations and name in destinations else {}
        takes_runtime = "runtime" in inspect.signature(node).parameters
        added = with_context(node, context_from) if context_from and takes_runtime else node
        builder.add_node(name, in_a_branch_slot(added), **options)


def add_start(builder, first: str, context_from: Callable | None, initial_state: Callable | None) -> None:
    """START -> first; served: START -> setup (the initial state from the context) -> first."""
    if context_from is None or initial_state is None:
        builder.add_edge(START, first)
        return

    def setup(state, runtime) -> dict[str, Any]:
        check_served_state(state)
        with SERVED_NODES:
            return initial_state(context_from(runtime.context))

    builder.add_node(SETUP, setup)
    builder.add_edge(START, SETUP)
    builder.add_edge(SETUP, first)
