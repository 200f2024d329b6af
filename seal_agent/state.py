"""The state of the SEAL graphs, in one place, with the reducers that merge fan-in.

Everything in the state is plain JSON (dicts, lists, strings, numbers), so LangGraph's
checkpointer stores it as is and a resumed run reads back exactly what was written.
Heavy objects (the model, the engine, the trace store) live in the graph's runtime
context instead (`seal_agent.graphs.arc.ArcContext`), never in the state.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict


class ArcState(TypedDict, total=False):
    round: int                        # the round in progress, from 1
    task_ids: list[str]
    policy_checkpoint: str | None     # directory of the policy adapter to sample from; None = initial
    baseline: dict[str, Any]          # no-update (in-context) evaluation
    # Fan-in from the Send branches: each branch adds its records, the reducer concatenates.
    proposals: Annotated[list[dict[str, Any]], operator.add]
    results: Annotated[list[dict[str, Any]], operator.add]
    rounds: Annotated[list[dict[str, Any]], operator.add]
    stop_reason: str | None           # "done" when every round has run


class ProposeInput(TypedDict):
    round: int
    task_id: str
    policy_checkpoint: str | None


class Candidate(TypedDict):
    candidate: int
    completion: str
    tool_calls: list[dict[str, Any]]
    invalid_tool_calls: list[dict[str, Any]]


class ExecuteInput(TypedDict):
    """One task's candidates: the batched engine trains and evaluates them together."""

    round: int
    task_id: str
    candidates: list[Candidate]


class KnowledgeState(TypedDict, total=False):
    round: int                        # the round in progress, from 1 (modes cpt and continual: 1)
    passage_ids: list[str]            # every passage the run uses, in order of first use
    round_passages: list[list[str]]   # round r's passages at index r-1; the sequence, for cpt/continual
    policy_checkpoint: str | None
    baseline: dict[str, Any]          # passage id -> the base model's metrics
    proposals: Annotated[list[dict[str, Any]], operator.add]
    results: Annotated[list[dict[str, Any]], operator.add]
    rounds: Annotated[list[dict[str, Any]], operator.add]
    steps: Annotated[list[dict[str, Any]], operator.add]  # continual: one record per merged update
    stop_reason: str | None


class PassageInput(TypedDict):
    round: int
    passage_id: str
    policy_checkpoint: str | None
    base: dict[str, Any]              # the base model's metrics on this passage


class PassageCandidates(TypedDict):
    """One passage's k self-edits: their updates (k x s seeds) train together."""

    round: int
    passage_id: str
    base: dict[str, Any]
    prompt: str
    candidates: list[Candidate]
