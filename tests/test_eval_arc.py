"""`seal eval arc`: every row scored through the execute node's path, the rows the user named, the
JSON and run directory it writes, and a clear exit 2 for each bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from langgraph.runtime import Runtime
from typer.testing import CliRunner

from seal_agent.cli import app
from seal_agent.model.adapters import POLICY_ADAPTER
from seal_agent.rl.sft import save_policy
from seal_agent.jobs.arc import build_context, prepare_run

from .conftest import SMALL_TINY, fast_config

TASKS = ["6e02f1e3", "6150a2bd"]
EDIT = [{"name": "data_generation", "arguments": {"use_basic_augmentations": True, "use_size_augmentations": False,
                                                 "use_chain_augmentations": False, "use_repeat_augmentations": False}},
        {"name": "train", "arguments": {"learning_rate": 0.003, "num_train_epochs": 2, "strategy": "output_tokens"}}]


def run_cli(*args: str):
    return CliRunner().invoke(app, ["eval", "arc", *args])


def plain(output: str) -> str:
    return " ".join(output.split())  # rich wraps long lines at the terminal width


@pytest.fixture()
def config_file(tmp_path) -> Path:
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump({
        "model": {"tiny": SMALL_TINY}, "data": {"tasks": TASKS},
        "ttt": {"max_steps": 24, "max_examples": 8}, "eval": {"max_new_tokens": 16, "self_edits_per_task": 2},
    }))
    return path


def test_a_fixed_self_edit_earns_what_the_execute_node_gives_it(tmp_path):
    from seal_agent.graphs.arc import execute
    from seal_agent.arc.sources import evaluate_arc, fixed_source

    ctx = build_context(prepare_run(fast_config(), tmp_path / "run", resume=False))
    text = json.dumps(EDIT, separators=(", ", ": "))
    candidates = [{"candidate": i, "completion": text, "invalid_tool_calls": [],
                   "tool_calls": [{"name": c["name"], "args": c["arguments"]} for c in EDIT]} for i in range(2)]
    for task_id in TASKS:
        execute({"round": 1, "task_id": task_id, "candidates": candidates}, Runtime(context=ctx))
    by_node = {(r["task_id"], r["candidate"]): r for r in ctx.traces.candidates(round=1)}

    ctx2 = build_context(prepare_run(fast_config(), tmp_path / "eval", resume=False))
    results = evaluate_arc(ctx2, [fixed_source("fixed", EDIT)], self_edits_per_task=2, no_update=False)
    by_eval = {(r["task_id"], r["candidate"]): r for r in ctx2.traces.candidates(round=1)}
    assert by_eval.keys() == by_node.keys() and len(by_eval) == 4
    for key, row in by_eval.items():
        assert row["status"] == by_node[key]["status"] == "ok"
        for field in ("reward", "loss_curve", "predictions", "raw_outputs", "data_counts"):
            assert row[field] == by_node[key][field], field
    assert results["rows"][0]["solved"] == sum(r["reward"] for r in by_node.values())


def test_policy_rows_sample_from_the_named_checkpoint(tmp_path, config_file):
    from seal_agent.arc.config import RunConfig
    from seal_agent.arc.prompts import prompt_options, self_edit_messages
    from seal_agent.policy.tool_format import openai_tools
    from seal_agent.run.seeding import derive_seed

    # A policy checkpoint that differs from the initial policy, saved as a run's round 1.
    config = RunConfig.resolve(config_file=config_file)
    ctx = build_context(prepare_run(config, tmp_path / "maker", resume=False))
    with torch.no_grad():
        for name, param in ctx.engine.model.named_parameters():
            if f".{POLICY_ADAPTER}." in name and "lora_B" in name:
                param.add_(torch.randn_like(param) * 0.5)
    checkpoint = save_policy(ctx.engine.model, tmp_path / "trained" / "policy" / "round_1")
    task = ctx.tasks[TASKS[0]]
    messages = self_edit_messages(task, ctx.tools, **prompt_options(config.policy))
    name = "policy round_1"
    expected = ctx.policy.generate([messages], tools=openai_tools(ctx.tools), n=2,
                                   seed=derive_seed(config.seed, "eval", name, task.task_id))
    expected = [g.message.text for g in expected.generations[0]]

    out = tmp_path / "eval"
    result = run_cli("--config", str(config_file), "--policy", "initial", "--policy", str(checkpoint), "--out", str(out),
                     "--skip-no-update", "--json", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert [r["name"] for r in rows] == ["policy initial", name]
    assert rows[1]["detail"]["checkpoint"] == str(checkpoint.resolve())
    from seal_agent.run.traces import TraceStore

    traced = TraceStore(out / "run.sqlite").candidates(round=2, task_id=task.task_id)
    assert [r["completion"] for r in traced] == expected
    initial = TraceStore(out / "run.sqlite").candidates(round=1, task_id=task.task_id)
    assert [r["completion"] for r in initial] != expected  # the rows really used different policies


def test_a_chat_model_row_and_the_results_json(tmp_path, config_file):
    text = json.dumps(EDIT)
    overlay = yaml.safe_load(config_file.read_text())
    overlay["eval"]["teacher"] = {"class_path": "langchain_core.language_models.fake_chat_models.FakeListChatModel",
                                  "kwargs": {"responses": [text, "not a self-edit"]}}
    config_file.write_text(yaml.safe_dump(overlay))
    out, results_path = tmp_path / "eval", tmp_path / "results.json"
    result = run_cli("--config", str(config_file), "--self-edit", f"mine={json.dumps(EDIT)}", "--out", str(out),
                     "--json", str(results_path))
    assert result.exit_code == 0, result.output
    results = json.loads(results_path.read_text())
    assert results["tasks"] == TASKS and results["self_edits_per_task"] == 2
    assert [r["name"] for r in results["rows"]] == ["no update", "mine", "teacher FakeListChatModel"]
    for row in results["rows"]:
        assert {"name", "kind", "success", "ci_low", "ci_high", "solved", "n", "per_task"} <= row.keys()
        assert row["ci_low"] <= row["success"] <= row["ci_high"]
        assert sum(t["n"] for t in row["per_task"].values()) == row["n"]
    no_update, mine, teacher = results["rows"]
    assert no_update["n"] == 2 and mine["n"] == teacher["n"] == 4
    assert mine["valid_fraction"] == 1.0 and mine["choices"]["augmentations"] == {"use_basic_augmentations": 1.0}
    # The fake model answers in turn: its valid self-edit, then text that is no self-edit (rejected).
    assert teacher["valid_fraction"] == 0.5
    # The eval is a run directory: the trace commands and the report read it.
    summary = json.loads((out / "summary.json").read_text())
    assert [r["name"] for r in summary["rounds"]] == ["mine", "teacher FakeListChatModel"]
    listing = CliRunner().invoke(app, ["trace", "list", str(out)])
    assert listing.exit_code == 0 and "6e02f1e3" in listing.output
    report = CliRunner().invoke(app, ["report", str(out), "-o", str(tmp_path / "r.html")])
    assert report.exit_code == 0 and "teacher FakeListChatModel" in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize("args, message", [
    (["--tasks", "nosuchid"], "no task with id 'nosuchid'"),
    (["--tasks", ","], "--tasks names no task"),
    (["--policy", "{tmp}"], "not a policy checkpoint"),
    (["--policy", "latest"], "give --run-dir"),
    (["--self-edit", "[{oops"], "not valid JSON"),
    pytest.param(["--self-edit", "[" * 50_000 + "]" * 50_000], "not valid JSON: nested too deeply", id="deep-self-edit"),
    (["--self-edit", '[{"name": "explode", "arguments": {}}]'], "unknown tool"),
    (["--run-dir", "{tmp}"], "not a run directory"),
])
def test_bad_input_exits_2_before_any_work(tmp_path, config_file, args, message):
    out = tmp_path / "eval"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--run-dir" not in args:
        args = ["--config", str(config_file), *args]
    result = run_cli(*args, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert message in plain(result.output)
    assert not out.exists()  # nothing left behind
