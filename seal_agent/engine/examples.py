"""What every engine trains on: a token sequence and its labels.

`labels[i]` is the token predicted at position i (the model shifts by one), or
`IGNORE_INDEX` where the position is not in the loss (the prompt, under an
output-only loss).
"""

from __future__ import annotations

from dataclasses import dataclass

IGNORE_INDEX = -100  # the label of a position outside the loss (PyTorch's cross-entropy default)


@dataclass
class TrainingExample:
    input_ids: list[int]
    labels: list[int]
