"""A served request is untrusted: only the allow-list gets through, and a refusal names each
field before anything is built (`seal_agent.jobs.serving.request`, `seal_agent.jobs.serve`)."""

from __future__ import annotations

import json
import sys

import pytest

from seal_agent.arc.config import RunConfig
from seal_agent.config import ConfigError
from seal_agent.jobs.serve import open_served_run
from seal_agent.jobs.serving.live_runs import LiveRuns
from seal_agent.jobs.serving.request import (REQUESTS, ServedRequestError, allowed_fields, check_server_config, parse_request,
                                             served_config)
from seal_agent.jobs.serving.server_config import ServerConfig, load_server_config


@pytest.fixture()
def server(tmp_path) -> ServerConfig:
    return ServerConfig(run_root=str(tmp_path / "root"))


@pytest.fixture()
def evil_module(tmp_path):
    """A tool module whose import leaves a mark: if a request could load it, the mark appears."""
    mark = tmp_path / "the-request-ran-code"
    module = tmp_path / "evil_tools.py"
    module.write_text(f"open({str(mark)!r}, 'w').write('ran')\n")
    return module, mark


# Each case: what a hostile client sends, and the field the refusal must name.
HOSTILE = [
    ("arc", {"run_dir": "/tmp/anywhere"}, "run_dir"),
    ("arc", {"config": {"data": {"source": "path", "path": "/etc"}}}, "config.data.source"),
    ("arc", {"config": {"data": {"path": "/etc/passwd"}}}, "config.data.path"),
    ("arc", {"config": {"model": {"name_or_path": "/root/secret-model"}}}, "config.model"),
    ("arc", {"config": {"eval": {"teacher": {"class_path": "subprocess.Popen", "kwargs": {"args": ["true"]}}}}},
     "config.eval.teacher"),
    ("arc", {"config": {"executor": {"kind": "ray", "address": "ray://elsewhere:10001"}}}, "config.executor"),
    ("arc", {"config": {"backend": "vllm"}}, "config.backend"),
    ("arc", {"preset": "paper"}, "preset"),
    ("arc", {"preset": "../../etc/passwd"}, "preset"),
    ("knowledge", {"run_dir": "runs/someone-else"}, "run_dir"),
    ("knowledge", {"config": {"reward": {"kind": "judge", "judge": {"class_path": "os.system", "kwargs": {}}}}},
     "config.reward.kind"),
    ("knowledge", {"config": {"reward": {"judge": {"class_path": "os.system"}}}}, "config.reward.judge"),
    ("knowledge", {"config": {"policy_checkpoint": "/root/other-run/policy/round_2"}}, "config.policy_checkpoint"),
    ("knowledge", {"config": {"data": {"path": "/etc/shadow"}}}, "config.data.path"),
    ("knowledge", {"config": {"model": {"gguf_file": "../../x.gguf"}}}, "config.model"),
    ("knowledge", {"config": {"mode": "continual"}}, "config.mode"),
    # wrong types (strict: JSON as it is), huge values, out of bounds
    ("arc", {"config": {"rounds": "2"}}, "config.rounds"),
    ("arc", {"config": {"rounds": True}}, "config.rounds"),
    ("arc", {"config": {"rounds": 10**12}}, "config.rounds"),
    ("arc", {"config": {"seed": -1}}, "config.seed"),
    ("arc", {"config": {"policy": {"candidates_per_task": 10**9}}}, "config.policy.candidates_per_task"),
    ("arc", {"config": {"policy": {"max_new_tokens": 10**7}}}, "config.policy.max_new_tokens"),
    ("arc", {"config": {"policy": {"temperature": 1e308}}}, "config.policy.temperature"),
    ("arc", {"config": {"policy": {"temperature": 1e-6}}}, "config.policy.temperature"),  # bound of the full config
    ("arc", {"config": {"data": {"tasks": "44f52bb0"}}}, "config.data.tasks"),
    ("arc", {"config": {"data": {"tasks": ["../../etc"]}}}, "config.data.tasks.0"),
    ("arc", {"config": {"data": {"tasks": ["ffffffff"]}}}, "config.data.tasks"),  # not in the server's data
    ("arc", {"config": {"data": {"tasks": ["44f52bb0"] * 1000}}}, "config.data.tasks"),
    ("arc", {"config": []}, "config"),
    ("arc", ["preset", "smoke"], "(the request)"),
    ("arc", {"preset": "x" * 100_000}, "(the request)"),
    ("knowledge", {"config": {"update": {"seeds": 10**6}}}, "config.update.seeds"),
    ("knowledge", {"config": {"policy": {"top_p": 0}}}, "config.policy.top_p"),
]


@pytest.mark.parametrize("domain,raw,field", HOSTILE, ids=[f"{d}-{f}" for d, _, f in HOSTILE])
def test_a_hostile_request_is_refused_naming_the_field_before_anything_is_built(domain, raw, field, server, tmp_path):
    live = LiveRuns(limit=4)
    with pytest.raises(ServedRequestError) as refused:
        open_served_run(domain, "thread-1", raw, server, live)
    message = str(refused.value)
    assert f"  - {field}" in message and "A client may set:" in message
    assert len(live) == 0 and not (tmp_path / "root").exists()  # no place taken, no directory made


def test_a_request_cannot_make_the_server_run_its_code(server, evil_module, tmp_path):
    module, mark = evil_module
    for modules in ([str(module)], ["evil_tools"], ["os"]):
        with pytest.raises(ServedRequestError, match="config.tools.modules: not a field a client may set"):
            open_served_run("arc", "thread-1", {"config": {"tools": {"modules": modules}}}, server, LiveRuns(4))
    assert not mark.exists() and "evil_tools" not in sys.modules
    # the same module given by the server's owner is the owner's choice, loaded as seal run loads it
    owner = ServerConfig(run_root=str(tmp_path / "root"), arc={"config": {"tools": {"modules": [str(module)]}}})
    assert served_config("arc", parse_request("arc", {}, owner), owner).tools.modules == [str(module)]


def test_every_refusal_is_listed_at_once():
    raw = {"run_dir": "/x", "config": {"rounds": "2", "model": {"name_or_path": "/m"}, "policy": {"top_p": 5}}}
    with pytest.raises(ServedRequestError) as refused:
        parse_request("arc", raw, ServerConfig())
    assert "4 problem(s)" in str(refused.value)
    assert "input_value" not in str(refused.value)  # what the client sent is not echoed back


def test_a_deeply_nested_request_is_refused_plainly():
    deep: dict = {}
    for _ in range(5000):
        deep = {"a": deep}
    with pytest.raises(ServedRequestError, match=r"\(the request\): not plain JSON"):
        parse_request("arc", {"config": deep}, ServerConfig())


def test_an_allowed_request_is_the_preset_with_the_owners_layer_then_the_clients_fields(server):
    raw = {"preset": "smoke", "config": {"rounds": 1, "seed": 3, "data": {"tasks": ["6e02f1e3"]},
                                         "policy": {"candidates_per_task": 2, "temperature": 0.5}, "tools": {"vocabulary": "open"}}}
    config = served_config("arc", parse_request("arc", raw, server), server)
    assert config == RunConfig.resolve("smoke", overrides=raw["config"])
    owner = ServerConfig(arc={"config": {"model": {"dtype": "float32", "device": "cpu"}, "rounds": 5},
                              "limits": {"rounds": 3, "data.tasks": 1}})
    assert served_config("arc", parse_request("arc", {}, owner), owner).rounds == 5  # the owner's, unless asked
    with pytest.raises(ServedRequestError, match=r"config.rounds: 4, over this server's limit of 3"):
        parse_request("arc", {"config": {"rounds": 4}}, owner)
    with pytest.raises(ServedRequestError, match=r"config.data.tasks: 2 items, over this server's limit of 1"):
        parse_request("arc", {"config": {"data": {"tasks": ["6e02f1e3", "44f52bb0"]}}}, owner)


def test_the_allow_list_holds_nothing_that_names_code_files_or_models():
    for domain in ("arc", "knowledge"):
        names = allowed_fields(REQUESTS[domain])
        assert not [n for n in names if any(bad in n for bad in ("model", "path", "dir", "module", "class", "judge",
                                                                  "teacher", "checkpoint", "executor", "backend"))]


def test_the_owners_config_is_checked_at_startup(tmp_path):
    check_server_config(ServerConfig())
    bad = ServerConfig(arc={"presets": ["smoke", "nope"], "limits": {"model.name_or_path": 1}},
                       knowledge={"config": {"mode": "cpt"}})
    with pytest.raises(ConfigError) as err:
        check_server_config(bad)
    assert all(s in str(err.value) for s in ("unknown preset 'nope'", "arc.limits.model.name_or_path", "mode single"))
    path = tmp_path / "serve.yaml"
    path.write_text(json.dumps({"run_root": "r", "max_concurrent_runs": 0}))
    with pytest.raises(ConfigError, match="max_concurrent_runs"):
        load_server_config(path)
