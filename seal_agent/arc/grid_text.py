"""ARC grids as text, and ARC tasks as training and query sequences.

The format, chosen to be short in tokens and easy to parse back:

    a grid is its rows, top to bottom, each row its cell colours as digits 0-9 with no
    separator, rows joined by a newline; e.g. [[1, 2], [3, 4]] is "12\\n34".

    an example is "input:\\n<grid>\\noutput:\\n<grid>\\n"; a task prompt is its
    demonstrations as examples, one after another, followed by the query
    "input:\\n<grid>\\noutput:\\n". The model's answer is the output grid followed by
    a newline and then the end-of-sequence token.

`parse_grid` is the inverse of `grid_to_text`. It reads the answer's leading run of digit
rows and ignores whatever follows them (a model that does not stop after its grid still
gets its grid read), and returns None when there is no rectangular grid of digits at the
start, because the model's output is untrusted.
"""

from __future__ import annotations

from collections.abc import Sequence

from seal_agent.grids import Grid


def grid_to_text(grid: Grid) -> str:
    return "\n".join("".join(str(cell) for cell in row) for row in grid)


def parse_grid(text: str) -> Grid | None:
    """Parse the model's answer back into a grid; None if it does not start with one.

    The grid is the leading run of lines made only of digits 0-9; the first other line
    (blank, or any text) ends it.
    """
    rows: Grid = []
    for line in text.lstrip("\n").split("\n"):
        line = line.strip()
        if not line or not line.isascii() or not line.isdigit():
            break
        rows.append([int(ch) for ch in line])
    if not rows or any(len(row) != len(rows[0]) for row in rows):
        return None
    if len(rows) > 30 or len(rows[0]) > 30:
        return None
    return rows


def example_text(input_grid: Grid, output_grid: Grid) -> str:
    return f"input:\n{grid_to_text(input_grid)}\noutput:\n{grid_to_text(output_grid)}\n"


def query_text(input_grid: Grid) -> str:
    return f"input:\n{grid_to_text(input_grid)}\noutput:\n"


def answer_text(output_grid: Grid) -> str:
    """What the model should write after a query, before its end-of-sequence token."""
    return grid_to_text(output_grid) + "\n"


def task_prompt(demonstrations: Sequence[tuple[Grid, Grid]], query_input: Grid) -> str:
    """Demonstrations as examples, then the query input awaiting its output."""
    return "".join(example_text(i, o) for i, o in demonstrations) + query_text(query_input)
