"""A run killed part-way through a step of Send branches keeps the branches that finished:
on resume only the others run again (LangGraph saves each branch's writes as it ends)."""

import os
import subprocess
import sys

SCRIPT = r'''
import operator, os, signal, sys, time
from pathlib import Path
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from seal_agent.graphs.serving import add_nodes
from seal_agent.run.driver import drive_graph

run_dir, crash = Path(sys.argv[1]), sys.argv[2] == "crash"
log = run_dir / "executed.txt"


class State(TypedDict):
    results: Annotated[list, operator.add]


def execute(payload):
    if crash and log.exists() and len(log.read_text().split()) == 2:  # the third branch to run (in any order)
        time.sleep(1)  # a real branch takes minutes: the others' writes are saved by then
        os.kill(os.getpid(), signal.SIGKILL)  # as a machine going down, mid-step
    with log.open("a") as f:
        f.write(f"{payload['branch']}\n")
    return {"results": [payload["branch"]]}


builder = StateGraph(State)
add_nodes(builder, {"execute": execute}, None)
builder.add_conditional_edges(START, lambda state: [Send("execute", {"branch": b}) for b in range(4)], ["execute"])
builder.add_edge("execute", END)
summary = drive_graph(builder, run_dir, "t", None, {"results": []}, resume=not crash,
                      summarise=lambda state, seconds: {"results": sorted(state["results"])}, summary_nodes=())
print(summary["results"])
'''


def test_a_killed_step_keeps_the_branches_that_finished(tmp_path):
    script = tmp_path / "graph.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed = subprocess.run([sys.executable, str(script), str(tmp_path), "crash"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert killed.returncode == -9
    finished = (tmp_path / "executed.txt").read_text().split()
    assert len(finished) == 2
    resumed = subprocess.run([sys.executable, str(script), str(tmp_path), "resume"], capture_output=True, text=True, env=env,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.split()[-4:] == ["[0,", "1,", "2,", "3]"]
    executed = (tmp_path / "executed.txt").read_text().split()
    assert executed[:2] == finished and sorted(executed) == ["0", "1", "2", "3"]  # the two that finished, not again
