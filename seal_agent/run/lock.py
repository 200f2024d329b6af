"""One process per run directory: an exclusive lock on RUN_DIR/run.lock.

`fcntl.flock` locks belong to the open file: the kernel releases them when the process
exits, however it exits (SIGKILL included), so a killed run never leaves a stale lock
and `--resume` can always take it. A second `seal run` on the same directory refuses
with the holder's pid; runs on different directories never touch each other.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from seal_agent.run.directory import LOCK_FILE, RunDirError


class RunLockedError(RunDirError):
    """The run directory cannot be taken: another process holds it, or its lock file cannot be opened."""


class RunLock:
    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_FILE
        self.handle = None

    def acquire(self) -> "RunLock":
        try:  # no mkdir: a lock never creates the directory it guards
            handle = open(self.path, "a+")
        except OSError as err:
            raise RunLockedError(f"{self.path.parent}: cannot lock the run directory ({err.strerror or err})") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise RunLockedError(
                f"{self.path.parent}: another seal process (pid {holder}) is using this run directory; "
                "wait for it to finish, or choose another --run-dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self.handle = handle
        return self

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
