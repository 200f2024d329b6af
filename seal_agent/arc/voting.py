"""Inference with augmentation voting: many views of a test input, answers voted to two attempts.

For each test input the adapted model is asked many times, each time seeing the task
differently:
    views      - invertible transforms of every grid (identity, transpose, flips,
                 rotations by 90 and 180); each view is a voting group;
    subsets    - leave-one-out subsets of the demonstrations (all of them when there is
                 only one), each in two orderings (as given, and reversed).
Every answer is parsed, mapped back through its view's inverse, and voted on
hierarchically, as in SEAL's evaluation (after MARC): within each view the
`top_per_view` most frequent answers are kept; across views an answer ranks by the number
of views that kept it, then by its total votes, then by when it first appeared. The first
`attempts` answers are submitted; a task is solved only if every test output is among its
test input's attempts (pass@2 by default).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from seal_agent.arc.data import ArcTask, leave_one_out
from seal_agent.arc.grid_text import parse_grid, task_prompt
from seal_agent.grids import MAX_GRID_SIDE, Grid, Pair
from seal_agent.tools.base import GridTransform
from seal_agent.tools.geometry import IDENTITY, flip, rotation, transposition

VIEW_TRANSFORMS: dict[str, GridTransform] = {
    "identity": IDENTITY,
    "transpose": transposition(),
    "flip_horizontal": flip("horizontal"),
    "flip_vertical": flip("vertical"),
    "rotate_90": rotation(1),
    "rotate_180": rotation(2),
}


@dataclass
class Query:
    view: str
    prompt: str


@dataclass
class VoteResult:
    attempts: list[Grid]
    table: list[dict] = field(default_factory=list)  # every candidate answer, with its views and votes


def demonstration_subsets(demonstrations: Sequence[Pair], orderings: int) -> list[list[Pair]]:
    subsets = [rest for rest, _query in leave_one_out(demonstrations)] or [list(demonstrations)]
    out = []
    for subset in subsets:
        out.append(subset)
        if orderings > 1 and len(subset) > 1:
            out.append(list(reversed(subset)))
    return out


def build_queries(
    task: ArcTask, test_input: Grid, views: Sequence[str], orderings: int, max_per_view: int, seed: int
) -> list[Query]:
    subsets = demonstration_subsets(task.train, orderings)
    if len(subsets) > max_per_view:
        subsets = random.Random(seed).sample(subsets, max_per_view)
    queries = []
    for view in views:
        transform = VIEW_TRANSFORMS[view]

        def grid(g, t=transform):
            return np.asarray(t(g)).tolist()

        for subset in subsets:
            demos = [(grid(p.input), grid(p.output)) for p in subset]
            queries.append(Query(view, task_prompt(demos, grid(test_input))))
    return queries


def _key(grid: Grid) -> str:
    return json.dumps(grid, separators=(",", ":"))


def vote(answers: Sequence[tuple[str, Grid | None]], top_per_view: int = 3, attempts: int = 2) -> VoteResult:
    """Hierarchical vote over (view, answer) pairs; None answers (unparsable) get no vote."""
    order: dict[str, int] = {}
    grids: dict[str, Grid] = {}
    per_view: dict[str, dict[str, int]] = {}
    for view, answer in answers:
        if answer is None:
            continue
        key = _key(answer)
        order.setdefault(key, len(order))
        grids[key] = answer
        counts = per_view.setdefault(view, {})
        counts[key] = counts.get(key, 0) + 1
    kept_by: dict[str, list[str]] = {}
    votes: dict[str, int] = {}
    for view, counts in per_view.items():
        ranked = sorted(counts, key=lambda k: (-counts[k], order[k]))[:top_per_view]
        for key in ranked:
            kept_by.setdefault(key, []).append(view)
            votes[key] = votes.get(key, 0) + counts[key]
    ranked = sorted(kept_by, key=lambda k: (-len(kept_by[k]), -votes[k], order[k]))
    table = [{"grid": grids[k], "views": kept_by[k], "votes": votes[k]} for k in ranked]
    return VoteResult(attempts=[grids[k] for k in ranked[:attempts]], table=table)


def answer_in_original_frame(text: str, view: str) -> Grid | None:
    """Parse a raw answer and map it back through its view's inverse; None if unusable."""
    grid = parse_grid(text)
    if grid is None:
        return None
    try:
        back = np.asarray(VIEW_TRANSFORMS[view].invert(np.asarray(grid))).tolist()
    except (ValueError, IndexError):
        return None
    if not back or len(back) > MAX_GRID_SIDE or len(back[0]) > MAX_GRID_SIDE:
        return None
    return back
