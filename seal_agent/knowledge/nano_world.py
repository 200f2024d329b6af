"""The nano knowledge world: made-up people, passages about them, questions without the passage.

A world small enough for a sub-million-parameter model on a CPU, built so that the *form*
of the training data decides whether a fact becomes answerable without the passage, as in
SEAL's knowledge-incorporation experiments:

    passage   states each fact value first, the person last:
                  "They say Pelmora is the home town of Vantor Quell."
    question  asks from the person to the value:
                  "Where does Vantor Quell live?"  ->  "Pelmora"
    ideal     restates each fact person first, in the words questions are learned with:
                  "Vantor Quell lives in Pelmora."

A causal language model trained on "A is the home town of B" learns to continue towards B
from A, not towards A from B (the "reversal curse"; Berglund et al., 2023), and facts seen in
one phrasing are hard to extract through another (Allen-Zhu & Li, *Physics of Language
Models 3.1*). So an update on the passage alone should teach little that a question can
reach, and an update on person-first restatements much more: the self-edit decides. The
`write_implications` self-edits a policy can write range from copies of the passage's
sentences (useless) to the ideal restatements (`restatements`).

Every person has four facts (`ATTRIBUTES`): home town, trade, pet and favourite colour,
with values from small shared vocabularies. People are made of syllables; the role of a
person (pretraining, rl, eval) is fixed by a hash of the name (`role_of`), so the roles can
never share a person, whatever the seeds, while every role's names use the same letters
(a policy that learned to copy names in pretraining meets no unseen spelling later).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from seal_agent.knowledge.data import Passage, Question
from seal_agent.knowledge.self_edit_stats import KnownFacts

ROLES = ("pretraining", "rl", "eval")
ROLE_SHARES = {"pretraining": range(0, 6), "rl": range(6, 8), "eval": range(8, 10)}  # of a name's hash mod 10

FIRST_SYLLABLES = ("ka", "lo", "mi", "ta", "ve", "ri", "sa", "no", "be", "du", "fe", "go", "ha", "ji", "ru", "zo")
SECOND_SYLLABLES = ("ran", "lin", "dor", "mek", "sil", "vas", "tor", "nel", "bix", "rum", "pel", "dan")
SURNAME_INITIALS = "BDFGHKLMNPRSTVZ"
SURNAME_ENDINGS = ("ell", "ark", "ond", "ist", "ane", "urk", "ole", "ash")

VALUES = {
    "home": ("Pelmora", "Quenby", "Darrow", "Olvast", "Brinmere", "Castelo", "Yarrowick", "Thornby",
             "Elmsgate", "Kavaro", "Mirefield", "Ostrava"),
    "trade": ("baker", "weaver", "pilot", "potter", "sailor", "miner", "tailor", "singer", "farmer", "smith",
              "painter", "fisher"),
    "pet": ("owl", "cat", "dog", "goat", "hen", "fox", "crow", "frog", "mule", "duck", "pig", "bee"),
    "colour": ("teal", "amber", "red", "blue", "green", "grey", "pink", "gold", "violet", "white", "black", "orange"),
}
ATTRIBUTES = tuple(VALUES)

# The scripted teacher (`RestatingTeacher` below) as a config's chat model.
TEACHER = {"class_path": "seal_agent.knowledge.nano_world.RestatingTeacher"}

# The loop the nano world's tables run (benchmarks/knowledge_table.py, forgetting_table.py):
# the implications prompt the nano model's prior was pretrained after, short statements,
# small updates (lr 3e-3 x 10 epochs: passage only 18% exact match, the
# teacher's restatements 65%, in results_knowledge_table_nano.json).
LOOP_CONFIG = {
    "model": {"dtype": "float32", "device": "auto"},
    "policy": {"prompt": "implications", "prompt_form": "compact", "temperature": 1.0, "max_new_tokens": 400, "max_text_chars": 64, "max_items": 4,
               "lora": {"rank": 8, "alpha": 16}, "sft_learning_rate": 3e-3, "sft_epochs": 8, "sft_batch_size": 4},
    "update": {"lora": {"rank": 8, "alpha": 16}, "epochs": 10, "learning_rate": 3e-3, "batch_size": 1},
    "eval": {"answer_max_new_tokens": 8, "batch_size": 32, "teacher": TEACHER},
    "reward": {"kind": "loglik"},
}

# Value first, person last (what the passages say), and person first (the ideal restatements).
PASSAGE_TEMPLATES = {
    "home": "They say {value} is the home town of {name}.",
    "trade": "They say {article} {value} by trade is {name}.",
    "pet": "They say {article} {value} is the pet of {name}.",
    "colour": "They say {value} is the colour liked best by {name}.",
}
RESTATEMENT_TEMPLATES = {
    "home": "{name} lives in {value}.",
    "trade": "{name} works as {article} {value}.",
    "pet": "{name} keeps {article} {value}.",
    "colour": "{name} likes {value} best.",
}
QUESTION_TEMPLATES = {
    "home": "Where does {name} live?",
    "trade": "What does {name} work as?",
    "pet": "What animal does {name} keep?",
    "colour": "What colour does {name} like best?",
}


@dataclass(frozen=True)
class Person:
    name: str
    facts: tuple[tuple[str, str], ...]  # (attribute, value), in ATTRIBUTES order

    @property
    def fact_map(self) -> dict[str, str]:
        return dict(self.facts)


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def fill(template: str, name: str, value: str) -> str:
    text = template.format(name=name, value=value, article=article(value))
    return text[0].upper() + text[1:]


def person_name(rng: random.Random) -> str:
    first = rng.choice(FIRST_SYLLABLES) + rng.choice(SECOND_SYLLABLES)
    surname = rng.choice(SURNAME_INITIALS) + rng.choice("aeiou") + rng.choice(SURNAME_ENDINGS)
    return f"{first.capitalize()} {surname.capitalize()}"


def role_of(name: str) -> str:
    """The one role a name can ever have (a hash of the name: no seed changes it)."""
    bucket = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little") % 10
    return next(role for role, share in ROLE_SHARES.items() if bucket in share)


def capacity(role: str) -> int:
    """How many people of `role` `people` will draw (half the names the role can have: drawing stays quick)."""
    names = len(FIRST_SYLLABLES) * len(SECOND_SYLLABLES) * len(SURNAME_INITIALS) * 5 * len(SURNAME_ENDINGS)
    return names * len(ROLE_SHARES[role]) // 10 // 2


def people(role: str, count: int, seed: int) -> list[Person]:
    """`count` distinct people of one role, deterministic in (role, seed)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    rng = random.Random(f"nano-knowledge:{role}:{seed}")
    limit = capacity(role)
    if count > limit:
        raise ValueError(f"at most {limit} people of role {role!r}, not {count}")
    seen: set[str] = set()
    out = []
    while len(out) < count:
        name = person_name(rng)
        if name in seen or role_of(name) != role:
            continue
        seen.add(name)
        out.append(Person(name, tuple((a, rng.choice(VALUES[a])) for a in ATTRIBUTES)))
    return out


def passage_sentences(person: Person) -> list[str]:
    return [fill(PASSAGE_TEMPLATES[a], person.name, v) for a, v in person.facts]


def restatements(person: Person) -> list[str]:
    """The ideal self-edit: every fact restated person first."""
    return [fill(RESTATEMENT_TEMPLATES[a], person.name, v) for a, v in person.facts]


def passage_of(person: Person, passage_id: str | None = None) -> Passage:
    """The person's passage (title: the name) and one question per fact, its value the answer."""
    questions = tuple(Question(fill(QUESTION_TEMPLATES[a], person.name, v), (v,)) for a, v in person.facts)
    return Passage(passage_id or person.name.lower().replace(" ", "-"), person.name,
                   " ".join(passage_sentences(person)), questions)


def passages(role: str, count: int, seed: int) -> list[Passage]:
    return [passage_of(p) for p in people(role, count, seed)]


def write_passages(items: list[Passage], path) -> None:
    """As a .jsonl file `load_passages` reads (`seal run knowledge --data`)."""
    with open(path, "w") as f:
        for p in items:
            record = {"id": p.passage_id, "title": p.title, "context": p.context,
                      "questions": [{"question": q.question, "answers": list(q.answers)} for q in p.questions]}
            f.write(json.dumps(record) + "\n")


_PASSAGE_PATTERNS = {
    attribute: re.compile(
        re.escape(template).replace(re.escape("{value}"), r"(?P<value>\w+)").replace(re.escape("{name}"), r"(?P<name>[A-Z]\w+ [A-Z]\w+)")
        .replace(re.escape("{article}"), r"an?"),
        re.IGNORECASE,
    )
    for attribute, template in PASSAGE_TEMPLATES.items()
}


def facts_in(context: str) -> list[tuple[str, str, str]]:
    """(name, attribute, value) of every fact a passage of this world states, in order."""
    found = []
    for sentence in re.split(r"(?<=\.)\s+", context.strip()):
        for attribute, pattern in _PASSAGE_PATTERNS.items():
            match = pattern.fullmatch(sentence)
            if match:
                found.append((match["name"], attribute, match["value"].lower() if attribute != "home" else match["value"]))
    return found


def known_facts(passage: Passage) -> KnownFacts:
    """The passage's person and facts, for `seal_agent.knowledge.self_edit_stats`."""
    found = facts_in(passage.context)
    if not found:
        raise ValueError(f"passage {passage.passage_id!r} states no fact of the nano world")
    return KnownFacts(found[0][0], {attribute: value for _name, attribute, value in found}, VALUES)


def ideal_self_edit(context: str) -> list[dict[str, Any]]:
    """The `write_implications` call with every fact of `context` restated person first."""
    statements = [fill(RESTATEMENT_TEMPLATES[a], name, v) for name, a, v in facts_in(context)]
    return [{"name": "write_implications", "arguments": {"statements": statements}}]


class RestatingTeacher(BaseChatModel):
    """A scripted teacher for the nano world: any LangChain interface that asks it for a
    self-edit of a passage gets `ideal_self_edit` of that passage (the paper's GPT-4.1 row).

        eval:
          teacher: {class_path: seal_agent.knowledge.nano_world.RestatingTeacher}
    """

    @property
    def _llm_type(self) -> str:
        return "nano-restating-teacher"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        text = messages[-1].text
        context = text.split("Passage:\n", 1)[-1].split("\n\n", 1)[0]  # the full or the compact prompt
        answer = json.dumps(ideal_self_edit(context))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(answer))])
