"""SEAL's four ARC augmentation groups as self-edit tools.

Calling a group's tool in a self-edit switches that group on. Each tool returns the list of
`Augmentation`s it stands for; the executor applies each one to every input and output
grid of the task (so the task's rule is transformed consistently) and builds leave-one-out
training examples from the result.

The groups, as in the SEAL paper's ARC setup:
    basic  - rotations by 90/180/270, horizontal and vertical flips, transpose, the four
             mirror-concatenations (a grid beside or above its mirror image, both orders),
             and a translation (the grid moved one cell down and right, padded with 0);
    size   - upscaling by 2 on both axes, on the height only, on the width only;
    chain  - each of the six geometric transforms followed by an upscale by 2;
    repeat - tiling twice along the rows, along the columns, and both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from langchain_core.tools import tool
from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True)
class Augmentation:
    """A transform applied to every grid of a task."""

    name: str
    transform: Callable[[np.ndarray], np.ndarray]

    def __call__(self, grid: np.ndarray) -> np.ndarray:
        return self.transform(grid)


GEOMETRIC = {
    "rotate_90": lambda g: np.rot90(g, k=1),
    "rotate_180": lambda g: np.rot90(g, k=2),
    "rotate_270": lambda g: np.rot90(g, k=3),
    "flip_horizontal": np.fliplr,
    "flip_vertical": np.flipud,
    "transpose": np.transpose,
}


def upscale(grid: np.ndarray, rows: int, cols: int) -> np.ndarray:
    return np.repeat(np.repeat(grid, rows, axis=0), cols, axis=1)


def translate(grid: np.ndarray, rows: int = 1, cols: int = 1) -> np.ndarray:
    """Move the grid `rows` down and `cols` right, growing it and padding with colour 0."""
    return np.pad(grid, ((rows, 0), (cols, 0)), constant_values=0)


BASIC = [Augmentation(name, fn) for name, fn in GEOMETRIC.items()] + [
    Augmentation("mirror_right", lambda g: np.hstack([g, np.fliplr(g)])),
    Augmentation("mirror_left", lambda g: np.hstack([np.fliplr(g), g])),
    Augmentation("mirror_below", lambda g: np.vstack([g, np.flipud(g)])),
    Augmentation("mirror_above", lambda g: np.vstack([np.flipud(g), g])),
    Augmentation("translate_1_1", translate),
]
SIZE = [
    Augmentation("upscale_2x2", lambda g: upscale(g, 2, 2)),
    Augmentation("upscale_height_2", lambda g: upscale(g, 2, 1)),
    Augmentation("upscale_width_2", lambda g: upscale(g, 1, 2)),
]
CHAIN = [
    Augmentation(f"{name}+upscale_2x2", lambda g, fn=fn: upscale(fn(g), 2, 2)) for name, fn in GEOMETRIC.items()
]
REPEAT = [
    Augmentation("tile_rows_2", lambda g: np.tile(g, (2, 1))),
    Augmentation("tile_cols_2", lambda g: np.tile(g, (1, 2))),
    Augmentation("tile_both_2", lambda g: np.tile(g, (2, 2))),
]


class NoArguments(BaseModel):
    """This tool takes no arguments: calling it is the choice."""

    model_config = ConfigDict(extra="forbid")


@tool("basic_augmentations", args_schema=NoArguments)
def basic_augmentations() -> list[Augmentation]:
    """Add training data made by rotating, flipping, transposing, mirroring and translating the task's grids."""
    return list(BASIC)


@tool("size_augmentations", args_schema=NoArguments)
def size_augmentations() -> list[Augmentation]:
    """Add training data made by upscaling the task's grids by 2 (both axes, height only, width only)."""
    return list(SIZE)


@tool("chain_augmentations", args_schema=NoArguments)
def chain_augmentations() -> list[Augmentation]:
    """Add training data made by a rotation, flip or transpose followed by an upscale by 2."""
    return list(CHAIN)


@tool("repeat_augmentations", args_schema=NoArguments)
def repeat_augmentations() -> list[Augmentation]:
    """Add training data made by tiling the task's grids twice along rows, columns, or both."""
    return list(REPEAT)
