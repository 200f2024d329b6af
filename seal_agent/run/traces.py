"""Every decision of a run, in the run's SQLite database beside LangGraph's checkpoints.

One row per candidate self-edit (an ARC task's, or a passage's in knowledge runs, whose
passage id goes in `task_id`): the prompt, the raw completion, the tool calls, whether
they validated (and why not), the TTT data counts and a sample, the training settings
and loss curve, the prediction, the reward and the seconds spent. Rows are keyed by
(round, task, candidate) and written with an upsert, so a step that is re-run after a
crash rewrites its own row instead of adding a second one.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

SCHEMA = """
CREATE TABLE IF NOT EXISTS candidates (
    round INTEGER NOT NULL,
    task_id TEXT NOT NULL,
    candidate INTEGER NOT NULL,
    status TEXT NOT NULL,          -- ok | rejected | failed
    reason TEXT,                   -- why rejected or failed
    reward REAL NOT NULL,
    tool_names TEXT,               -- JSON list
    tool_calls TEXT,               -- JSON list of {name, args}
    completion TEXT,               -- what the policy wrote, verbatim
    prompt TEXT,
    training TEXT,                 -- JSON {learning_rate, num_train_epochs, strategy, from_defaults}
    data_counts TEXT,              -- JSON
    data_sample TEXT,
    loss_curve TEXT,               -- JSON list, one loss per step
    predictions TEXT,              -- JSON: per test input, the list of attempted grids
    votes TEXT,                    -- JSON: per test input, the top answers with their views and votes
    raw_outputs TEXT,              -- JSON list of strings
    seconds REAL,
    timings TEXT,                  -- JSON {data, train, eval}
    metrics TEXT,                  -- JSON, knowledge runs: scores per seed, base, improvement
    PRIMARY KEY (round, task_id, candidate)
);
CREATE TABLE IF NOT EXISTS computations (  -- append-only: one row each time a task's candidates were computed
    round INTEGER NOT NULL,
    task_id TEXT NOT NULL,
    candidates INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    at REAL NOT NULL               -- unix time the candidates were recorded
);
CREATE TABLE IF NOT EXISTS baseline (
    task_id TEXT PRIMARY KEY,
    solved INTEGER NOT NULL,
    predictions TEXT,
    raw_outputs TEXT,
    seconds REAL,
    metrics TEXT                   -- JSON, knowledge runs: the base model's scores
);
"""

JSON_COLUMNS = {
    "tool_names", "tool_calls", "training", "data_counts", "loss_curve", "predictions", "votes", "raw_outputs", "timings",
    "metrics",
}
CANDIDATE_COLUMNS = [
    "round", "task_id", "candidate", "status", "reason", "reward", "tool_names", "tool_calls", "completion",
    "prompt", "training", "data_counts", "data_sample", "loss_curve", "predictions", "votes", "raw_outputs", "seconds", "timings", "metrics",
]


def connect(db_path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(db_path), check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def open_read_only(db_path: str | Path) -> sqlite3.Connection:
    """A connection that cannot change the database, for inspecting a run, finished or going.

    While a run writes, its `-wal` file exists and a read-only connection sees its latest
    commits. Without one nobody is writing, and `immutable` reads without creating the
    `-wal` and `-shm` files a read-only connection would otherwise leave beside the database.
    """
    path = Path(db_path).resolve()
    immutable = "" if path.with_name(path.name + "-wal").exists() else "&immutable=1"
    return sqlite3.connect(f"file:{quote(str(path))}?mode=ro{immutable}", uri=True, check_same_thread=False, timeout=30)


def select_candidates(conn: sqlite3.Connection, round: int | None = None, task_id: str | None = None) -> list[dict[str, Any]]:
    query, args = "SELECT * FROM candidates WHERE 1=1", []
    if round is not None:
        query += " AND round = ?"
        args.append(round)
    if task_id is not None:
        query += " AND task_id = ?"
        args.append(task_id)
    query += " ORDER BY round, task_id, candidate"
    cursor = conn.execute(query, args)
    names = [d[0] for d in cursor.description]
    rows = []
    for values in cursor.fetchall():
        row = dict(zip(names, values))
        for key in JSON_COLUMNS & row.keys():
            row[key] = json.loads(row[key]) if row[key] is not None else None
        rows.append(row)
    return rows


def select_baseline(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    cursor = conn.execute("SELECT task_id, solved, predictions, raw_outputs, seconds, metrics FROM baseline ORDER BY task_id")
    return [
        {"task_id": t, "solved": bool(s), "predictions": json.loads(p), "raw_outputs": json.loads(r or "null"),
         "seconds": sec, "metrics": json.loads(m or "null")}
        for t, s, p, r, sec, m in cursor.fetchall()
    ]


def read_traces(db_path: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(candidates, baseline) of a run's database, read without changing it; a database with
    no trace tables yet (a run that has just started) has none of either.

    Raises sqlite3.Error for a file that is not a database, ValueError for a damaged row.
    """
    conn = open_read_only(db_path)
    try:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        candidates = select_candidates(conn) if "candidates" in tables else []
        baseline = select_baseline(conn) if "baseline" in tables else []
        return candidates, baseline
    finally:
        conn.close()


class TraceStore:
    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)
        self.conn = connect(self.db_path)
        self.lock = threading.Lock()  # one connection, shared by the graph's branch threads
        self.conn.executescript(SCHEMA)
        self.conn.commit()

    def record_candidate(self, row: dict[str, Any]) -> None:
        self.record_candidates([row])

    def record_candidates(self, rows: list[dict[str, Any]]) -> None:
        """Upsert the rows and log one computation per (round, task), in one transaction.

        The `computations` log is never rewritten, so it shows how often a task was
        computed: more than once only when a run was killed before its result was
        checkpointed.
        """
        placeholders = ", ".join("?" for _ in CANDIDATE_COLUMNS)
        now = time.time()
        with self.lock, self.conn:
            for row in rows:
                values = [json.dumps(row.get(c)) if c in JSON_COLUMNS else row.get(c) for c in CANDIDATE_COLUMNS]
                self.conn.execute(
                    f"INSERT OR REPLACE INTO candidates ({', '.join(CANDIDATE_COLUMNS)}) VALUES ({placeholders})", values
                )
            for (round_, task_id), count in Counter((r["round"], r["task_id"]) for r in rows).items():
                self.conn.execute("INSERT INTO computations VALUES (?, ?, ?, ?, ?)", (round_, task_id, count, os.getpid(), now))

    def computations(self) -> list[dict[str, Any]]:
        cursor = self.conn.execute("SELECT round, task_id, candidates, pid, at FROM computations ORDER BY rowid")
        return [dict(zip(("round", "task_id", "candidates", "pid", "at"), values)) for values in cursor.fetchall()]

    def record_baseline(
        self, task_id: str, solved: bool, predictions, raw_outputs, seconds: float, metrics: dict | None = None
    ) -> None:
        with self.lock, self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO baseline VALUES (?, ?, ?, ?, ?, ?)",
                (task_id, int(solved), json.dumps(predictions), json.dumps(raw_outputs), seconds, json.dumps(metrics)),
            )

    def candidates(self, round: int | None = None, task_id: str | None = None) -> list[dict[str, Any]]:
        return select_candidates(self.conn, round, task_id)

    def baseline(self) -> list[dict[str, Any]]:
        return select_baseline(self.conn)

    def close(self) -> None:
        self.conn.close()
