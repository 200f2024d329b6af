"""The runs going on in a server: each one's context (model, engines, policy, traces), at most N.

A served run takes its place when it starts (`LiveRuns.open`), its context is built by its
first node (`LiveRuns.context`: LangGraph's server wants graph factories quick), and it is
released when it ends, fails or is cancelled (`LiveRuns.release`), and every one on server
shutdown (`release_all`): its traces closed, its engines shut down, its run directory's temporary
leftovers removed and its lock let go, and its model freed. So memory after many runs is
what it is after one. A run started while `limit` runs are going on is refused
(`ServerBusyError`, shown to the client); so is a second run on a thread whose run is
still going on. A new run whose context cannot be built leaves nothing in its directory.

While a run is live its directory is locked (`seal_agent.run.lock`): a second server on the
same run root cannot take it either.
"""

from __future__ import annotations

import ctypes
import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seal_agent.graphs.serving import SERVED_NODES
from seal_agent.run.directory import CONFIG_FILE, is_run_dir, remove_leftovers, remove_new_run_dir
from seal_agent.run.lock import RunLock

Key = tuple[str, str]  # (domain, thread id)


class ServerBusyError(RuntimeError):
    """The server runs as many runs as it may; the message says so (shown to the client)."""


@dataclass
class LiveRun:
    run_dir: Path
    prepare: Callable[[Path, bool], Any]
    build: Callable[[Any], Any]
    close: Callable[[Any], None]
    context: Any = None
    lock: RunLock | None = None
    failure: BaseException | None = None


def is_resumed(run_dir: Path) -> bool:
    """Whether `run_dir` holds a run started earlier (a restarted server, a resumed thread)."""
    return is_run_dir(run_dir) and (run_dir / CONFIG_FILE).is_file()


class LiveRuns:
    def __init__(self, limit: int, wait_for_thread_s: float = 30.0):
        self.limit = limit
        self.wait_for_thread_s = wait_for_thread_s  # a thread's previous run may still be releasing
        self._runs: dict[Key, LiveRun] = {}
        self._guard = threading.Lock()

    def __len__(self) -> int:
        with self._guard:
            return len(self._runs)

    def open(self, key: Key, run_dir: Path, prepare: Callable[[Path, bool], Any], build: Callable[[Any], Any],
             close: Callable[[Any], None]) -> None:
        """Take a place for `key`'s run in `run_dir` (or refuse: `ServerBusyError`); its context
        is built by its first node (`context`) and let go by `release(key)`.

        `prepare(run_dir, resume)` checks the inputs and (a new run) takes the directory;
        `build(prepared)` makes the context; `close(context)` lets its resources go."""
        deadline = time.monotonic() + self.wait_for_thread_s
        while True:
            with self._guard:
                if key not in self._runs:
                    if len(self._runs) >= self.limit:
                        raise ServerBusyError(f"the server is busy: it runs at most {self.limit} runs at once "
                                              "(max_concurrent_runs); start this run again when one has ended")
                    self._runs[key] = LiveRun(run_dir, prepare, build, close)
                    return
            if time.monotonic() > deadline:
                raise ServerBusyError(f"thread {key[1]} already has a run going on in this server ({key[0]}); "
                                      "wait for it to end, or cancel it")
            time.sleep(0.1)

    def context(self, key: Key) -> Any:
        """The context of `key`'s run, built the first time. Called by the run's nodes, which
        hold `SERVED_NODES`: building seeds torch's global generator, as a node does."""
        with self._guard:
            live = self._runs.get(key)
        if live is None:
            raise RuntimeError(f"no {key[0]} run is going on for thread {key[1]} in this server (it ended, or was "
                               "cancelled); a served graph runs under LangGraph's server, which opens it")
        if live.failure is not None:
            raise live.failure
        if live.context is None:
            try:
                live.context = self._build(live)
            except BaseException as err:
                live.failure = err
                raise
        return live.context

    @staticmethod
    def _build(live: LiveRun) -> Any:
        resume = is_resumed(live.run_dir)
        try:
            if resume:
                live.lock = RunLock(live.run_dir).acquire()
                prepared = live.prepare(live.run_dir, True)
            else:
                prepared = live.prepare(live.run_dir, False)
                live.lock = RunLock(live.run_dir).acquire()
            remove_leftovers(live.run_dir)  # what a killed server left, with the lock held
            return live.build(prepared)
        except BaseException:
            if live.lock is not None:
                live.lock.release()
                live.lock = None
            remove_new_run_dir(live.run_dir, resume)  # a new run that could not start leaves nothing
            raise

    def release(self, key: Key) -> None:
        """Let `key`'s run go: waits for its node in progress, if any, then frees everything."""
        with SERVED_NODES:
            with self._guard:
                live = self._runs.pop(key, None)
            if live is None:
                return
            try:
                if live.context is not None:
                    live.close(live.context)
            finally:
                if live.lock is not None:
                    remove_leftovers(live.run_dir)
                    live.lock.release()
                del live
                free_memory()

    def release_all(self) -> None:
        with self._guard:
            keys = list(self._runs)
        for key in keys:
            self.release(key)


def free_memory() -> None:
    """Collect what a released run held and hand the freed heap back to the system (glibc),
    so a long-lived server's memory follows the runs going on, not the runs it has served."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
