"""Seeds derived from the run's seed and a step's identity, independent of execution order;
and results computed once per seed (the benchmark tables pool over seeds).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seal_agent.run.directory import write_atomic


def derive_seed(*parts: object) -> int:
    """A 31-bit seed from the parts (e.g. run seed, round, task id, candidate)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def each_seed(seeds: list[int], work: Path, run_seed: Callable[[int, Path], dict[str, Any]]) -> list[dict[str, Any]]:
    """`run_seed(seed, work/seed-N)` for every seed, its result saved to `work/seed-N.json`;
    a seed whose file exists is read back instead, so a long run can be cut and continued."""
    results = []
    for seed in seeds:
        saved = Path(work) / f"seed-{seed}.json"
        if saved.exists():
            print(f"seed {seed}: reusing {saved}", file=sys.stderr, flush=True)
            results.append(json.loads(saved.read_text()))
            continue
        results.append(run_seed(seed, Path(work) / f"seed-{seed}"))
        write_atomic(saved, json.dumps(results[-1], indent=1))  # a cut run never leaves half a file to reuse
    return results


def add_table_options(parser, default_seeds: str, model_help: str) -> None:
    """The options of every results table pooled over seeds: the model, the seeds, the ReST-EM
    rounds, a config layered over the table's own, and --work and --json as `each_seed` uses them."""
    parser.add_argument("--model", required=True, help=model_help)
    parser.add_argument("--seeds", default=default_seeds, type=lambda text: [int(s) for s in text.split(",")],
                        help="Comma-separated seeds; rows pool over them.")
    parser.add_argument("--rounds", type=int, default=2, help="ReST-EM rounds on the RL tasks or passages.")
    parser.add_argument("--config", type=Path, help="A YAML config layered over the table's own (e.g. a smaller budget).")
    parser.add_argument("--work", type=Path, help="Where the runs go (default: a temporary directory); finished seeds are reused.")
    parser.add_argument("--json", type=Path, help="Write the table and everything behind it here.")
