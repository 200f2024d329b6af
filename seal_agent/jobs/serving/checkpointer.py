"""The served graphs' checkpoints, in SQLite in the server's run root (`langgraph.json`:
`"checkpointer": {"path": "./seal_agent/jobs/serving/checkpointer.py:checkpointer"}`).

LangGraph's dev server keeps threads' state in memory and writes it to `.langgraph_api/`
only now and then (this version of its in-memory runtime, not even that for checkpoints),
so a server killed mid-run would lose its threads' progress. With this, every step a
run completes is in RUN_ROOT/checkpoints.sqlite, as `seal run` keeps its own in
run.sqlite: a server killed and restarted retries the run, which goes on from its last
completed step. A deployment with its own durable checkpointer (Postgres) drops the entry.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from seal_agent.jobs.serving.server_config import load_server_config

CHECKPOINTS_FILE = "checkpoints.sqlite"


@asynccontextmanager
async def checkpointer():
    """One connection to the server's checkpoint database (LangGraph's server enters one per event loop)."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    root = Path(load_server_config().run_root)
    root.mkdir(parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(root / CHECKPOINTS_FILE)) as saver:
        await saver.setup()
        yield saver
