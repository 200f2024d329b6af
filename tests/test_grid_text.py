import pytest

from seal_agent.arc.grid_text import answer_text, grid_to_text, parse_grid, task_prompt


@pytest.mark.parametrize("grid", [[[0]], [[1, 2, 3], [4, 5, 6]], [[9] * 30 for _ in range(30)], [[7], [8], [9]]])
def test_round_trip(grid):
    assert parse_grid(grid_to_text(grid)) == grid
    assert parse_grid(answer_text(grid)) == grid


def test_format_is_rows_of_digits():
    assert grid_to_text([[1, 2], [3, 4]]) == "12\n34"
    assert task_prompt([([[1]], [[2]])], [[3]]) == "input:\n1\noutput:\n2\ninput:\n3\noutput:\n"


@pytest.mark.parametrize("text", ["", "\n", "12\n3", "1a\n22", "１２", "-1", "1 2", "x\n12", "\n".join(["1" * 31])])
def test_invalid_text_is_none(text):
    assert parse_grid(text) is None


@pytest.mark.parametrize("text", ["12\n34\n\ninput:\n99", "12\n34\ninput:\n5", "12\n34\nut:"])
def test_the_grid_is_the_leading_run_of_digit_rows(text):
    assert parse_grid(text) == [[1, 2], [3, 4]]
