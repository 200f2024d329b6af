"""The training tool: how the test-time-training update is run.

Both vocabularies end with `train`; the decoding grammar makes a local policy call it
exactly once, last. A self-edit from elsewhere that omits it gets the run's defaults; one
that calls it twice is rejected. The bounds
are part of the schema, so the decoding grammar only lets a policy write values inside
them, and a value from an unconstrained model outside them is rejected with a reason.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from seal_agent.tools.base import arc_tool

MIN_LEARNING_RATE = 1e-6
MAX_LEARNING_RATE = 1e-2
MAX_EPOCHS = 20


class TrainingSettings(BaseModel):
    """Hyperparameters of one test-time-training update."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: float = Field(
        ge=MIN_LEARNING_RATE, le=MAX_LEARNING_RATE, description="AdamW learning rate (cosine schedule)."
    )
    num_train_epochs: int = Field(ge=1, le=MAX_EPOCHS, description="Passes over the training data.")
    strategy: Literal["all_tokens", "output_tokens"] = Field(
        description="Loss on every token of each example, or only on the output grid it must predict."
    )


@arc_tool(args_schema=TrainingSettings, vocabulary="both", required=True)
def train(learning_rate: float, num_train_epochs: int, strategy: str) -> TrainingSettings:
    """Set the test-time-training hyperparameters: learning rate, epochs, and which tokens carry the loss."""
    return TrainingSettings(learning_rate=learning_rate, num_train_epochs=num_train_epochs, strategy=strategy)
