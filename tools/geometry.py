"""Geometric augmentation tools: symmetries, mirrors, translation, upscaling, tiling, chains.

Every transform here is invertible, and its inverse is attached (`GridTransform.inverse`):
voting at inference maps predictions back through it. Each tool adds one augmented copy
of the task per call; the policy may call a tool several times with different arguments.

The 8 symmetries of the square are the identity, rotations by 90/180/270 (counter-
clockwise, numpy's `rot90`), horizontal and vertical flips, the transpose (main diagonal)
and the anti-transpose (anti-diagonal).
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from seal_agent.tools.base import Augmentation, GridTransform, arc_tool

Axis = Literal["both", "height", "width"]


# -- transforms (plain functions; also used by the SEAL groups and by voting) -----------------


def rotation(quarter_turns: int) -> GridTransform:
    k = quarter_turns % 4
    return GridTransform(f"rotate_{90 * k}", lambda g: np.rot90(g, k), lambda g: np.rot90(g, -k))


def flip(axis: str) -> GridTransform:
    if axis == "horizontal":  # left <-> right
        return GridTransform("flip_horizontal", np.fliplr, np.fliplr)
    if axis == "vertical":  # top <-> bottom
        return GridTransform("flip_vertical", np.flipud, np.flipud)
    raise ValueError(f"axis must be horizontal or vertical, not {axis!r}")


def transposition() -> GridTransform:
    return GridTransform("transpose", np.transpose, np.transpose)


def anti_transposition() -> GridTransform:
    anti = lambda g: np.rot90(np.transpose(g), 2)  # noqa: E731  (its own inverse)
    return GridTransform("anti_transpose", anti, anti)


IDENTITY = GridTransform("identity", lambda g: g, lambda g: g)


def symmetries() -> list[GridTransform]:
    """The 8 symmetries of the square, identity first."""
    return [IDENTITY, rotation(1), rotation(2), rotation(3), flip("horizontal"), flip("vertical"),
            transposition(), anti_transposition()]


def mirroring(side: str) -> GridTransform:
    """The grid beside (left/right) or above/below its mirror image."""
    if side == "right":
        return GridTransform("mirror_right", lambda g: np.hstack([g, np.fliplr(g)]), lambda g: g[:, : g.shape[1] // 2])
    if side == "left":
        return GridTransform("mirror_left", lambda g: np.hstack([np.fliplr(g), g]), lambda g: g[:, g.shape[1] // 2 :])
    if side == "below":
        return GridTransform("mirror_below", lambda g: np.vstack([g, np.flipud(g)]), lambda g: g[: g.shape[0] // 2])
    if side == "above":
        return GridTransform("mirror_above", lambda g: np.vstack([np.flipud(g), g]), lambda g: g[g.shape[0] // 2 :])
    raise ValueError(f"side must be right, left, below or above, not {side!r}")


def translation(rows: int, cols: int) -> GridTransform:
    """Move the content `rows` down and `cols` right on a canvas grown by that much (colour 0)."""
    return GridTransform(
        f"translate_{rows}_{cols}",
        lambda g: np.pad(g, ((rows, 0), (cols, 0)), constant_values=0),
        lambda g: g[rows:, cols:],
    )


def upscaling(factor: int, axis: str = "both") -> GridTransform:
    rows = factor if axis in ("both", "height") else 1
    cols = factor if axis in ("both", "width") else 1
    return GridTransform(
        f"upscale_{axis}_{factor}",
        lambda g: np.repeat(np.repeat(g, rows, axis=0), cols, axis=1),
        lambda g: g[::rows, ::cols],
    )


def tiling(times: int, axis: str = "both") -> GridTransform:
    rows = times if axis in ("both", "height") else 1
    cols = times if axis in ("both", "width") else 1
    return GridTransform(
        f"tile_{axis}_{times}",
        lambda g: np.tile(g, (rows, cols)),
        lambda g: g[: g.shape[0] // rows, : g.shape[1] // cols],
    )


# -- argument schemas ----------------------------------------------------------------------


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RotateArgs(_Args):
    quarter_turns: int = Field(ge=1, le=3, description="Counter-clockwise quarter turns: 1, 2 or 3.")


class FlipArgs(_Args):
    axis: Literal["horizontal", "vertical"] = Field(description="horizontal swaps left and right; vertical swaps top and bottom.")


class NoArgs(_Args):
    """No arguments: calling the tool is the choice."""


class MirrorArgs(_Args):
    side: Literal["right", "left", "below", "above"] = Field(description="Where the mirror image goes.")


class TranslateArgs(_Args):
    rows: int = Field(ge=0, le=4, description="Cells to move down.")
    cols: int = Field(ge=0, le=4, description="Cells to move right.")


class UpscaleArgs(_Args):
    factor: int = Field(ge=2, le=4, description="Each cell becomes factor cells along the axis.")
    axis: Axis = Field(description="both, height only, or width only.")


class TileArgs(_Args):
    times: int = Field(ge=2, le=3, description="Copies of the grid along the axis.")
    axis: Axis = Field(description="both, height only, or width only.")


class RotateStep(RotateArgs):
    op: Literal["rotate"]


class FlipStep(FlipArgs):
    op: Literal["flip"]


class TransposeStep(_Args):
    op: Literal["transpose"]


class AntiTransposeStep(_Args):
    op: Literal["anti_transpose"]


class MirrorStep(MirrorArgs):
    op: Literal["mirror"]


class TranslateStep(TranslateArgs):
    op: Literal["translate"]


class UpscaleStep(UpscaleArgs):
    op: Literal["upscale"]


class TileStep(TileArgs):
    op: Literal["tile"]


Step = Annotated[
    Union[RotateStep, FlipStep, TransposeStep, AntiTransposeStep, MirrorStep, TranslateStep, UpscaleStep, TileStep],
    Field(discriminator="op"),
]


class ChainArgs(_Args):
    steps: list[Step] = Field(min_length=1, max_length=4, description="Transforms applied one after another.")


def step_transform(step: BaseModel) -> GridTransform:
    args = step.model_dump(exclude={"op"})
    builders = {
        "rotate": rotation, "flip": flip, "transpose": transposition, "anti_transpose": anti_transposition,
        "mirror": mirroring, "translate": translation, "upscale": upscaling, "tile": tiling,
    }
    return builders[step.op](**args)


# -- tools ---------------------------------------------------------------------------------


@arc_tool(args_schema=RotateArgs)
def rotate(quarter_turns: int) -> list[Augmentation]:
    """Add a copy of the task with every grid rotated counter-clockwise by quarter turns."""
    return [rotation(quarter_turns)]


@arc_tool(args_schema=FlipArgs, name="flip")
def flip_tool(axis: str) -> list[Augmentation]:
    """Add a copy of the task with every grid flipped horizontally or vertically."""
    return [flip(axis)]


@arc_tool(args_schema=NoArgs)
def transpose() -> list[Augmentation]:
    """Add a copy of the task with every grid transposed (mirrored on its main diagonal)."""
    return [transposition()]


@arc_tool(args_schema=NoArgs)
def anti_transpose() -> list[Augmentation]:
    """Add a copy of the task with every grid mirrored on its anti-diagonal."""
    return [anti_transposition()]


@arc_tool(args_schema=MirrorArgs)
def mirror(side: str) -> list[Augmentation]:
    """Add a copy of the task with every grid placed beside or above its mirror image."""
    return [mirroring(side)]


@arc_tool(args_schema=TranslateArgs)
def translate(rows: int, cols: int) -> list[Augmentation]:
    """Add a copy of the task with every grid's content moved down and right by the same shift."""
    return [translation(rows, cols)]


@arc_tool(args_schema=UpscaleArgs)
def upscale(factor: int, axis: str) -> list[Augmentation]:
    """Add a copy of the task with every grid upscaled by an integer factor."""
    return [upscaling(factor, axis)]


@arc_tool(args_schema=TileArgs)
def tile(times: int, axis: str) -> list[Augmentation]:
    """Add a copy of the task with every grid repeated (tiled) along rows, columns, or both."""
    return [tiling(times, axis)]


@arc_tool(args_schema=ChainArgs)
def chain(steps: list) -> list[Augmentation]:
    """Add a copy of the task with every grid put through a sequence of transforms, in order."""
    transforms = [step_transform(s if isinstance(s, BaseModel) else ChainArgs.model_validate({"steps": [s]}).steps[0]) for s in steps]
    combined = transforms[0]
    for transform in transforms[1:]:
        combined = combined.then(transform)
    return [combined]
