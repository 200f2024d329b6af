"""The SEAL graphs served by LangGraph's own server (`langgraph dev`, in-memory runtime) to
clients that share it, driven by its SDK client, as LangGraph users do: tokens and owners,
refused requests, 8 concurrent runs, memory over 20 runs, a client that disconnects, a
server killed mid-run, and 200 hostile requests (marked `server`: `python -m pytest -m
server`; CI runs them).

Each server runs in a directory of its own with a `langgraph.json` made from the
repository's (its graphs, its auth) and a `serve.yaml` of the test's, so its runs, its
persisted state and its run root stay in a temporary directory.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parents[1]
TOKENS = {"alice": secrets.token_urlsafe(24), "bob": secrets.token_urlsafe(24)}
# A knowledge run of a few seconds; the load, memory and fault tests use it.
KNOWLEDGE = {"preset": "smoke", "config": {"rounds": 1, "passages_per_round": 1, "policy": {"candidates_per_passage": 2},
                                           "update": {"seeds": 1}}}


def with_config(request: dict, **config) -> dict:
    return {**request, "config": {**request["config"], **config}}


def figures(state: dict) -> list:
    """What a run computed, without its timings."""
    rounds = [{k: v for k, v in r.items() if k != "seconds"} for r in state["rounds"]]
    results = sorted((r["round"], str(r["task_id"]), r["candidate"], r["reward"]) for r in state["results"])
    return [rounds, results]


class Server:
    """`langgraph dev` in `workdir`, serving the repository's graphs with the test's serve.yaml."""

    def __init__(self, workdir: Path, max_concurrent_runs: int = 8):
        sdk = pytest.importorskip("langgraph_sdk", reason="needs langgraph-sdk (the dev extra)")
        pytest.importorskip("langgraph_api", reason="needs langgraph-cli[inmem] (the dev extra)")
        if shutil.which("langgraph") is None:
            pytest.skip("the langgraph command is not installed")
        self.sdk, self.workdir = sdk, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "serve.yaml").write_text(json.dumps({
            "run_root": "runs", "max_concurrent_runs": max_concurrent_runs,
            "arc": {"presets": ["smoke"]}, "knowledge": {"presets": ["smoke"]}}))
        config = json.loads((ROOT / "langgraph.json").read_text())
        absolute = lambda spec: str(ROOT / spec.removeprefix("./"))  # noqa: E731
        config["dependencies"] = [str(ROOT)]
        config["graphs"] = {name: absolute(spec) for name, spec in config["graphs"].items()}
        for entry in ("auth", "checkpointer"):  # LangGraph reads the checkpointer's path from its working directory
            config[entry]["path"] = absolute(config[entry]["path"])
        config["env"] = {**config["env"], "SEAL_SERVE_CONFIG": str(workdir / "serve.yaml")}
        (workdir / "langgraph.json").write_text(json.dumps(config))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None
        self.start()

    def start(self) -> None:
        env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false",
               "SEAL_SERVE_TOKENS": ",".join(f"{u}:{t}" for u, t in TOKENS.items())}
        self.log = open(self.workdir / "server.log", "a")
        self.process = subprocess.Popen(
            ["langgraph", "dev", "--config", str(self.workdir / "langgraph.json"), "--port", str(self.port),
             "--host", "127.0.0.1", "--no-browser", "--no-reload", "--allow-blocking", "--n-jobs-per-worker", "10"],
            cwd=self.workdir, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 120
        while not self.serving():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.log.flush()
                pytest.fail(f"langgraph dev did not start: {(self.workdir / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)

    def serving(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ok", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def client(self, user: str | None = "alice", headers: dict | None = None):
        auth = {"Authorization": f"Bearer {TOKENS[user]}"} if user else {}
        return self.sdk.get_sync_client(url=self.url, headers={**auth, **(headers or {})})

    def rss_mib(self) -> float:
        return int(next(line for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines()
                        if line.startswith("VmRSS")).split()[1]) / 1024

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def run_dir(self, domain: str, thread_id: str) -> Path:
        return self.workdir / "runs" / domain / thread_id


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    served = Server(tmp_path_factory.mktemp("server"))
    yield served
    served.stop()


def assert_run_dir_is_whole(run_dir: Path) -> None:
    """A run directory as `seal run` leaves one: config, traces; no temporary file, no lock held."""
    from seal_agent.run.lock import RunLock, RunLockedError

    assert (run_dir / "config.yaml").is_file() and (run_dir / "run.sqlite").is_file()
    assert not [p for p in run_dir.rglob("*.tmp")]
    deadline = time.monotonic() + 10  # a run's result can reach the client just before its release ends
    while True:
        try:
            RunLock(run_dir).acquire().release()
            return
        except RunLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_smoke_arc_run_streams_every_node_and_lives_in_its_threads_directory(server):
    client = server.client()
    assert {a["graph_id"] for a in client.assistants.search()} >= {"seal_arc", "seal_knowledge"}
    thread = client.threads.create()
    request = {"preset": "smoke", "config": {"rounds": 1, "policy": {"candidates_per_task": 2}}}
    nodes = []
    for part in client.runs.stream(thread["thread_id"], "seal_arc", input={}, context=request, stream_mode="updates"):
        assert part.event != "error", part.data
        if part.event == "updates":
            nodes += list(part.data)
    assert nodes[:3] == ["setup", "baseline", "start_round"] and nodes.count("propose") == 2 and nodes[-1] == "reinforce"
    final = client.threads.get_state(thread["thread_id"])["values"]
    assert final["stop_reason"] == "done" and [r["round"] for r in final["rounds"]] == [1]
    assert len(final["results"]) == final["rounds"][0]["candidates"] == 4  # 2 tasks x 2 self-edits
    assert_run_dir_is_whole(server.run_dir("arc", thread["thread_id"]))  # traces, as seal run


def test_a_knowledge_run_and_a_refused_request(server):
    client = server.client()
    thread = client.threads.create()
    result = client.runs.wait(thread["thread_id"], "seal_knowledge", input={}, context=KNOWLEDGE)
    assert result["stop_reason"] == "done" and len(result["results"]) == 2
    bad = client.threads.create()
    events = list(client.runs.stream(bad["thread_id"], "seal_arc", input={}, stream_mode="updates",
                                     context={"preset": "no-such-preset", "run_dir": "/tmp"}))
    errors = [e.data for e in events if e.event == "error"]
    assert errors and errors[0]["error"] == "ServedRequestError"
    assert "- preset: 'no-such-preset' is not served here" in errors[0]["message"]
    assert "- run_dir: not a field a client may set" in errors[0]["message"]
    assert not server.run_dir("arc", bad["thread_id"]).exists()


def test_a_token_is_needed_and_each_user_sees_only_their_own(server):
    errors = server.sdk.errors
    alice, bob = server.client("alice"), server.client("bob")
    for stranger in (server.client(None), server.client(None, {"Authorization": "Bearer " + "x" * 32}),
                     server.client(None, {"x-auth-scheme": "langsmith"})):  # Studio's header skips no check
        with pytest.raises(errors.AuthenticationError):
            stranger.threads.create()
    thread = alice.threads.create(metadata={"owner": "bob"})  # nobody can claim another's
    assert thread["metadata"]["owner"] == "alice"
    with pytest.raises(errors.NotFoundError):
        bob.threads.get(thread["thread_id"])
    with pytest.raises(errors.NotFoundError):
        bob.runs.create(thread["thread_id"], "seal_knowledge", input={}, context=KNOWLEDGE)
    assert thread["thread_id"] not in {t["thread_id"] for t in bob.threads.search(limit=100)}
    assert thread["thread_id"] in {t["thread_id"] for t in alice.threads.search(limit=100)}
    with pytest.raises(errors.PermissionDeniedError):  # the assistants are the server owner's
        bob.assistants.create("seal_arc", context={"run_dir": "/"})
    with pytest.raises(errors.UnprocessableEntityError):  # a run's state is the graph's own
        alice.runs.create(thread["thread_id"], "seal_arc", input={"policy_checkpoint": "/etc"})


def test_8_concurrent_runs_have_the_figures_each_has_alone_and_memory_stays_flat(server):
    def one(seed: int):
        client = server.client()
        thread = client.threads.create()
        result = client.runs.wait(thread["thread_id"], "seal_knowledge", input={}, context=with_config(KNOWLEDGE, seed=seed))
        assert result.get("stop_reason") == "done", result
        return thread["thread_id"], figures(result)

    started = time.monotonic()
    alone = [one(0)]
    rss_after_1 = server.rss_mib()
    alone += [one(seed) for seed in range(1, 8)]
    seconds_sequential = time.monotonic() - started
    alone += [one(seed) for seed in range(8, 20)]
    rss_after_20 = server.rss_mib()
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(one, range(8)))
    seconds_concurrent = time.monotonic() - started
    print(f"\nserved knowledge smoke runs: server RSS {rss_after_1:.0f} MiB after 1 sequential run, "
          f"{rss_after_20:.0f} MiB after 20; 8 sequential {seconds_sequential:.1f} s (runs 1-8), "
          f"8 concurrent {seconds_concurrent:.1f} s")
    assert [f for _, f in together] == [f for _, f in alone[:8]]  # each run computes what it computes alone
    assert len({thread for thread, _ in alone + together}) == 28
    assert rss_after_20 - rss_after_1 < 64, (rss_after_1, rss_after_20)  # contexts go with their runs
    assert seconds_concurrent < 2 * seconds_sequential
    for thread, _ in together:
        assert_run_dir_is_whole(server.run_dir("knowledge", thread))


def test_a_client_that_disconnects_leaves_the_run_going_unless_it_asked_to_cancel(server):
    client = server.client()
    request = with_config(KNOWLEDGE, rounds=3)
    outcome = {}
    for mode in ("continue", "cancel"):
        thread = client.threads.create()
        stream = client.runs.stream(thread["thread_id"], "seal_knowledge", input={}, context=request,
                                    stream_mode="updates", on_disconnect=mode)
        for part in stream:
            if part.event == "updates" and "execute" in part.data:
                break  # the client goes away mid-run
        stream.close()
        run = client.runs.list(thread["thread_id"])[0]
        try:
            client.runs.join(thread["thread_id"], run["run_id"])
        except Exception:
            pass
        outcome[mode] = (thread["thread_id"], client.runs.get(thread["thread_id"], run["run_id"])["status"])
    continued, cancelled = outcome["continue"], outcome["cancel"]
    assert continued[1] == "success" and cancelled[1] == "interrupted"
    assert_run_dir_is_whole(server.run_dir("knowledge", continued[0]))
    assert_run_dir_is_whole(server.run_dir("knowledge", cancelled[0]))  # cancelled cleanly: nothing half-written
    assert client.threads.get_state(cancelled[0])["next"]  # its last completed step is kept
    resumed = client.runs.wait(cancelled[0], "seal_knowledge", input=None, context=request)
    assert figures(resumed) == figures(client.threads.get_state(continued[0])["values"])


def hostile_requests() -> list[tuple[str, dict, str]]:
    """(graph, context, what the refusal must name): 160 runs whose context is refused."""
    cases = []
    numeric = {
        "seal_arc": ["rounds", "seed", "policy.candidates_per_task", "policy.temperature", "policy.top_p",
                     "policy.max_new_tokens", "policy.sft_learning_rate", "policy.sft_epochs", "ttt.default_learning_rate",
                     "ttt.default_epochs"],
        "seal_knowledge": ["rounds", "seed", "passages_per_round", "data.limit", "policy.candidates_per_passage",
                           "policy.temperature", "policy.max_new_tokens", "update.epochs", "update.learning_rate",
                           "update.seeds"],
    }

    def nested(name: str, value) -> dict:
        for part in reversed(name.split(".")):
            value = {part: value}
        return value

    for graph, names in numeric.items():
        for name in names:
            for value in ("3", 2**63, -(2**62), [1], {"x": 1}, True, 1e308):  # 2**63: over every bound, seeds too
                cases.append((graph, {"config": nested(name, value)}, f"config.{name}"))
    owners = {
        "run_dir": "/tmp", "config.run_dir": "../../x", "config.tools.modules": ["os"], "config.model.name_or_path": "/",
        "config.data.path": "/etc/passwd", "config.eval.teacher": {"class_path": "os.system", "kwargs": {}},
        "config.executor.kind": "ray", "config.backend": "vllm", "config.model.dtype": "float16",
        "config.reward.judge": {"class_path": "subprocess.Popen", "kwargs": {"args": ["id"]}},
        "config.policy_checkpoint": "/root", "config.data.source": "path", "config.mode": "continual",
        "resume": True, "thread_id": "../../other",
    }
    for graph in ("seal_arc", "seal_knowledge"):
        for name, value in owners.items():
            cases.append((graph, nested(name, value), name.rsplit(".", 1)[0] if name.count(".") > 1 else name))
    deep: dict = {"x": 1}
    for _ in range(120):
        deep = {"x": deep}
    for graph in ("seal_arc", "seal_knowledge"):
        cases += [(graph, {"preset": "paper"}, "preset"), (graph, {"preset": "../../etc"}, "preset"),
                  (graph, {"preset": 7}, "preset"), (graph, {"config": "rounds=2"}, "config"),
                  (graph, {"config": deep}, "config.x"), (graph, {"preset": "x" * 100_000}, "(the request)"),
                  (graph, {"config": {f"k{i}": i for i in range(3000)}}, "config.k0")]
    cases.append(("seal_arc", {"config": {"data": {"tasks": ["ffffffff"]}}}, "config.data.tasks"))
    cases.append(("seal_arc", {"config": {"data": {"tasks": ["../../etc"]}}}, "config.data.tasks.0"))
    return cases


def raw_post(server: Server, path: str, body: bytes, user: str = "alice") -> int:
    request = urllib.request.Request(server.url + path, data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {TOKENS[user]}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


def test_200_hostile_requests_each_get_a_clear_error_and_the_server_keeps_serving(server):
    cases = hostile_requests()
    root = server.workdir / "runs"
    before = sorted(p.name for p in root.glob("*/*"))

    def refused(case) -> str | None:
        graph, context, field = case
        try:
            result = server.client().runs.wait(None, graph, input={}, context=context)
        except Exception as err:  # the SDK raises the run's error
            message = str(err)
        else:
            return f"{graph} {field}: accepted: {str(result)[:200]}"
        if "request refused" not in message or f"- {field}" not in message:
            return f"{graph} {field}: unclear: {message[:300]}"
        return None

    with ThreadPoolExecutor(4) as pool:
        problems = [p for p in pool.map(refused, cases) if p]
    assert not problems, "\n".join(problems[:10])
    # Requests LangGraph's server itself refuses: malformed JSON, NaN, nesting its parser refuses, wrong shapes.
    http_cases = [b'{"assistant_id": "seal_arc",', b'{"assistant_id":"seal_arc","input":{},"context":{"x":NaN}}',
                  b'{"assistant_id":"seal_arc","input":{},"context":' + b'{"a":' * 3000 + b"1" + b"}" * 3001,
                  b'{"assistant_id":"seal_arc","input":{},"context":[1,2]}', b'{"assistant_id":"no-such-graph"}',
                  b'{"assistant_id":"seal_arc","input":{},"context":{"config":{"rounds":' + b"9" * 5000 + b"}}}",
                  b'{"assistant_id":"seal_arc","input":{"round":99}}', b'{"assistant_id":"seal_arc","command":{"goto":"reinforce"}}',
                  b"\xff\xfe", b"[]"]
    paths = ["/runs/wait"] * len(http_cases) + [f"/threads/{name}/runs/wait" for name in ("not-a-uuid", "..", "%2e%2e")]
    bodies = http_cases + [b'{"assistant_id":"seal_arc","input":{}}'] * 3
    statuses = [raw_post(server, path, body) for _ in range(4) for path, body in zip(paths, bodies)]
    assert len(cases) + len(statuses) >= 200
    assert all(400 <= status < 500 for status in statuses), statuses
    assert sorted(p.name for p in root.glob("*/*")) == before  # no refused run left a directory
    assert server.serving() and server.process.poll() is None
    result = server.client().runs.wait(None, "seal_knowledge", input={}, context=KNOWLEDGE)
    assert result["stop_reason"] == "done"


def test_a_server_killed_mid_run_resumes_the_thread_when_it_restarts(tmp_path):
    rounds = 20
    request = with_config(KNOWLEDGE, rounds=rounds, passages_per_round=2)
    killable = Server(tmp_path / "killable")
    try:
        client = killable.client()
        thread = client.threads.create()
        run = client.runs.create(thread["thread_id"], "seal_knowledge", input={}, context=request)
        started = time.time()
        # The dev server writes its threads and runs to .langgraph_api/ every 10 s; the
        # checkpoints are in the run root's SQLite at every step (serving/checkpointer.py).
        ops = killable.workdir / ".langgraph_api" / ".langgraph_ops.pckl"
        while not (ops.exists() and ops.stat().st_mtime > started + 0.5
                   and client.threads.get_state(thread["thread_id"])["values"].get("rounds")):
            time.sleep(0.2)
        before = client.threads.get_state(thread["thread_id"])["values"]["rounds"]
        if client.runs.get(thread["thread_id"], run["run_id"])["status"] != "running":
            pytest.fail(f"the run ended before the server was killed: give it more than {rounds} rounds")
        policy = killable.run_dir("knowledge", thread["thread_id"]) / "policy"
        written = {p.name: p.stat().st_mtime_ns for p in policy.iterdir()}
        killable.kill()  # mid-run, no shutdown
        killable.start()
        client = killable.client()
        final = client.runs.join(thread["thread_id"], run["run_id"])
        assert client.runs.get(thread["thread_id"], run["run_id"])["status"] == "success"
        assert [r["round"] for r in final["rounds"]] == list(range(1, rounds + 1))
        assert final["rounds"][: len(before)] == before  # what was done before the kill stands
        assert {p.name: p.stat().st_mtime_ns for p in policy.iterdir() if p.name in written} == written  # not redone
        assert 0 < len(before) < rounds
        assert_run_dir_is_whole(killable.run_dir("knowledge", thread["thread_id"]))
    finally:
        killable.stop()
