"""The benchmark scripts run and write the JSON they promise (slow: run with -m slow)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_inner_loop_benchmark_writes_its_records(tmp_path):
    out = tmp_path / "inner.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "inner_loop.py"), "--preset", "cpu", "--ks", "1,2",
                    "--json", str(out)], check=True, timeout=600)
    records = json.loads(out.read_text())["records"]
    assert [r["k"] for r in records] == [1, 2]
    for record in records:
        for key in ("k", "sequential_per_hour", "batched_per_hour", "speedup", "train_tokens_per_s",
                    "fraction_of_matmul", "peak_memory_bytes"):
            assert key in record
        assert record["failures"] == 0 and record["speedup"] > 0
