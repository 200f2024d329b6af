"""The SEAL paper's self-edit vocabulary: `data_generation` with four booleans, then `train`.

This is exactly the paper's ARC self-edit (its JSON has `data_generation` with
use_basic/size/chain/repeat_augmentations and `training` with strategy, learning_rate,
num_train_epochs), so the paper's protocol can be reproduced. The groups:

    basic  - rotations by 90/180/270, horizontal and vertical flips, transpose, the four
             mirror-concatenations, and a translation (one cell down and right);
    size   - upscaling by 2 on both axes, the height only, the width only;
    chain  - each of the six geometric transforms above followed by an upscale by 2;
    repeat - tiling twice along the height, the width, and both.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from seal_agent.tools.base import Augmentation, arc_tool
from seal_agent.tools.geometry import flip, mirroring, rotation, tiling, translation, transposition, upscaling


def geometric() -> list:
    return [rotation(1), rotation(2), rotation(3), flip("horizontal"), flip("vertical"), transposition()]


def basic_group() -> list:
    return geometric() + [mirroring(s) for s in ("right", "left", "below", "above")] + [translation(1, 1)]


def size_group() -> list:
    return [upscaling(2, axis) for axis in ("both", "height", "width")]


def chain_group() -> list:
    return [transform.then(upscaling(2, "both")) for transform in geometric()]


def repeat_group() -> list:
    return [tiling(2, axis) for axis in ("height", "width", "both")]


class DataGenerationArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    use_basic_augmentations: bool = Field(description="Rotations, flips, transpose, mirror-concatenations, a translation.")
    use_size_augmentations: bool = Field(description="Upscaling by 2 (both axes, height, width).")
    use_chain_augmentations: bool = Field(description="Each rotation/flip/transpose followed by an upscale by 2.")
    use_repeat_augmentations: bool = Field(description="Tiling twice along the height, the width, both.")


@arc_tool(args_schema=DataGenerationArgs, vocabulary="seal", required=True)
def data_generation(
    use_basic_augmentations: bool, use_size_augmentations: bool, use_chain_augmentations: bool, use_repeat_augmentations: bool
) -> list[Augmentation]:
    """Choose which groups of augmented copies of the task to train on."""
    chosen: list[Augmentation] = []
    if use_basic_augmentations:
        chosen += basic_group()
    if use_size_augmentations:
        chosen += size_group()
    if use_chain_augmentations:
        chosen += chain_group()
    if use_repeat_augmentations:
        chosen += repeat_group()
    return chosen
