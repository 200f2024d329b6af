"""The command line's options as Markdown tables, read from the `seal` command itself.

The documentation's command-line page (`docs/reference/cli.md`) holds a marker per command,
`<!-- options: seal run arc -->`, that the site's build hook (`docs/hooks.py`) replaces
with `options_table(...)`, so the page lists the options the code defines.
"""

from __future__ import annotations

from typing import Any

import typer.main

# typer ships click's classes under its own name, so commands are told apart by what they
# hold (a group has `commands`, an argument's param_type_name is "argument"), not by class.


def seal_command() -> Any:
    from seal_agent.cli import app

    return typer.main.get_command(app)


def command_paths(group: Any = None, prefix: tuple[str, ...] = ("seal",)) -> list[tuple[str, ...]]:
    """Every leaf command, as its words: ("seal", "run", "arc"), ..."""
    group = group or seal_command()
    paths = []
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            paths += command_paths(command, prefix + (name,))
        else:
            paths.append(prefix + (name,))
    return paths


def find_command(words: tuple[str, ...] | list[str]) -> Any:
    if not words or words[0] != "seal":
        raise KeyError(f"not a seal command: {' '.join(words)}")
    command = seal_command()
    for word in words[1:]:
        if word not in getattr(command, "commands", {}):
            raise KeyError(f"no command {' '.join(words)}")
        command = command.commands[word]
    return command


def options_table(words: tuple[str, ...] | list[str]) -> str:
    """A command's arguments and options, one row each: name and help, as `--help` gives them."""
    command = find_command(words)
    rows = ["| option | meaning |", "|---|---|"]
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "argument":
            name = f"`{param.name.upper()}`"
        else:
            name = ", ".join(f"`{opt}`" for opt in (*param.opts, *param.secondary_opts))
        help_text = " ".join((getattr(param, "help", None) or "").split()).replace("|", "\\|")
        default = param.default
        if default not in (None, False, (), []) and not callable(default) and "Default" not in help_text:
            help_text += f" Default: `{default}`."
        rows.append(f"| {name} | {help_text} |")
    return "\n".join(rows)
