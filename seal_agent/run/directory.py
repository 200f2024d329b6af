"""A run directory's file names, and writing its files so that readers never see half of one.

    RUN_DIR/config.yaml     the resolved config, written before anything runs
    RUN_DIR/run.sqlite      LangGraph's checkpoints and the traces (seal_agent.run.traces)
    RUN_DIR/summary.json    the figures so far, rewritten after every round
    RUN_DIR/run.lock        held while a process works in the directory (seal_agent.run.lock)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CONFIG_FILE = "config.yaml"
DB_FILE = "run.sqlite"
SUMMARY_FILE = "summary.json"
LOCK_FILE = "run.lock"


@contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write; on success it is renamed over `path`."""
    tmp = Path(path).with_name(Path(path).name + ".tmp")
    yield tmp
    os.replace(tmp, path)


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename."""
    with replaced_atomically(path) as tmp:
        tmp.write_text(text)
