"""The SEAL graphs served by LangGraph's own server (`langgraph dev`, in-memory runtime) and
driven by its SDK client, as a LangGraph user would (marked `server`: `python -m pytest -m
server`; CI runs them)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("langgraph_api", reason='needs langgraph-cli[inmem] (the dev extra)')
    sdk = pytest.importorskip("langgraph_sdk", reason="needs langgraph-sdk (the dev extra)")
    if shutil.which("langgraph") is None:
        pytest.skip("the langgraph command is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(tmp_path_factory.mktemp("server") / "server.log", "w")
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false"}
    process = subprocess.Popen(["langgraph", "dev", "--port", str(port), "--host", "127.0.0.1", "--no-browser",
                                "--no-reload", "--allow-blocking"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/ok", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"langgraph dev did not start: {Path(log.name).read_text()[-3000:]}")
            time.sleep(1)
        yield sdk.get_sync_client(url=url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_a_smoke_arc_run_streams_every_node_and_ends_with_its_rounds(server, tmp_path):
    assert {a["graph_id"] for a in server.assistants.search()} >= {"seal_arc", "seal_knowledge"}
    thread = server.threads.create()
    request = {"preset": "smoke", "config": {"rounds": 1, "policy": {"candidates_per_task": 2}}, "run_dir": str(tmp_path / "arc")}
    nodes = []
    for part in server.runs.stream(thread["thread_id"], "seal_arc", input={}, context=request, stream_mode="updates"):
        assert part.event != "error", part.data
        if part.event == "updates":
            nodes += list(part.data)
    assert nodes[:3] == ["setup", "baseline", "start_round"] and nodes.count("propose") == 2 and nodes[-1] == "reinforce"
    final = server.threads.get_state(thread["thread_id"])["values"]
    assert final["stop_reason"] == "done" and [r["round"] for r in final["rounds"]] == [1]
    assert len(final["results"]) == final["rounds"][0]["candidates"] == 4  # 2 tasks x 2 self-edits
    assert (tmp_path / "arc" / "config.yaml").exists() and (tmp_path / "arc" / "run.sqlite").exists()  # traces, as seal run


def test_a_knowledge_run_and_a_bad_request(server, tmp_path):
    thread = server.threads.create()
    request = {"preset": "smoke", "config": {"rounds": 1, "passages_per_round": 1,
                                             "policy": {"candidates_per_passage": 2}}, "run_dir": str(tmp_path / "k")}
    result = server.runs.wait(thread["thread_id"], "seal_knowledge", input={}, context=request)
    assert result["stop_reason"] == "done" and len(result["results"]) == 2
    bad = server.threads.create()
    events = list(server.runs.stream(bad["thread_id"], "seal_arc", input={}, context={"preset": "no-such-preset"},
                                     stream_mode="updates"))
    errors = [e.data for e in events if e.event == "error"]
    assert errors and errors[0]["error"] == "ConfigError"  # the server keeps the message to its log
