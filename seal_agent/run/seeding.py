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


SETTINGS_FILE = "table-settings.json"


def each_seed(seeds: list[int], work: Path, run_seed: Callable[[int, Path], dict[str, Any]],
              settings: dict[str, Any] | None = None, records: Path | None = None) -> list[dict[str, Any]]:
    """`run_seed(seed, work/seed-N)` for every seed, its result saved to `records/seed-N.json`
    (`records` defaults to `work`); a seed whose file exists is read back instead, so a long
    run can be cut and continued.

    `records` apart from `work` keeps the finished seeds where the bulky working directories
    are not: a folder committed beside the table, so that seeds run on different days or
    machines pool into one table after their working directories are gone.

    `settings` (`table_settings(args)`): what the seeds depend on. The first run saves them
    in records/table-settings.json; a later run with other settings is refused, so seeds run
    under one config are never pooled with seeds run under another."""
    records = Path(records) if records is not None else Path(work)
    if settings is not None:
        check_table_settings(records, settings)
    results = []
    for seed in seeds:
        saved = records / f"seed-{seed}.json"
        if saved.exists():
            print(f"seed {seed}: reusing {saved}", file=sys.stderr, flush=True)
            results.append(json.loads(saved.read_text()))
            continue
        results.append(run_seed(seed, Path(work) / f"seed-{seed}"))
        write_atomic(saved, json.dumps(results[-1], indent=1))  # a cut run never leaves half a file to reuse
    return results


def add_table_options(parser, default_seeds: str, model_help: str) -> None:
    """The options of every results table pooled over seeds: the model, the seeds, the ReST-EM
    rounds, a config layered over the table's own, and --work, --seed-records and --json as `each_seed` uses them."""
    parser.add_argument("--model", required=True, help=model_help)
    parser.add_argument("--seeds", default=default_seeds, type=lambda text: [int(s) for s in text.split(",")],
                        help="Comma-separated seeds; rows pool over them.")
    parser.add_argument("--rounds", type=int, default=2, help="ReST-EM rounds on the RL tasks or passages.")
    parser.add_argument("--config", type=Path, help="A YAML config layered over the table's own (e.g. a smaller budget).")
    parser.add_argument("--work", type=Path, help="Where the runs go (default: a temporary directory); finished seeds are reused.")
    parser.add_argument("--json", type=Path, help="Write the table and everything behind it here.")
    parser.add_argument("--seed-records", type=Path,
                        help="Keep each finished seed's record (seed-N.json) and the table's settings here instead of in "
                        "--work: a folder to commit, so that seeds pool into one table after their --work is gone.")


def table_settings(args: Any, leave_out: tuple[str, ...] = ("work", "json", "seeds", "seed_records"),
                   model_identity: Callable[[str | Path], Any] | None = None) -> dict[str, Any]:
    """A table script's options as the seeds depend on them: a file option's content rather
    than its name (a --config edited in place counts as another config), a directory option
    by its full path. File and directory options are those parsed as paths, and --model.

    `model_identity` (e.g. `seal_agent.model.tiny.model_identity`): what a --model directory
    counts as instead of its path, so that a `seal pretrain nano` model counts by its recipe:
    the same model rebuilt in another checkout pools with the seeds run on the first, and a
    model retrained in place with other settings does not."""
    settings = {}
    for key, value in sorted(vars(args).items()):
        if key in leave_out:
            continue
        path = Path(value) if isinstance(value, Path) or (key == "model" and isinstance(value, str)) else None
        if key == "model" and path is not None and path.is_dir() and model_identity is not None:
            value = model_identity(path)
        elif path is not None and path.is_file():
            value = {"file": path.name, "content": path.read_text()}
        elif path is not None and path.is_dir():
            value = str(path.resolve())
        elif path is not None:
            value = str(path)
        settings[key] = value
    return json.loads(json.dumps(settings, default=str))


def check_table_settings(work: Path, settings: dict[str, Any]) -> None:
    """Save `settings` in work/table-settings.json, or refuse if the saved ones differ. An
    option the saved file lacks (added to the script since) counts as the same while it is
    unset (None or False)."""
    saved = work / SETTINGS_FILE
    if not saved.exists():
        work.mkdir(parents=True, exist_ok=True)
        write_atomic(saved, json.dumps(settings, indent=1))
        return
    earlier = json.loads(saved.read_text())
    differ = sorted(k for k in set(earlier) | set(settings)
                    if earlier.get(k) != settings.get(k) and not (k not in earlier and settings.get(k) in (None, False)))
    if differ:
        raise SystemExit(f"{work}: its seeds were run with other settings ({', '.join(differ)} differ from {saved}); "
                         "give another --work, or the same options")
