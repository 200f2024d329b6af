"""What every `seal` command shares: the console, the usage-error exit, the progress bar."""

from __future__ import annotations

import os

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console()
USAGE_ERROR = 2


def fail(message: str) -> None:
    """Print one error line and exit with code 2 (bad input; nothing was run)."""
    console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(USAGE_ERROR)


def progress_bar() -> Progress:
    """A rich progress bar, shown on a terminal (or when SEAL_PROGRESS=1)."""
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
        disable=not console.is_terminal and os.environ.get("SEAL_PROGRESS") != "1",
    )
