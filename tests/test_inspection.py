"""Inspecting a run: trace commands, streaming lines, the HTML report in a real browser,
experiment trackers, and the graphs declared in langgraph.json."""

from __future__ import annotations

import asyncio
import csv
import re
import importlib.util
import io
import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from langchain_core.messages import AIMessage
from langgraph.graph.state import CompiledStateGraph, StateGraph
from typer.testing import CliRunner

from seal_agent.cli import app
from seal_agent.inspect.report import build_report
from seal_agent.inspect.streaming import describe_update
from seal_agent.inspect.trackers import TrackerFeed, open_trackers
from seal_agent.jobs.arc import build_context, prepare_run, run_arc
from tests.conftest import fast_config

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = ("<script>document.title='PWNED';window.__pwned=1</script>"
           "<img src=x onerror=\"window.__pwned=2;document.title='PWNED'\">")
runner = CliRunner()


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory) -> Path:
    """A small ARC run in which one self-edit's text carries HTML and script payloads."""
    prepared = prepare_run(fast_config(rounds=1), tmp_path_factory.mktemp("hostile") / "run", resume=False)
    ctx = build_context(prepared)
    original = ctx.policy.generate

    def generate_with_payload(*args, **kwargs):
        result = original(*args, **kwargs)
        hostile = AIMessage(content=PAYLOAD, tool_calls=[], invalid_tool_calls=[
            {"name": None, "args": PAYLOAD, "id": "call_0", "error": "not valid JSON: " + PAYLOAD, "type": "invalid_tool_call"}])
        result.generations[0][0].message = hostile
        return result

    object.__setattr__(ctx.policy, "generate", generate_with_payload)
    run_arc(prepared, context=ctx)
    ctx.traces.close()
    return prepared.run_dir


def candidates_of(run_dir: Path) -> list[dict]:
    result = runner.invoke(app, ["trace", "export", str(run_dir), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_trace_export_jsonl_and_csv_hold_every_candidate(hostile_run, tmp_path):
    rows = candidates_of(hostile_run)
    assert len(rows) == 2 * 3  # 2 tasks x 3 candidates, one round
    assert any(r["completion"] == PAYLOAD for r in rows)
    out = tmp_path / "c.csv"
    assert runner.invoke(app, ["trace", "export", str(hostile_run), "--format", "csv", "-o", str(out)]).exit_code == 0
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(table) == len(rows) and json.loads(table[0]["tool_names"]) is not None or table[0]["tool_names"] == "null"
    assert runner.invoke(app, ["trace", "export", str(hostile_run), "--format", "xml"]).exit_code == 2


def test_trace_list_and_show_filters(hostile_run):
    listed = runner.invoke(app, ["trace", "list", str(hostile_run)], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "6e02f1e3" in listed.output and "6150a2bd" in listed.output
    rows = candidates_of(hostile_run)
    wide = {"COLUMNS": "400"}
    shown = runner.invoke(app, ["trace", "show", str(hostile_run), "--status", "rejected"], env=wide)
    rejected = [r for r in rows if r["status"] == "rejected"]
    assert shown.exit_code == 0 and f"({len(rejected)} of {len(rows)})" in shown.output
    assert "<script>" in shown.output  # shown literally
    shown = runner.invoke(app, ["trace", "show", str(hostile_run), "--task", "6e02f1e3", "--candidate", "1"], env=wide)
    assert f"(1 of {len(rows)})" in shown.output
    with_tool = [r for r in rows if "train" in (r["tool_names"] or [])]
    shown = runner.invoke(app, ["trace", "show", str(hostile_run), "--tool", "train"], env=wide)
    assert f"({len(with_tool)} of {len(rows)})" in shown.output
    shown = runner.invoke(app, ["trace", "show", str(hostile_run), "--min-reward", "2"], env=wide)
    assert f"(0 of {len(rows)})" in shown.output
    grids = runner.invoke(app, ["trace", "show", str(hostile_run), "--task", "6e02f1e3", "--grids"], env=wide)
    assert grids.exit_code == 0 and "target" in grids.output and "test input" in grids.output
    assert runner.invoke(app, ["trace", "list", str(hostile_run.parent / "nothing")]).exit_code == 2


def test_inspecting_a_run_changes_none_of_its_files(hostile_run, tmp_path):
    def snapshot() -> dict[str, bytes]:
        return {str(p.relative_to(hostile_run)): p.read_bytes() for p in sorted(hostile_run.rglob("*")) if p.is_file()}

    before = snapshot()
    for command in (["trace", "list"], ["trace", "show", "--grids"], ["trace", "show", "--full"], ["trace", "export"]):
        assert runner.invoke(app, command[:2] + [str(hostile_run)] + command[2:]).exit_code == 0
    assert runner.invoke(app, ["report", str(hostile_run), "-o", str(tmp_path / "r.html")]).exit_code == 0
    assert snapshot() == before


def test_report_is_self_contained_and_escapes_model_text(hostile_run):
    html = build_report(hostile_run)
    assert PAYLOAD not in html and "&lt;script&gt;" in html
    assert "<script" not in html.lower()
    for external in ("http://", "https://", "//cdn", "@import"):
        assert external not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert not re.search(r"url\((?!#)", html)  # only in-document references (SVG markers)
    assert "Content-Security-Policy" in html and "script-src 'none'" in html


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            real = Path("/usr/lib/chromium/chromium")  # Debian's wrapper script execs this
            return str(real) if real.exists() else found
    return None


def test_report_in_headless_chromium(hostile_run, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium on this machine (.ci/run installs Debian's chromium package)")
    report = tmp_path / "report.html"
    assert runner.invoke(app, ["report", str(hostile_run), "-o", str(report)]).exit_code == 0
    expected_rows = len(candidates_of(hostile_run))
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        errors, dialogs = [], []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        for summary in page.locator("tr.candidate > td > details > summary").all():
            summary.click()  # open every drill-down: the payload is inside one
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.title() != "PWNED" and not dialogs
        assert errors == []
        text = page.inner_text("body")
        assert "<script>document.title='PWNED'" in text and "onerror=" in text  # visible, as text
        assert page.locator("table#candidates > tbody > tr").count() == expected_rows
        assert page.locator("svg").count() > 5
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_knowledge_report_shows_answers_before_and_after(tmp_path):
    from tests.test_knowledge_graph import knowledge_config
    from seal_agent.jobs.knowledge import prepare_knowledge_run, run_knowledge

    prepared = prepare_knowledge_run(knowledge_config(rounds=1), tmp_path / "k", resume=False)
    run_knowledge(prepared)
    html = build_report(prepared.run_dir)
    assert "answer before" in html and "answer after" in html and "What is" in html
    assert html.count("<tr class='candidate") == 2 * 2


def test_stream_lines_are_compact_and_carry_no_model_text():
    line = describe_update("execute", {"results": [
        {"round": 1, "task_id": "t1", "candidate": 0, "status": "ok", "reward": 1.0, "completion": PAYLOAD},
        {"round": 1, "task_id": "t1", "candidate": 1, "status": "rejected", "reward": 0.0, "completion": PAYLOAD}]})
    assert line.startswith("[execute]") and "ok 1, rejected 1" in line and "rewards 1 0" in line and "<script>" not in line
    assert "round 2" in describe_update("reinforce", {"rounds": [{"round": 2, "mean_reward": 0.5, "policy_updated": True, "seconds": 1.0}]})
    assert "3 self-edits" in describe_update("propose", {"proposals": [{"round": 1, "task_id": "t", "completions": ["a", "b", "c"], "seconds": 0.2}]})


def test_cli_stream_prints_a_line_per_node(tmp_path):
    config = tmp_path / "k.yaml"
    from tests.test_knowledge_graph import knowledge_config

    config.write_text(json.dumps(knowledge_config(rounds=1).model_dump(mode="json")))
    result = runner.invoke(app, ["run", "knowledge", "--config", str(config), "--run-dir", str(tmp_path / "r"), "--stream"])
    assert result.exit_code == 0, result.output
    for node in ("[baseline]", "[propose]", "[execute]", "[reinforce]"):
        assert node in result.output


def test_tensorboard_tracker_records_round_and_candidate_scalars(hostile_run, tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is in the dev extra")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "copy"
    shutil.copytree(hostile_run, run_dir)
    feed = TrackerFeed(open_trackers(["tensorboard"], run_dir, {"seed": 0}), run_dir)
    feed.step = 0
    rows = candidates_of(run_dir)
    feed("execute", {"results": [{k: r[k] for k in ("round", "task_id", "candidate", "reward", "seconds")} for r in rows]})
    summary = json.loads((run_dir / "summary.json").read_text())
    feed("reinforce", {"rounds": summary["rounds"]})
    feed.close()
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"candidate/reward", "candidate/seconds", "candidate/final_loss", "candidate/data_size",
            "round/success_rate", "round/mean_reward", "round/valid_fraction"} <= tags
    assert len(events.Scalars("candidate/reward")) == len(rows)
    assert events.Scalars("round/mean_reward")[0].value == pytest.approx(summary["rounds"][0]["mean_reward"])


def test_a_run_logged_to_mlflow_reads_back_through_mlflows_client(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="mlflow is in the dev extra")
    from mlflow import MlflowClient

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)  # how a user points seal at a tracking server or store
    run_dir = tmp_path / "knowledge-run"
    result = runner.invoke(app, ["run", "knowledge", "--preset", "smoke", "--rounds", "1", "--passages", "2",
                                 "--log-to", "mlflow", "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    client = MlflowClient(store)
    (run,) = client.search_runs(experiment_ids=[client.get_experiment_by_name("Default").experiment_id])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert run.info.run_name == "knowledge-run" and run.info.status == "FINISHED"
    assert run.data.params["seed"] == str(summary["seed"]) and run.data.params["mode"] == "single"
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert run.data.params["update.lora.rank"] == str(saved["update"]["lora"]["rank"])  # the config, flattened
    (mean_reward,) = client.get_metric_history(run.info.run_id, "round/mean_reward")
    assert mean_reward.step == 1 and mean_reward.value == pytest.approx(summary["rounds"][0]["mean_reward"])
    rewards = client.get_metric_history(run.info.run_id, "candidate/reward")
    assert len(rewards) == summary["rounds"][0]["candidates"] and len({m.step for m in rewards}) == len(rewards)


def test_unknown_tracker_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["run", "knowledge", "--log-to", "wandb", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and "unknown tracker" in result.output and not (tmp_path / "r").exists()


def test_every_graph_in_langgraph_json_loads_and_compiles():
    spec = json.loads((ROOT / "langgraph.json").read_text())
    assert spec["graphs"]
    for name, target in spec["graphs"].items():
        path, attr = target.split(":")
        module_spec = importlib.util.spec_from_file_location(f"langgraph_json_{name}", ROOT / path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module  # as a module loader does: dataclasses look it up
        try:
            module_spec.loader.exec_module(module)
        finally:
            del sys.modules[module_spec.name]
        graph = getattr(module, attr)
        if callable(graph):  # a graph factory, entered per run and per read, as LangGraph's server does
            from langgraph_sdk.runtime import _ReadRuntime

            async def read(factory=graph):
                async with factory({"configurable": {}}, _ReadRuntime(access_context="assistants.read", store=None)) as built:
                    return built

            graph = asyncio.run(read())
        if isinstance(graph, StateGraph):
            graph = graph.compile()
        assert isinstance(graph, CompiledStateGraph), name
        nodes = set(graph.get_graph().nodes)
        assert {"baseline", "propose", "execute", "reinforce"} <= nodes, (name, nodes)


def test_bar_chart_labels_keep_numbers_whole_and_fit_long_names():
    import re

    from seal_agent.inspect.svg_charts import bar_chart

    svg = bar_chart("learning rate", ["0.003", "0.0003"], {"candidates": [3, 1]})
    labels = re.findall(r"</title>([^<]*)</text>", svg)
    assert labels == ["0.003", "0.0003"]
    names = [f"my_plugin.a_rather_long_augmentation_tool_number_{i}" for i in range(12)]
    svg = bar_chart("tool choice", names, {"chosen": list(range(12))})
    width = float(re.search(r'width="(\d+)"', svg).group(1))
    room = (width - 56 - 12) / len(names)
    for label in re.findall(r"</title>([^<]*)</text>", svg):
        assert len(label) * 6 <= room  # at about 6 px a character at size 10: no label runs into the next
    assert all(name in svg for name in names)  # the whole name on hover
