"""A run directory: its file names, creating and reopening one, and writing its files so
that readers never see half of one.

    RUN_DIR/seal-run.json   the marker: a directory is a run only with it (written first)
    RUN_DIR/config.yaml     the resolved config, written before anything runs
    RUN_DIR/run.sqlite      LangGraph's checkpoints and the traces (seal_agent.run.traces)
    RUN_DIR/summary.json    the figures so far, rewritten after every round
    RUN_DIR/run.lock        held while a process works in the directory (seal_agent.run.lock)

A user's directory is never treated as a run: `--resume` and the cleanup of a killed run's
leftovers act only where the marker is, and only on the names listed here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from pydantic import BaseModel

from seal_agent.config import ConfigError, dump_config, load_run_config

MARKER_FILE = "seal-run.json"
CONFIG_FILE = "config.yaml"
DB_FILE = "run.sqlite"
SUMMARY_FILE = "summary.json"
LOCK_FILE = "run.lock"

# What a run writes at the top of its directory, and nothing else: a new run that fails
# before any result removes these (and the marker and lock last), never other files.
RUN_ENTRIES = (
    CONFIG_FILE, DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", f"{DB_FILE}-journal", SUMMARY_FILE,
    "forgetting.json", "base_model", "policy", "continual", "vllm_adapters", "tensorboard",
)
# Every temporary name a run writes (`replaced_atomically`: NAME.tmp beside NAME), by folder.
# A killed process can leave these; they are the only leftovers a new start removes.
TEMPORARY_NAMES = {
    ".": re.compile(r"(seal-run\.json|config\.yaml|summary\.json|forgetting\.json)\.tmp"),
    "base_model": re.compile(r"tiny_recipe\.json\.tmp"),
    "policy": re.compile(r"(initial|round_\d+)\.tmp"),
    "continual": re.compile(r"step_\d+\.(safetensors|json)\.tmp"),
}
# What a new run killed while taking its directory can leave (the marker only when valid,
# and only while there is no config.yaml): such a directory still counts as empty.
PREPARATION_LEFTOVERS = (LOCK_FILE, f"{MARKER_FILE}.tmp", f"{CONFIG_FILE}.tmp")


class RunDirError(Exception):
    """The run directory cannot be used as asked: not empty, nothing to resume, or cannot be written."""


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


def read_marker(run_dir: Path) -> dict | None:
    """The run marker's content, or None where there is no valid one (not a run directory)."""
    try:
        marker = json.loads((Path(run_dir) / MARKER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and marker.get("seal_agent_run") == 1 else None


def is_run_dir(run_dir: Path) -> bool:
    return read_marker(run_dir) is not None


def describe(err: OSError) -> str:
    return err.strerror or str(err)


def saved_config(run_dir: Path, schema: type[BaseModel]):
    """The config a run directory was started with (what --resume continues)."""
    if not is_run_dir(run_dir) and (run_dir / CONFIG_FILE).is_file() and (run_dir / DB_FILE).is_file():
        # Runs started before the marker existed: the user vouches for them; nothing is guessed.
        raise RunDirError(
            f"{run_dir}: has no {MARKER_FILE}, so it is not known to be a seal run (runs started by versions before "
            f"the marker have none). If it is a run, mark it and resume again: "
            f"echo '{{\"seal_agent_run\": 1, \"created_directory\": false}}' > {run_dir / MARKER_FILE}"
        )
    if not is_run_dir(run_dir):
        raise RunDirError(
            f"{run_dir}: nothing to resume (no {MARKER_FILE}: not a directory a seal run was started in); "
            "start a run with --run-dir pointing at a new or empty directory"
        )
    if not (run_dir / CONFIG_FILE).exists():
        raise RunDirError(f"{run_dir}: nothing to resume (no {CONFIG_FILE}: the run was stopped while starting); "
                          "start a run there without --resume")
    if not os.access(run_dir, os.W_OK):  # a resumed run writes checkpoints and files there
        raise RunDirError(f"{run_dir}: cannot be written, so the run cannot go on there")
    return load_run_config(run_dir / CONFIG_FILE, schema)


def started_with(run_dir: Path, config: BaseModel) -> bool:
    """Whether `run_dir` holds a run started with `config` and cut before it finished: its
    checkpoints exist and its saved config.yaml is `config` (`saved_config_is`)."""
    return is_run_dir(run_dir) and (run_dir / DB_FILE).is_file() and saved_config_is(run_dir, config)


def saved_config_is(run_dir: Path, config: BaseModel) -> bool:
    """Whether the config.yaml saved in `run_dir`, read with this version's defaults for any
    setting added since, is `config` (paths made absolute, as a new run saves them)."""
    if not (run_dir / CONFIG_FILE).is_file():
        return False
    try:
        saved = load_run_config(run_dir / CONFIG_FILE, type(config))
    except ConfigError:  # written by a version whose settings this one no longer reads
        return False
    return saved.model_dump(mode="json") == config.with_absolute_paths().model_dump(mode="json")


def run_config(run_dir: Path, config, resume: bool, schema: type[BaseModel]):
    """The config a run in `run_dir` goes on with: the saved one on --resume; else `config`,
    with its file paths made absolute, once the directory looks free (nothing is created
    yet: the caller checks its inputs, then calls `create_run_dir`, which checks again)."""
    if resume:
        return saved_config(run_dir, schema)
    if config is None:
        raise ConfigError("a new run needs a config")
    check_new_run_dir(run_dir)
    return config.with_absolute_paths()  # config.yaml must mean the same from any directory


def check_new_run_dir(run_dir: Path) -> None:
    """A new run needs a directory that is absent or empty (but for what a new run killed
    while taking it left behind)."""
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: exists and is not a directory")
    marked = is_run_dir(run_dir)
    allowed = set(PREPARATION_LEFTOVERS) | ({MARKER_FILE} if marked else set())
    try:
        others = [p.name for p in run_dir.iterdir() if p.name not in allowed]
    except OSError as err:
        raise RunDirError(f"{run_dir}: cannot be read ({describe(err)})") from None
    if marked and CONFIG_FILE in others:
        raise RunDirError(f"{run_dir}: already holds a run; pass --resume to continue it, or choose another --run-dir")
    if others:
        raise RunDirError(f"{run_dir}: is not empty and holds no seal run; a new run needs a new or empty "
                          "directory, and --resume only continues a run seal started there")


def make_directory(run_dir: Path) -> bool:
    """Create `run_dir` (and missing parents); whether this call created it."""
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        run_dir.mkdir()
        return True
    except FileExistsError as err:
        if run_dir.is_dir():
            return False
        raise RunDirError(f"{run_dir}: cannot create the run directory ({err.filename} exists and is not a directory)") from None
    except OSError as err:
        raise RunDirError(f"{run_dir}: cannot create the run directory ({describe(err)})") from None


def create_run_dir(run_dir: Path, config: BaseModel) -> None:
    """Take the directory for a new run and write its marker and config.yaml: the last step
    of preparing a run.

    The lock comes first, then the emptiness check, then the writes: of two runs started
    together on one directory, one is refused by the lock or the check and writes nothing.
    The marker records whether the directory was made here, so a run that fails before any
    result removes only what it made (`remove_new_run_dir`).
    """
    from seal_agent.run.lock import RunLock  # lock.py builds on this module

    created = make_directory(run_dir)
    with RunLock(run_dir):
        check_new_run_dir(run_dir)
        previous = read_marker(run_dir)  # left by a new run killed while taking the directory
        created = created or bool(previous and previous.get("created_directory"))
        try:
            write_atomic(run_dir / MARKER_FILE, json.dumps({"seal_agent_run": 1, "created_directory": created}))
            write_atomic(run_dir / CONFIG_FILE, dump_config(config))
        except OSError as err:
            remove_entries(run_dir, (CONFIG_FILE, MARKER_FILE, *PREPARATION_LEFTOVERS))
            if created:
                with suppress(OSError):
                    run_dir.rmdir()
            raise RunDirError(f"{run_dir}: cannot write the run directory ({describe(err)})") from None


def remove_entries(run_dir: Path, names) -> None:
    """Remove the named files and folders of `run_dir` (a symlink itself, never its target)."""
    for name in names:
        path = run_dir / name
        with suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.is_symlink() or path.exists():
                path.unlink()


def remove_leftovers(run_dir: Path) -> None:
    """Remove the temporary files a killed process of this run left (call with the lock held).

    Only in a marked run directory, and only the run's own temporary names: any other file,
    whatever its name, stays.
    """
    if not is_run_dir(run_dir):
        return
    for folder, pattern in TEMPORARY_NAMES.items():
        directory = run_dir / folder
        if directory.is_symlink() or not directory.is_dir():
            continue
        try:
            names = [p.name for p in directory.iterdir() if pattern.fullmatch(p.name)]
        except OSError:
            continue
        remove_entries(directory, names)


def remove_new_run_dir(run_dir: Path, resume: bool) -> None:
    """Undo a new run that failed before any result: remove what it wrote, and the directory
    itself only if the run created it and nothing else is left in it.

    A resumed run keeps everything; so does a directory without the marker, or one that
    another process holds.
    """
    from seal_agent.run.lock import RunLock, RunLockedError  # lock.py builds on this module

    marker = None if resume else read_marker(run_dir)
    if marker is None:
        return
    try:
        with RunLock(run_dir):
            remove_leftovers(run_dir)
            remove_entries(run_dir, RUN_ENTRIES)
            remove_entries(run_dir, (MARKER_FILE,))  # last: until then the directory is still known as a run
    except RunLockedError:
        return
    remove_entries(run_dir, (LOCK_FILE,))
    if marker.get("created_directory"):
        with suppress(OSError):
            run_dir.rmdir()
