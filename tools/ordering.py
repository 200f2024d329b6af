"""Order augmentation: the same demonstrations in another order."""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field

from seal_agent.tools.base import Augmentation, TaskTransform, arc_tool


def demonstration_shuffle(seed: int) -> TaskTransform:
    def shuffled(pairs, _rng):
        order = list(range(len(pairs)))
        random.Random(seed).shuffle(order)
        return [pairs[i] for i in order]

    return TaskTransform(f"shuffle_demonstrations_{seed}", shuffled)


class ShuffleArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = Field(ge=0, le=999, description="Which order: each seed gives a different one.")


@arc_tool(args_schema=ShuffleArgs)
def shuffle_demonstrations(seed: int) -> list[Augmentation]:
    """Add a copy of the task with its demonstrations in a different order."""
    return [demonstration_shuffle(seed)]
