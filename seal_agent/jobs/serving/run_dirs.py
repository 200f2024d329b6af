"""Where a served run lives: RUN_ROOT/<domain>/<thread id>, and nowhere else.

No path comes from a request. The thread id (LangGraph's server makes it a UUID) must be a
plain name, so it cannot climb out (`..`, `/`); the domain folder and the run directory may
not be symbolic links, so a link planted in the root cannot lead a run elsewhere. A thread's
run directory is its own: another thread can neither name it nor resume it.
"""

from __future__ import annotations

import re
from pathlib import Path

from seal_agent.jobs.serving.request import ServedRequestError

THREAD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
DOMAINS = ("arc", "knowledge")


def served_run_dir(run_root: str | Path, domain: str, thread_id: object) -> Path:
    """The run directory of `thread_id`'s `domain` run under the server's `run_root`."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}")
    if not isinstance(thread_id, str) or not THREAD_NAME.fullmatch(thread_id):
        raise ServedRequestError(f"thread id {str(thread_id)[:80]!r}: a served run needs a thread whose id is a plain "
                                 "name (letters, digits, - and _), as the server's own UUIDs are")
    root = Path(run_root).resolve()  # the owner's root, wherever it points
    run_dir = root / domain / thread_id
    for path in (root / domain, run_dir):
        if path.is_symlink():
            raise ServedRequestError(f"thread {thread_id}: its run directory ({path.relative_to(root)}) is a symbolic "
                                     "link, and a served run stays inside the server's run root")
    return run_dir
