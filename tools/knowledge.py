"""Knowledge-incorporation self-edit tools: the model writes its own training data.

Given a passage, the policy writes text as tool-call arguments: implications of the
passage, a rewrite of it, or question-answer pairs about it (the paper's variants). Each
tool returns the training sequences it stands for; the update fine-tunes on them plus the
passage itself.

`no_update` is the one tool that writes nothing: offered with `policy.no_update`, it lets
the policy decide that a passage is not worth an update (`reward.update_cost`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from seal_agent.tools.base import knowledge_tool



class ImplicationsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    statements: list[str] = Field(
        min_length=1, max_length=30, description="Self-contained statements that follow from the passage."
    )


class RewriteArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=6000, description="The passage rewritten in other words.")


class QAPair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=400)
    answer: str = Field(min_length=1, max_length=400)


class QAPairsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pairs: list[QAPair] = Field(min_length=1, max_length=30, description="Questions about the passage with their answers.")


class NoUpdateArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


NO_UPDATE = "no_update"


@knowledge_tool(args_schema=ImplicationsArgs)
def write_implications(statements: list[str]) -> list[str]:
    """Write implications of the passage: facts that follow from it, one per statement."""
    return [s.strip() for s in statements if s.strip()]


@knowledge_tool(args_schema=RewriteArgs)
def rewrite_passage(text: str) -> list[str]:
    """Rewrite the passage in different words, keeping every fact."""
    return [text.strip()]


@knowledge_tool(args_schema=QAPairsArgs)
def write_qa_pairs(pairs: list) -> list[str]:
    """Write question-answer pairs that test the facts of the passage."""
    out = []
    for pair in pairs:
        question, answer = (pair.question, pair.answer) if isinstance(pair, QAPair) else (pair["question"], pair["answer"])
        out.append(f"Question: {question.strip()}\nAnswer: {answer.strip()}")
    return out


@knowledge_tool(args_schema=NoUpdateArgs, name=NO_UPDATE)
def no_update() -> list[str]:
    """Make no update for this passage: what it says is known already, or not worth the cost of an update."""
    return []
