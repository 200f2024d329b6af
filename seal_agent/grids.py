"""ARC grids and demonstration pairs: the values every ARC tool takes and returns.

A grid is a list of rows of integers 0-9, at most `MAX_GRID_SIDE` rows and columns. A
`Pair` is one demonstration (an input grid and its output grid). This module sits below
both the ARC domain (`seal_agent.arc`) and the self-edit tools (`tools`), so a tool can
be written against these types without importing the domain that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

Grid = list[list[int]]

MAX_GRID_SIDE = 30


@dataclass(frozen=True)
class Pair:
    input: Grid
    output: Grid
