"""Colour augmentation: a permutation of the colours 1-9, the background 0 kept."""

from __future__ import annotations

import random

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from seal_agent.tools.base import Augmentation, GridTransform, arc_tool


def colour_permutation(seed: int) -> GridTransform:
    """A bijection on colours that fixes 0, drawn from `seed`; its inverse is attached."""
    colours = list(range(1, 10))
    random.Random(seed).shuffle(colours)
    table = np.array([0] + colours)
    inverse = np.argsort(table)
    return GridTransform(f"permute_colours_{seed}", lambda g: table[g], lambda g: inverse[g])


class PermuteColoursArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = Field(ge=0, le=999, description="Which permutation: each seed gives a different one.")


@arc_tool(args_schema=PermuteColoursArgs)
def permute_colours(seed: int) -> list[Augmentation]:
    """Add a copy of the task with colours 1-9 consistently swapped (background 0 unchanged)."""
    return [colour_permutation(seed)]
