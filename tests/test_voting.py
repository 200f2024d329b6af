"""Voting on hand-made answers with known winners, ties, and tasks with several test inputs."""

import numpy as np

from seal_agent.arc.data import ArcTask
from seal_agent.grids import Pair
from seal_agent.arc.evaluate import evaluate_voting
from seal_agent.arc.grid_text import grid_to_text, parse_grid
from seal_agent.arc.voting import VIEW_TRANSFORMS, answer_in_original_frame, build_queries, demonstration_subsets, vote
from seal_agent.arc.config import EvalConfig

A, B, C, D = [[1]], [[2]], [[3]], [[4]]


def test_most_views_win():
    answers = [("identity", A)] * 5 + [("transpose", B), ("flip_vertical", B), ("rotate_90", B)]
    result = vote(answers)
    assert result.attempts == [B, A]  # B is kept by 3 views, A by 1, though A has more votes


def test_votes_break_ties_between_views_then_first_appearance():
    answers = [("identity", A), ("identity", B), ("identity", B), ("transpose", A), ("transpose", B)]
    assert vote(answers).attempts == [B, A]  # both in 2 views; B has 3 votes to A's 2
    tie = [("identity", C), ("identity", D), ("transpose", D), ("transpose", C)]
    assert vote(tie).attempts == [C, D]  # same views, same votes: first to appear wins


def test_only_the_top_of_each_view_goes_forward():
    answers = [("identity", A)] * 3 + [("identity", B)] * 2 + [("identity", C)] * 2 + [("identity", D)]
    result = vote(answers, top_per_view=3)
    assert [row["grid"] for row in result.table] == [A, B, C]  # D never leaves its view
    assert vote(answers, top_per_view=3, attempts=1).attempts == [A]


def test_unparsable_answers_get_no_vote():
    assert vote([("identity", None)] * 9 + [("transpose", A)]).attempts == [A]
    assert vote([("identity", None)]).attempts == []


def test_answers_are_mapped_back_through_the_inverse_view():
    original = [[1, 2, 3], [4, 5, 6]]
    for name, transform in VIEW_TRANSFORMS.items():
        seen = np.asarray(transform(np.array(original))).tolist()
        assert answer_in_original_frame(grid_to_text(seen) + "\n", name) == original, name
    assert answer_in_original_frame("garbage", "identity") is None


def test_queries_cover_views_subsets_and_orderings():
    task = ArcTask("t", train=tuple(Pair([[i]], [[i]]) for i in (1, 2, 3)), test=(Pair([[4]], [[4]]),))
    assert len(demonstration_subsets(task.train, orderings=2)) == 6  # 3 leave-one-out subsets x 2 orders
    queries = build_queries(task, [[4]], ["identity", "transpose"], orderings=2, max_per_view=16, seed=0)
    assert len(queries) == 12 and {q.view for q in queries} == {"identity", "transpose"}
    capped = build_queries(task, [[4]], ["identity"], orderings=2, max_per_view=4, seed=0)
    assert len(capped) == 4


class Oracle:
    """A stand-in engine that answers a query with the right grid in that query's frame."""

    def __init__(self, mapping):
        self.mapping = mapping

    def generate(self, prompts, max_new_tokens, use_adapter=True):
        outputs = []
        for prompt in prompts:
            query = parse_grid(prompt.rsplit("input:\n", 1)[1])
            outputs.append(grid_to_text(self.mapping(query)) + "\n")
        return outputs


def test_a_task_with_several_test_inputs_needs_every_one_right():
    # The rule: add 1 to every cell. Both test inputs answered right: solved.
    task = ArcTask("t", train=tuple(Pair([[i, 0]], [[i + 1, 1]]) for i in (1, 2, 3)),
                   test=(Pair([[5, 0]], [[6, 1]]), Pair([[7, 0]], [[8, 1]])))
    config = EvalConfig(max_queries_per_view=2)
    right = evaluate_voting(Oracle(lambda g: (np.array(g) + 1).tolist()), task, config, seed=0)
    assert right.correct == [True, True] and right.solved
    assert right.queries == 2 * 6 * 2
    # An engine right on the first test input only: not solved.
    half = evaluate_voting(Oracle(lambda g: (np.array(g) + (1 if 5 in np.array(g) else 2)).tolist()), task, config, seed=0)
    assert half.correct == [True, False] and not half.solved
