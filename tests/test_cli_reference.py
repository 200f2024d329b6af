"""The command-line page lists every command, and its tables come from the commands themselves."""

import re
from pathlib import Path

import pytest

from seal_agent.cli.reference import command_paths, options_table

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "cli.md"


def test_every_command_has_its_options_on_the_page():
    markers = set(re.findall(r"<!-- options: (seal[a-z0-9 -]+) -->", PAGE.read_text()))
    commands = {" ".join(path) for path in command_paths()}
    assert commands == markers, f"missing: {sorted(commands - markers)}; unknown: {sorted(markers - commands)}"


def test_a_table_holds_the_commands_own_options_and_arguments():
    table = options_table(["seal", "run", "arc"])
    assert table.startswith("| option | meaning |") and "| `--run-dir` | Where the run is kept." in table
    assert "| `--rounds` | ReST-EM rounds. |" in table
    assert "| `RUN_DIR` |" in options_table(["seal", "report"]) and "`-o`, `--output`" in options_table(["seal", "report"])


def test_an_unknown_command_is_an_error():
    with pytest.raises(KeyError, match="no command seal run chess"):
        options_table(["seal", "run", "chess"])
