"""The self-edit statistics of the knowledge table, on hand-written self-edits."""

import pytest

from seal_agent.knowledge import nano_world
from seal_agent.knowledge.self_edit_stats import KnownFacts, read_line, self_edit_statistics

VOCABULARIES = {"home": ["Pelmora", "Quenby"], "pet": ["cat", "dog", "owl"]}
VANTOR = KnownFacts("Vantor Quell", {"home": "Pelmora", "pet": "cat"}, VOCABULARIES)


@pytest.mark.parametrize("line, expected", [
    ("Vantor Quell lives in Pelmora.", dict(names_person=True, correct_fact=True, wrong_value=False, question_answer_order=True, copies_example=False)),
    ("They say Pelmora is the home town of Vantor Quell.",
     dict(names_person=True, correct_fact=True, wrong_value=False, question_answer_order=False, copies_example=False)),
    ("Vantor Quell keeps a dog.", dict(names_person=True, correct_fact=False, wrong_value=True, question_answer_order=False, copies_example=False)),
    ("Where does Vantor Quell live? Pelmora", dict(names_person=True, correct_fact=True, wrong_value=False,
                                                    question_answer_order=True, copies_example=False)),
    ("A cat lives in Quenby.", dict(names_person=False, correct_fact=True, wrong_value=True, question_answer_order=False, copies_example=False)),
    ("vantor quell has a CAT", dict(names_person=True, correct_fact=True, wrong_value=False, question_answer_order=True, copies_example=False)),
    ("Vantor Quellson likes cats.", dict(names_person=False, correct_fact=False, wrong_value=False, question_answer_order=False, copies_example=False)),
    ("<a fact that follows from the passage>",
     dict(names_person=False, correct_fact=False, wrong_value=False, question_answer_order=False, copies_example=True)),
    ("Vantor Quell <another one> Pelmora", dict(names_person=True, correct_fact=True, wrong_value=False,
                                                 question_answer_order=True, copies_example=True)),
    ("The Orvel Bridge crosses the river Tam.",
     dict(names_person=False, correct_fact=False, wrong_value=False, question_answer_order=False, copies_example=True)),
    ("Nothing here.", dict(names_person=False, correct_fact=False, wrong_value=False, question_answer_order=False, copies_example=False)),
])
def test_read_line(line, expected):
    assert read_line(line, VANTOR) == expected


def test_statistics_pool_lines_and_count_rejections():
    other = KnownFacts("Mira Dane", {"home": "Quenby", "pet": "owl"}, VOCABULARIES)
    stats = self_edit_statistics([
        (["Vantor Quell lives in Pelmora.", "Vantor Quell keeps a dog."], VANTOR),
        (None, VANTOR),
        (["They say Quenby is the home town of Mira Dane.", "Mira Dane keeps an owl.", "Owls are birds."], other),
        ([], other),
    ], examples=2)
    assert stats["self_edits"] == 4 and stats["rejected"] == 1
    assert stats["lines"] == 5 and stats["lines_per_self_edit"] == pytest.approx(5 / 3)
    assert stats["share_names_person"] == pytest.approx(4 / 5)
    assert stats["share_correct_fact"] == pytest.approx(3 / 5)  # "Owls" is not the whole word "owl"
    assert stats["share_wrong_value"] == pytest.approx(1 / 5)
    assert stats["share_question_answer_order"] == pytest.approx(2 / 5)
    # Facts per accepted self-edit: {home} (the dog is wrong), {home, pet}, none.
    assert stats["facts_per_self_edit"] == pytest.approx(3 / 3)
    assert stats["share_self_edits_without_a_fact"] == pytest.approx(1 / 3)
    assert stats["share_copies_example"] == 0.0 and stats["share_repeated_lines"] == 0.0
    assert stats["examples"] == [["Vantor Quell lives in Pelmora.", "Vantor Quell keeps a dog."],
                                 ["They say Quenby is the home town of Mira Dane.", "Mira Dane keeps an owl.", "Owls are birds."]]


def test_a_line_written_again_in_its_self_edit_is_a_repeat():
    stats = self_edit_statistics([
        (["Vantor Quell keeps a dog.", "Vantor Quell lives in Pelmora.", "Vantor Quell keeps a dog. ", "Vantor Quell keeps a dog."], VANTOR),
        (["Vantor Quell keeps a dog."], VANTOR),  # the same line in another self-edit is no repeat
    ])
    assert stats["share_repeated_lines"] == pytest.approx(2 / 5)


def test_statistics_of_nothing():
    stats = self_edit_statistics([])
    assert stats["lines"] == 0 and stats["lines_per_self_edit"] == 0.0 and stats["share_correct_fact"] == 0.0


def test_the_teachers_restatements_are_all_correct_and_in_question_order():
    passage = nano_world.passages("eval", 1, seed=3)[0]
    known = nano_world.known_facts(passage)
    assert known.name == passage.title and len(known.facts) == 4
    stats = self_edit_statistics([(nano_world.restatements(nano_world.people("eval", 1, seed=3)[0]), known)])
    assert stats["share_names_person"] == stats["share_correct_fact"] == stats["share_question_answer_order"] == 1.0
    assert stats["share_wrong_value"] == 0.0
    # The passage's own sentences carry the facts, but value first.
    copied = self_edit_statistics([(nano_world.passage_sentences(nano_world.people("eval", 1, seed=3)[0]), known)])
    assert copied["share_correct_fact"] == 1.0 and copied["share_question_answer_order"] == 0.0
