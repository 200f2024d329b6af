"""Continual knowledge incorporation: what each update leaves behind, and how a question reaches it.

`continual.strategy` decides, for mode continual (`seal_agent.graphs.knowledge.continual_step`):

    strategy          step N's update                          a question about a seen passage
    merge             merged into the base weights (SEAL)      the base weights, holding every update
    replay            trained on the passage's texts plus up   as merge
                      to `continual.replay_budget` texts
                      sampled from earlier steps, then merged
    adapter_library   kept as its own LoRA, never merged       the base model with the one adapter whose
                                                               training texts best match the question
                                                               (none matching: the bare base model)

Replay is the oldest answer to catastrophic forgetting (rehearsal: Robins, 1995; as
"experience replay" for continual learning, Rolnick et al., 2019): the new update cannot
overwrite what it keeps rehearsing. The adapter library removes the interference itself
(one adapter per passage, as in LoRA libraries and routing such as LoraHub, Huang et al.,
2023, or Arrow, Ostapenko et al., 2024): nothing learned later touches an earlier adapter,
so the question is only whether retrieval picks the right one.

Retrieval is lexical: the question's words against each adapter's key, its training texts
(the passage's title and text and the self-edit's sequences), each shared word weighted by
a smoothed inverse document frequency over the library, log(1 + N / df). A question asks
about a named entity that its passage and self-edit name too, so exact word overlap finds
it without an embedding model (none is at hand for a tiny model, and a model's own
embeddings would change with the updates); words every key has (titles' boilerplate) count
least. Ties go to the newer adapter.

Every step writes `continual/step_N.safetensors` (its update; zeros when it made none) and
`continual/step_N.json` (its passage, its own training texts, the texts it replayed,
whether it trained), so a resumed run rebuilds the same merged weights, replay pool and
library from files alone.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from seal_agent.knowledge.data import Passage
from seal_agent.run.directory import write_atomic

MERGING = ("merge", "replay")  # the strategies that merge every update into the base weights


def step_record_file(run_dir: Path, step: int) -> Path:
    return run_dir / "continual" / f"step_{step}.json"


def write_step_record(run_dir: Path, step: int, record: dict[str, Any]) -> None:
    write_atomic(step_record_file(run_dir, step), json.dumps(record, indent=1))


def read_step_records(run_dir: Path, steps: int) -> list[dict[str, Any]]:
    """The records of steps 1..`steps`, from the run directory."""
    records = []
    for step in range(1, steps + 1):
        path = step_record_file(run_dir, step)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: the run directory does not hold continual step {step}")
        records.append(json.loads(path.read_text()))
    return records


def replay_texts(earlier: list[dict[str, Any]], budget: int, seed: int) -> list[str]:
    """Up to `budget` of the earlier steps' own training texts, drawn without replacement."""
    pool = [text for record in earlier for text in record["texts"]]
    if len(pool) <= budget:
        return pool
    return random.Random(seed).sample(pool, budget)


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def library_index(keys: dict[int, str]) -> tuple[dict[int, set[str]], Counter]:
    """Each key's words, and in how many keys each word occurs: what `retrieve` scores with."""
    key_words = {step: words(key) for step, key in keys.items()}
    return key_words, Counter(word for ws in key_words.values() for word in ws)


def retrieve(question: str, keys: dict[int, str], index: tuple[dict[int, set[str]], Counter] | None = None) -> int | None:
    """The step whose key shares the most (idf-weighted) words with `question`; None when none shares any.
    `index`: `library_index(keys)`, when many questions go to the same library."""
    key_words, frequency = index or library_index(keys)
    asked = words(question)
    best, best_score = None, 0.0
    for step in sorted(key_words):  # ascending, and >= below: ties go to the newer step
        score = sum(math.log(1 + len(keys) / frequency[w]) for w in asked & key_words[step])
        if score > 0 and score >= best_score:
            best, best_score = step, score
    return best


def library_keys(records: list[dict[str, Any]]) -> dict[int, str]:
    """Each step that trained an adapter, keyed by its step: the texts it was trained on."""
    return {r["step"]: "\n".join(r["texts"]) for r in records if r["trained"]}


def score_through_library(passage: Passage, keys: dict[int, str], score_with: Callable[[int | None, Passage], dict[str, Any]]
                          ) -> tuple[dict[str, Any], list[int | None]]:
    """Score `passage`'s questions, each with the adapter `retrieve` picks for it.

    `score_with(step, sub_passage)` scores some of the questions with step's adapter (None:
    the bare base model). Returns the passage's scores in question order, as
    `seal_agent.knowledge.reward.score_passage` gives them, and each question's step.
    """
    index = library_index(keys)
    routes = [retrieve(q.question, keys, index) for q in passage.questions]
    loglik: list[float | None] = [None] * len(routes)
    answers: list[str | None] | None = [None] * len(routes)
    for step in dict.fromkeys(routes):
        indices = [i for i, r in enumerate(routes) if r == step]
        scored = score_with(step, replace(passage, questions=tuple(passage.questions[i] for i in indices)))
        for position, index in enumerate(indices):
            loglik[index] = scored["loglik"][position]
            if scored["answers"] is None:
                answers = None
            elif answers is not None:
                answers[index] = scored["answers"][position]
    return {"loglik": loglik, "answers": answers}, routes
