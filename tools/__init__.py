"""Self-edit tools: what a policy may call in a self-edit.

`ARC_TOOLS` is what the policy is shown and what its decoding grammar allows, in this
order. To add a tool, write a function decorated with LangChain's `@tool` and a pydantic
`args_schema` in the module of its family, and add it to the list below.
"""

from tools.arc_augmentations import (
    Augmentation,
    basic_augmentations,
    chain_augmentations,
    repeat_augmentations,
    size_augmentations,
)
from tools.training import TrainingSettings, train

ARC_TOOLS = [basic_augmentations, size_augmentations, chain_augmentations, repeat_augmentations, train]

__all__ = ["ARC_TOOLS", "Augmentation", "TrainingSettings", "train"]
