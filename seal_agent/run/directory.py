"""A run directory: its file names, creating and reopening one, and writing its files so
that readers never see half of one.

    RUN_DIR/config.yaml     the resolved config, written before anything runs
    RUN_DIR/run.sqlite      LangGraph's checkpoints and the traces (seal_agent.run.traces)
    RUN_DIR/summary.json    the figures so far, rewritten after every round
    RUN_DIR/run.lock        held while a process works in the directory (seal_agent.run.lock)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel

from seal_agent.config import ConfigError, dump_config, load_run_config

CONFIG_FILE = "config.yaml"
DB_FILE = "run.sqlite"
SUMMARY_FILE = "summary.json"
LOCK_FILE = "run.lock"


class RunDirError(Exception):
    """The run directory cannot be used as asked (exists already, or has nothing to resume)."""


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


def saved_config(run_dir: Path, schema: type[BaseModel]):
    """The config a run directory was started with (what --resume continues)."""
    if not (run_dir / CONFIG_FILE).exists():
        raise RunDirError(f"{run_dir}: nothing to resume (no {CONFIG_FILE}); start a run there without --resume")
    return load_run_config(run_dir / CONFIG_FILE, schema)


def run_config(run_dir: Path, config, resume: bool, schema: type[BaseModel]):
    """The config a run in `run_dir` goes on with: the saved one on --resume; else `config`,
    with its file paths made absolute, once the directory is known to be free (nothing is
    created yet: the caller checks its inputs, then calls `create_run_dir`)."""
    if resume:
        return saved_config(run_dir, schema)
    check_new_run_dir(run_dir, config)
    return config.with_absolute_paths()  # config.yaml must mean the same from any directory


def check_new_run_dir(run_dir: Path, config: BaseModel | None) -> None:
    """A new run needs a config and a directory that is absent or empty."""
    if config is None:
        raise ConfigError("a new run needs a config")
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: exists and is not a directory")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RunDirError(f"{run_dir}: already holds a run; pass --resume to continue it, or choose another --run-dir")


def create_run_dir(run_dir: Path, config: BaseModel) -> None:
    """Create the directory and write the resolved config.yaml: the last step of preparing a run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir / CONFIG_FILE, dump_config(config))


def remove_new_run_dir(run_dir: Path, resume: bool) -> None:
    """Remove a run directory this process created, when the run failed before any result."""
    if not resume:
        shutil.rmtree(run_dir, ignore_errors=True)
