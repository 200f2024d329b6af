"""What a policy's knowledge self-edits say: how many lines, about whom, and whether the facts are right.

For a passage whose facts are known (the knowledge world's people: a name and one value per
attribute, every attribute's values from a known vocabulary), each line of a self-edit is
read for:

    names the person     the person's full name appears in the line
    correct fact         a value of one of the person's facts appears in the line
    wrong value          a value the attribute could have, but not the person's (a cat where
                         the person keeps a dog): the line teaches a false fact
    question-answer order
                         the name comes before a correct value, the order a question asks
                         in ("Where does Vantor Quell live?" reaches "Pelmora" from the name);
                         the passages state the value first
    copies example       the line copies the prompt's example: a placeholder
                         (`<another one>`) or the worked example's subject (the Orvel
                         Bridge); small models do, and ReST-EM can amplify it

A line that repeats an earlier line of its self-edit is counted in `share_repeated_lines`:
the update trains on it once, so it adds nothing, but an M-step can learn to write it.

Per self-edit it also counts the passage's facts it states (each attribute once, however
many lines repeat it): `facts_per_self_edit` and the share of self-edits stating none.

Words are matched whole and case-blind. `self_edit_statistics` pools the lines of many
self-edits into shares, with the mean number of lines per self-edit and a few examples, so
a table can say *what* RL changed in the self-edits, not only that the reward moved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seal_agent.knowledge.prompts import COPIED_FROM_EXAMPLE
from seal_agent.knowledge.update import repeated_lines

FIELDS = ("names_person", "correct_fact", "wrong_value", "question_answer_order", "copies_example")


@dataclass(frozen=True)
class KnownFacts:
    """One passage's person and facts, and what values each attribute can take."""

    name: str
    facts: Mapping[str, str]  # attribute -> the person's value
    vocabularies: Mapping[str, Sequence[str]]  # attribute -> every value it can take


def _first_match(words: Sequence[str], text: str) -> int | None:
    """Where the first of `words` starts in `text` (whole words, case-blind), or None."""
    matches = (re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE) for word in words)
    return min((m.start() for m in matches if m), default=None)


def read_line(line: str, known: KnownFacts) -> dict[str, bool]:
    """The four readings of one line (`FIELDS`)."""
    name_at = _first_match([known.name], line)
    values = list(known.facts.values())
    wrong = [v for attribute, choices in known.vocabularies.items() for v in choices if v != known.facts.get(attribute)]
    return {
        "names_person": name_at is not None,
        "correct_fact": _first_match(values, line) is not None,
        "wrong_value": _first_match(wrong, line) is not None,
        "question_answer_order": name_at is not None and _first_match(values, line[name_at + len(known.name):]) is not None,
        "copies_example": COPIED_FROM_EXAMPLE.search(line) is not None,
    }


def facts_stated(lines: Sequence[str], known: KnownFacts) -> set[str]:
    """The attributes whose value (the person's) some line of a self-edit states."""
    return {attribute for attribute, value in known.facts.items() if any(_first_match([value], line) is not None for line in lines)}


def self_edit_statistics(
    self_edits: Sequence[tuple[Sequence[str] | None, KnownFacts]], examples: int = 3,
) -> dict[str, Any]:
    """Pooled over `(lines, facts)` pairs (lines None: a rejected self-edit, counted apart).

    {"self_edits", "rejected", "lines", "lines_per_self_edit", "share_<field>" for every
    field, "share_repeated_lines", "facts_per_self_edit" (distinct facts of the passage stated, over accepted
    self-edits), "share_self_edits_without_a_fact", "examples": the first `examples`
    accepted self-edits' lines}.
    """
    accepted = [(lines, known) for lines, known in self_edits if lines is not None]
    readings = [read_line(line, known) for lines, known in accepted for line in lines]
    lines = len(readings)
    covered = [facts_stated(lines_, known) for lines_, known in accepted]
    return {
        "self_edits": len(self_edits),
        "rejected": len(self_edits) - len(accepted),
        "lines": lines,
        "lines_per_self_edit": lines / len(accepted) if accepted else 0.0,
        **{f"share_{field}": (sum(r[field] for r in readings) / lines if lines else 0.0) for field in FIELDS},
        "share_repeated_lines": sum(len(repeated_lines(list(lines_))) for lines_, _known in accepted) / lines if lines else 0.0,
        "facts_per_self_edit": sum(len(c) for c in covered) / len(covered) if covered else 0.0,
        "share_self_edits_without_a_fact": sum(not c for c in covered) / len(covered) if covered else 0.0,
        "examples": [list(lines_) for lines_, _known in accepted[:examples]],
    }
