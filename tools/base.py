"""What a self-edit tool is: the `@arc_tool` decorator and the augmentations tools return.

An ARC augmentation tool is one decorated function. Its pydantic `args_schema` is what
the policy may pass (the decoding grammar is built from it), its docstring is what the
policy is shown, and it returns the augmentations to apply:

    class RotateArgs(BaseModel):
        quarter_turns: int = Field(ge=1, le=3, description="Counter-clockwise quarter turns.")

    @arc_tool(args_schema=RotateArgs)
    def rotate(quarter_turns: int) -> list[Augmentation]:
        \"\"\"Add a copy of the task with every grid rotated by quarter turns.\"\"\"
        return [GridTransform(f"rotate_{quarter_turns}", lambda g: np.rot90(g, quarter_turns),
                              inverse=lambda g: np.rot90(g, -quarter_turns))]

Augmentations follow one protocol, `apply(pairs, rng) -> pairs`, applied to a task's
demonstrations. `GridTransform` maps every input and output grid through one function
(and may carry its inverse, which voting at inference needs); `TaskTransform` acts on the
list of pairs as a whole (e.g. reordering the demonstrations).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from langchain_core.tools import BaseTool, tool

from seal_agent.grids import Pair

ARC_DOMAIN = "arc"
KNOWLEDGE_DOMAIN = "knowledge"
VOCABULARIES = ("seal", "open")


@runtime_checkable
class Augmentation(Protocol):
    name: str

    def apply(self, pairs: Sequence[Pair], rng: random.Random) -> list[Pair]: ...


@dataclass(frozen=True)
class GridTransform:
    """The same function applied to every input and output grid of a task."""

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray] | None = None

    def __call__(self, grid: np.ndarray) -> np.ndarray:
        return self.forward(np.asarray(grid))

    def invert(self, grid: np.ndarray) -> np.ndarray:
        if self.inverse is None:
            raise ValueError(f"{self.name} has no inverse")
        return self.inverse(np.asarray(grid))

    def then(self, other: "GridTransform") -> "GridTransform":
        """This transform followed by `other`; the inverse undoes them in reverse order."""
        inverse = None
        if self.inverse is not None and other.inverse is not None:
            first_inverse, second_inverse = self.inverse, other.inverse
            inverse = lambda g: first_inverse(second_inverse(g))  # noqa: E731
        forward_a, forward_b = self.forward, other.forward
        return GridTransform(f"{self.name}+{other.name}", lambda g: forward_b(forward_a(g)), inverse)

    def apply(self, pairs: Sequence[Pair], rng: random.Random) -> list[Pair]:
        return [Pair(as_grid(self(p.input), self.name), as_grid(self(p.output), self.name)) for p in pairs]


@dataclass(frozen=True)
class TaskTransform:
    """A transform of the list of demonstrations as a whole."""

    name: str
    transform: Callable[[list[Pair], random.Random], list[Pair]]

    def apply(self, pairs: Sequence[Pair], rng: random.Random) -> list[Pair]:
        return self.transform(list(pairs), rng)


class ToolOutputError(ValueError):
    """A tool produced something that is not a valid ARC grid (the candidate is rejected)."""


def as_grid(value, tool_name: str) -> list[list[int]]:
    """Check a tool's output grid: a 2-D array of integers 0-9. Size is checked by the caller."""
    try:
        array = np.asarray(value)
    except ValueError as err:  # ragged nested lists
        raise ToolOutputError(f"{tool_name} returned a ragged grid: {err}") from None
    if array.ndim != 2 or array.size == 0 or array.dtype == object:
        raise ToolOutputError(f"{tool_name} returned a grid of shape {array.shape}; expected a non-empty 2-D grid")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating) or not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ToolOutputError(f"{tool_name} returned non-integer cells ({array.dtype})")
        array = array.astype(np.int64)
    if array.min() < 0 or array.max() > 9:
        raise ToolOutputError(f"{tool_name} returned colour {int(array.min() if array.min() < 0 else array.max())}; colours are 0-9")
    return array.tolist()


def _self_edit_tool(args_schema, name: str | None, metadata: dict):
    """A LangChain tool with a pydantic schema, tagged with `metadata` for discovery."""

    def decorate(function) -> BaseTool:
        made = tool(name or function.__name__, args_schema=args_schema)(function)
        if not made.description or made.description.startswith(f"{made.name}("):
            raise ValueError(f"tool {made.name} needs a docstring: it is what the policy is shown")
        made.metadata = dict(metadata)
        return made

    return decorate


def arc_tool(args_schema, *, vocabulary: str = "open", required: bool = False, name: str | None = None):
    """Make a function an ARC self-edit tool (a LangChain tool with a pydantic schema).

    vocabulary: "open" (individual augmentation tools), "seal" (the paper's self-edit), or
        "both".
    required:   the decoding grammar makes the policy call it exactly once, after the
        optional tools (the `train` tool is required).
    The tool appears in `seal tools list`, in the policy's prompt and grammar, and in
    traces as soon as its module is loaded: a module of this package, a module named
    with --tools-module or `tools.modules`, or one registered under the `seal_agent.tools`
    entry-point group.
    """
    if vocabulary not in (*VOCABULARIES, "both"):
        raise ValueError(f"vocabulary must be one of {VOCABULARIES + ('both',)}, not {vocabulary!r}")

    metadata = {"domain": ARC_DOMAIN, "vocabulary": vocabulary, "self_edit": "required" if required else "optional"}
    return _self_edit_tool(args_schema, name, metadata)


def is_arc_tool(candidate) -> bool:
    return isinstance(candidate, BaseTool) and (candidate.metadata or {}).get("domain") == ARC_DOMAIN


def knowledge_tool(args_schema, *, name: str | None = None):
    """Make a function a knowledge-incorporation self-edit tool.

    It returns the training sequences (strings) it wrote; the update trains on them plus
    the passage. Found like ARC tools: in this package, `--tools-module`, or entry points.
    """

    return _self_edit_tool(args_schema, name, {"domain": KNOWLEDGE_DOMAIN, "self_edit": "optional"})


def is_knowledge_tool(candidate) -> bool:
    return isinstance(candidate, BaseTool) and (candidate.metadata or {}).get("domain") == KNOWLEDGE_DOMAIN
