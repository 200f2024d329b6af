"""Reliability: killed runs resume without loss, hostile inputs never crash, faults are
recorded, run directories are exclusive, and the same seed gives the same run."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from benchmarks.crash_harness import comparable, crash_and_resume
from seal_agent.arc.data import TaskError, load_tasks_from_path
from seal_agent.cli import app
from seal_agent.arc.config import RunConfig
from seal_agent.config import ConfigError, dump_config
from seal_agent.engine.sequential import CandidateOutcome, TrainResult
from seal_agent.policy.candidates import parse_tool_calls
from seal_agent.policy.self_edit import Rejection, SelfEdit, validate_knowledge_edit, validate_self_edit
from seal_agent.run.directory import RunDirError, create_run_dir, remove_new_run_dir
from seal_agent.run.driver import exclusive_run
from seal_agent.run.lock import RunLock, RunLockedError
from seal_agent.run.traces import TraceStore
from seal_agent.jobs.arc import build_context, prepare_run, run_arc
from tests.conftest import SMALL_TINY, fast_config
from seal_agent.tools import TrainingSettings, arc_tools, knowledge_tools

ROOT = Path(__file__).resolve().parents[1]
FAST_OVERLAY = {
    "rounds": 2, "model": {"tiny": SMALL_TINY}, "data": {"tasks": ["6e02f1e3", "6150a2bd"]},
    "policy": {"candidates_per_task": 3, "sft_epochs": 2}, "ttt": {"max_steps": 24, "max_examples": 8},
    "eval": {"max_new_tokens": 16},
}


# -- crash safety ---------------------------------------------------------------------------


def harness(tmp_path: Path, kills: int, seed: int) -> dict:
    overlay = tmp_path / "fast.yaml"
    overlay.write_text(yaml.safe_dump(FAST_OVERLAY))
    return crash_and_resume(tmp_path, kills=kills, seed=seed, preset="smoke", config=overlay)


def test_sigkill_and_resume_lose_nothing(tmp_path):
    result = harness(tmp_path, kills=1, seed=1)  # many kills: test_many_sigkills_lose_nothing (-m slow)
    assert result["problems"] == [], json.dumps(result, indent=2)
    assert result["kills"] >= 1 and result["summary_equal"] and result["results_lost"] == 0
    assert all(r["files_whole"] for r in result["records"])


@pytest.mark.slow
def test_many_sigkills_lose_nothing(tmp_path):
    result = harness(tmp_path, kills=15, seed=7)
    (tmp_path / "result.json").write_text(json.dumps(result, indent=2))
    assert result["problems"] == [], json.dumps(result, indent=2)
    assert result["kills"] >= 5


# -- hostile inputs, fuzzed -----------------------------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=8), st.dictionaries(st.text(max_size=12), inner, max_size=6)),
    max_leaves=30,
)
ARC_TOOLS = arc_tools("open")
ARC_NAMES = [t.name for t in ARC_TOOLS]
tool_args = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={
        "quarter_turns": json_scalars, "axis": json_scalars, "factor": json_scalars, "learning_rate": json_scalars,
        "num_train_epochs": json_scalars, "strategy": st.sampled_from(["all_tokens", "output_tokens", "x"]),
        "steps": st.lists(json_values, max_size=40), "permutation": json_values,
    }),
)
tool_calls = st.lists(
    st.fixed_dictionaries({"name": st.one_of(st.sampled_from(ARC_NAMES), st.text(max_size=20)), "args": tool_args}),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=300), json_values.map(json.dumps)))
def test_any_policy_text_parses_to_calls_or_invalid_calls(text):
    calls, invalid = parse_tool_calls(text)
    assert isinstance(calls, list) and isinstance(invalid, list)
    assert all(isinstance(c["name"], str) and isinstance(c["args"], dict) for c in calls)


@pytest.fixture(scope="module")
def fuzz_context(tmp_path_factory):
    """A built ARC context whose engine answers instantly: fuzzing reaches every step but training."""
    prepared = prepare_run(fast_config(rounds=1, tools={"vocabulary": "open"}), tmp_path_factory.mktemp("fuzz") / "run", resume=False)
    ctx = build_context(prepared)

    class InstantEngine:
        tokenizer = ctx.engine.tokenizer

        def train_and_generate(self, jobs, prompts, max_new_tokens, batch_size):
            return [CandidateOutcome(train=TrainResult(losses=[1.0]), outputs=["[[1]]"] * len(prompts)) for _ in jobs]

    ctx.engine = InstantEngine()
    yield ctx
    ctx.traces.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=tool_calls, text=st.text(max_size=50))
def test_hostile_self_edits_are_accepted_or_rejected_never_a_crash(fuzz_context, calls, text):
    from seal_agent.graphs.arc import execute

    from seal_agent.policy.candidates import rebuild_message

    defaults = TrainingSettings(learning_rate=1e-4, num_train_epochs=2, strategy="output_tokens")
    candidate = {"candidate": 0, "completion": text, "tool_calls": calls, "invalid_tool_calls": []}
    edit = validate_self_edit(rebuild_message(candidate), ARC_TOOLS, defaults)
    assert isinstance(edit, (SelfEdit, Rejection))
    if isinstance(edit, SelfEdit):  # whatever was accepted respects the schema's bounds
        assert 1e-6 <= edit.training.learning_rate <= 1e-2 and math.isfinite(edit.training.learning_rate)
        assert 1 <= edit.training.num_train_epochs <= 20
    update = execute({"round": 1, "task_id": "6e02f1e3", "candidates": [candidate]}, SimpleNamespace(context=fuzz_context))
    (row,) = update["results"]
    assert row["status"] in ("ok", "rejected")
    if isinstance(edit, Rejection):
        assert row["status"] == "rejected" and row["reason"]


@settings(max_examples=100, deadline=None)
@given(calls=st.lists(st.fixed_dictionaries({
    "name": st.one_of(st.sampled_from(["write_implications", "rewrite_passage", "write_qa_pairs"]), st.text(max_size=10)),
    "args": st.one_of(json_values, st.fixed_dictionaries({"statements": json_values}), st.fixed_dictionaries({"pairs": json_values}))}),
    max_size=4))
def test_hostile_knowledge_self_edits_never_crash(calls):
    from seal_agent.policy.candidates import rebuild_message

    message = rebuild_message({"candidate": 0, "completion": "", "tool_calls": calls, "invalid_tool_calls": []})
    edit = validate_knowledge_edit(message, knowledge_tools())
    assert isinstance(edit, Rejection) or all(isinstance(s, str) for s in edit.sequences)


grids = st.one_of(
    st.lists(st.lists(st.integers(-3, 12), min_size=0, max_size=4), min_size=0, max_size=4),  # ragged, bad colours, empty
    st.just([[1] * 31] * 2), st.just([[0] * 3] * 31),  # over 30 wide or tall
    json_values,
)
pairs = st.lists(st.one_of(st.fixed_dictionaries({"input": grids, "output": grids}), json_values), max_size=3)
task_files = st.one_of(
    st.fixed_dictionaries({"train": pairs, "test": pairs}),
    st.dictionaries(st.text(min_size=1, max_size=8), st.fixed_dictionaries({"train": pairs, "test": pairs}), max_size=2),
    json_values,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=task_files)
def test_hostile_task_files_give_the_clear_error(tmp_path, raw):
    path = tmp_path / "task.json"
    path.write_text(json.dumps(raw))
    try:
        tasks = load_tasks_from_path(path)
    except TaskError as err:
        assert str(err).startswith(str(path))
        return
    for task in tasks.values():  # accepted: then really valid
        for pair in task.train + task.test:
            for grid in (pair.input, pair.output):
                if grid is not None:
                    assert 1 <= len(grid) <= 30 and all(1 <= len(r) <= 30 and all(0 <= v <= 9 for v in r) for r in grid)


lone_surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)  # st.text() never draws these
hostile_texts = st.one_of(
    st.text(max_size=30),
    st.builds(lambda before, bad, after: before + bad + after, st.text(max_size=10), lone_surrogates, st.text(max_size=10)),
    st.integers(min_value=90, max_value=400).map(lambda n: "a" * n),  # over the bound the tests load with
)
# Nesting deeper than the JSON parser's recursion limit, as lists or as objects.
deep_json = st.builds(
    lambda depth, objects: ('{"a": ' * depth + "1" + "}" * depth) if objects else ("[" * depth + "]" * depth),
    st.integers(min_value=1_000, max_value=60_000), st.booleans(),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(
    deep_json,
    deep_json.map(lambda deep: '{"abc": {"train": ' + deep + ', "test": []}}'),
    st.dictionaries(hostile_texts, st.just({"train": [{"input": [[1]], "output": [[2]]}],
                                            "test": [{"input": [[3]], "output": [[4]]}]}), min_size=1, max_size=3).map(json.dumps),
))
def test_hostile_task_file_text_gives_the_clear_error(tmp_path, text):
    path = tmp_path / "task.json"
    path.write_text(text)
    try:
        tasks = load_tasks_from_path(path)
    except TaskError as err:
        assert str(err).startswith(str(path))
        str(err).encode("utf-8")  # the message can be printed
        return
    for task_id in tasks:  # accepted: every id can be encoded (printed, traced, stored)
        task_id.encode("utf-8")


passage_records = st.fixed_dictionaries(
    {"context": hostile_texts, "questions": st.lists(
        st.fixed_dictionaries({"question": hostile_texts, "answers": st.lists(hostile_texts, min_size=1, max_size=2)}),
        min_size=1, max_size=2)},
    optional={"title": hostile_texts, "id": st.one_of(hostile_texts, st.integers())},
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(passage_records.map(json.dumps), deep_json, json_values.map(json.dumps)), min_size=1, max_size=3))
def test_hostile_passage_files_give_the_clear_error(tmp_path, lines):
    from seal_agent.knowledge.data import PassageError, load_passages

    path = tmp_path / "passages.jsonl"
    path.write_text("\n".join(lines) + "\n")
    try:
        passages = load_passages(path, max_chars=100)
    except PassageError as err:
        assert str(err).startswith(str(path))
        str(err).encode("utf-8")
        return
    for passage in passages:  # accepted: every text can be tokenised and is within the bound
        texts = [passage.passage_id, passage.title, passage.context]
        texts += [t for q in passage.questions for t in (q.question, *q.answers)]
        assert all(len(t) <= 100 for t in texts)
        "".join(texts).encode("utf-8")


SECTIONS = ["model", "data", "policy", "tools", "ttt", "eval"]
WRONG = {"ttt": ("batch_size", "many"), "policy": ("temperature", "hot"), "eval": ("attempts", [1]),
         "model": ("dtype", 3), "data": ("tasks", "abc"), "tools": ("vocabulary", "klingon")}


@settings(max_examples=60, deadline=None)
@given(unknown=st.lists(st.tuples(st.sampled_from(SECTIONS), st.from_regex(r"[a-z]{3,10}_x", fullmatch=True)),
                        min_size=0, max_size=4, unique=True),
       wrong=st.lists(st.sampled_from(sorted(WRONG)), min_size=0, max_size=3, unique=True))
def test_bad_configs_list_every_problem_in_one_error(unknown, wrong):
    overrides: dict = {}
    for section, key in unknown:
        overrides.setdefault(section, {})[key] = 1
    for section in wrong:
        key, value = WRONG[section]
        overrides.setdefault(section, {})[key] = value
    if not overrides:
        assert RunConfig.resolve("smoke", overrides=overrides).rounds >= 1
        return
    with pytest.raises(ConfigError) as err:
        RunConfig.resolve("smoke", overrides=overrides)
    message = str(err.value)
    for section, key in unknown:
        assert f"{section}.{key}: unknown key" in message
    for section in wrong:
        assert f"{section}.{WRONG[section][0]}" in message
    reported = int(message.split(": ")[1].split()[0])  # "<source>: N problem(s) in the config:"
    assert reported >= len(unknown) + len(wrong)


FLOAT_FIELDS = [("policy", "temperature"), ("policy", "top_p"), ("policy", "sft_learning_rate"), ("ttt", "max_grad_norm"),
                ("ttt", "default_learning_rate"), ("vllm", "sync_tolerance"), ("executor", "num_gpus_per_actor")]


@settings(max_examples=150, deadline=None)
@given(floats=st.lists(st.tuples(st.sampled_from(FLOAT_FIELDS), st.floats(allow_nan=True, allow_infinity=True)), max_size=3),
       seed=st.one_of(st.none(), st.integers(min_value=-(2**70), max_value=2**70)),
       device=st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["cpu", "cuda:0", "mps", "auto", "meta", "gpu"])),
       initializer_range=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)))
def test_hostile_config_values_are_refused_or_usable(floats, seed, device, initializer_range):
    import torch

    overrides: dict = {}
    for (section, key), value in floats:
        overrides.setdefault(section, {})[key] = value
    if seed is not None:
        overrides["seed"] = seed
    if device is not None:
        overrides.setdefault("model", {})["device"] = device
    if initializer_range is not None:
        overrides.setdefault("model", {}).setdefault("tiny", {})["initializer_range"] = initializer_range
    try:
        config = RunConfig.resolve("smoke", overrides=overrides)
    except ConfigError as err:
        assert "problem(s) in the config" in str(err)
        return
    # accepted: then usable where a run uses them
    for section, key in FLOAT_FIELDS:
        assert math.isfinite(getattr(getattr(config, section), key))
    assert config.policy.temperature == 0 or config.policy.temperature >= 1e-4
    torch.Generator().manual_seed(config.seed)
    assert 0 < config.model.tiny.initializer_range <= 1
    if config.model.device != "auto":
        assert torch.device(config.model.device).type != "meta"


# -- LoRA targets are checked against the model before the run directory is made ---------------


def test_lora_targets_that_match_no_layer_stop_the_run_before_its_directory(tmp_path):
    from seal_agent.model.loading import ModelLoadError

    config = fast_config(ttt={"lora": {"target_modules": ["q_proj", "qkv_proj"]}}, policy={"lora": {"target_modules": ["mlp"]}})
    with pytest.raises(ModelLoadError) as err:
        prepare_run(config, tmp_path / "run", resume=False)
    message = str(err.value)
    assert "ttt.lora.target_modules: 'qkv_proj' match(es) no layer of the model" in message
    assert "policy.lora.target_modules: 'mlp'" in message  # a block, not a layer LoRA can wrap
    assert "the layers LoRA can adapt are named: down_proj, embed_tokens, gate_proj, k_proj, lm_head, o_proj, q_proj, up_proj, v_proj" in message
    assert not (tmp_path / "run").exists()
    overlay = tmp_path / "targets.yaml"
    overlay.write_text(yaml.safe_dump({"ttt": {"lora": {"target_modules": ["qkv_proj"]}}}))
    result = CliRunner().invoke(app, ["run", "arc", "--preset", "smoke", "--config", str(overlay), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and "'qkv_proj' match(es) no layer" in " ".join(result.output.split())
    assert not (tmp_path / "r").exists()


def test_lora_targets_are_checked_against_a_saved_model_without_loading_its_weights(tiny_model_dir):
    from seal_agent.config import LoraConfigSection, ModelConfig
    from seal_agent.model.loading import ModelLoadError, check_model_source

    model = ModelConfig(name_or_path=str(tiny_model_dir))
    check_model_source(model, {"update.lora": LoraConfigSection(target_modules=["q_proj", "v_proj", "down_proj"])})
    with pytest.raises(ModelLoadError, match="update.lora.target_modules: 'c_attn' match"):
        check_model_source(model, {"update.lora": LoraConfigSection(target_modules=["q_proj", "c_attn"])})


def test_a_device_this_machine_lacks_stops_the_run_before_its_directory(tmp_path):
    result = CliRunner().invoke(app, ["run", "arc", "--preset", "smoke", "--run-dir", str(tmp_path / "r"), "--config",
                                      str(write_yaml(tmp_path / "d.yaml", {"model": {"device": "cuda:63"}}))])
    assert result.exit_code == 2 and "model.device 'cuda:63' is not available on this machine" in " ".join(result.output.split())
    assert not (tmp_path / "r").exists()


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_attaching_adapters_with_a_target_that_matches_nothing_says_so(tiny_model_dir):
    from seal_agent.config import LoraConfigSection
    from seal_agent.model.adapters import attach_adapters
    from seal_agent.model.loading import load_model_and_tokenizer

    model, _ = load_model_and_tokenizer(str(tiny_model_dir), device="cpu")
    with pytest.raises(ValueError, match="policy.target_modules: 'q_projj' match"):
        attach_adapters(model, LoraConfigSection(rank=4), LoraConfigSection(rank=4, target_modules=["q_projj"]), seed=0)


# -- hostile passage files stop the command before the run directory ----------------------------


@pytest.mark.parametrize("make_line, message", [
    pytest.param(lambda fact: "[" * 100_000 + "]" * 100_000, "line 1: not valid JSON: nested too deeply", id="deep"),
    pytest.param(lambda fact: json.dumps({**fact, "context": "Quillmont \ud800"}), "line 1: context is not valid Unicode",
                 id="surrogate"),
    pytest.param(lambda fact: json.dumps({**fact, "context": "word " * 10_000}),
                 "line 1: context has 50,000 characters; at most 20,000", id="huge"),
])
def test_hostile_passage_files_stop_the_knowledge_run_before_its_directory(tmp_path, make_line, message):
    fact = {"title": "Zorbania", "context": "The capital of Zorbania is Quillmont.",
            "questions": [{"question": "What is the capital of Zorbania?", "answers": ["Quillmont"]}]}
    path = tmp_path / "p.jsonl"
    path.write_text(make_line(fact) + "\n")
    result = CliRunner().invoke(app, ["run", "knowledge", "--preset", "smoke", "--data", str(path), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert not (tmp_path / "r").exists()


# -- faults ---------------------------------------------------------------------------------


def test_a_candidate_over_its_time_limit_fails_and_the_run_completes(tmp_path):
    prepared = prepare_run(fast_config(rounds=1, ttt={"max_seconds_per_candidate": 1e-4}), tmp_path / "run", resume=False)
    summary = run_arc(prepared)
    rows = TraceStore(prepared.run_dir / "run.sqlite").candidates()
    failed = [r for r in rows if r["status"] == "failed"]
    assert summary["stop_reason"] == "done"
    assert failed and all("per-candidate time limit" in r["reason"] for r in failed)
    assert summary["rounds"][0]["failed"] == len(failed)


# -- exclusive run directories --------------------------------------------------------------


def test_a_second_process_on_the_same_run_directory_is_refused(tmp_path):
    prepared = prepare_run(fast_config(rounds=1), tmp_path / "run", resume=False)
    with RunLock(prepared.run_dir):  # as if another seal process were running there
        with pytest.raises(RunLockedError, match="another seal process"):
            run_arc(prepared)
        result = CliRunner().invoke(app, ["run", "arc", "--resume", "--run-dir", str(prepared.run_dir)])
        # Rich wraps long lines at the terminal width: compare with whitespace collapsed.
        assert result.exit_code == 2 and "another seal process" in " ".join(result.output.split())
        assert (prepared.run_dir / "config.yaml").exists()  # the refused process removed nothing
    assert run_arc(prepared)["stop_reason"] == "done"  # the lock goes with its holder


@pytest.mark.slow  # ~17 s: two knowledge runs at once
def test_runs_on_different_directories_go_side_by_side(tmp_path):
    overlay = tmp_path / "k.yaml"
    overlay.write_text(yaml.safe_dump({
        "model": {"tiny": SMALL_TINY}, "rounds": 1, "passages_per_round": 2,
        "policy": {"candidates_per_passage": 2, "max_new_tokens": 200, "max_text_chars": 16, "max_items": 2},
        "update": {"epochs": 2, "seeds": 1}, "eval": {"answer_max_new_tokens": 4}}))
    command = [sys.executable, "-m", "seal_agent.cli", "run", "knowledge", "--preset", "smoke", "--config", str(overlay)]
    processes = [subprocess.Popen(command + ["--run-dir", str(tmp_path / name), "--threads", "1"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for name in ("a", "b")]
    outputs = [p.communicate(timeout=600)[0].decode() for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    a, b = (json.loads((tmp_path / name / "summary.json").read_text()) for name in ("a", "b"))
    assert comparable(a) == comparable(b)


# -- inspecting a run: read-only, damaged files named ---------------------------------------


def one_line(result) -> str:
    return " ".join(result.output.split())


def cli(args: list[str]):
    # A wide console: a long temporary path stays on one line of the captured output.
    return CliRunner().invoke(app, args, env={"COLUMNS": "400"})


def small_run(run_dir: Path) -> Path:
    run_dir.mkdir()
    store = TraceStore(run_dir / "run.sqlite")
    store.record_candidate({"round": 1, "task_id": "t", "candidate": 0, "status": "ok", "reward": 1.0, "seconds": 0.1})
    store.close()
    return run_dir


def test_inspecting_an_empty_database_writes_nothing(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.sqlite").write_bytes(b"")
    for command in (["trace", "list"], ["trace", "show"], ["trace", "export"]):
        result = cli(command + [str(run_dir)])
        assert result.exit_code == 0, result.output
    assert cli(["report", str(run_dir), "-o", str(tmp_path / "r.html")]).exit_code == 0
    assert (run_dir / "run.sqlite").stat().st_size == 0 and [p.name for p in run_dir.iterdir()] == ["run.sqlite"]


DAMAGED = {
    "run.sqlite": b"this is not a database" * 100,
    "summary.json": b'{"rounds": [',
    "config.yaml": b"model: [unclosed",
}


@pytest.mark.parametrize("damaged", [*DAMAGED, "summary.json:list", "config.yaml:deep", "summary.json:bytes"])
def test_inspecting_damaged_run_files_names_the_file(tmp_path, damaged):
    run_dir = small_run(tmp_path / "run")
    name, _, kind = damaged.partition(":")
    content = {"list": b"[1, 2]", "deep": b"[" * 100_000, "bytes": b"\xff\xfe{"}.get(kind, DAMAGED.get(name))
    (run_dir / name).write_bytes(content)
    commands = [["trace", "list", str(run_dir)], ["trace", "show", str(run_dir)], ["trace", "export", str(run_dir)],
                ["report", str(run_dir), "-o", str(tmp_path / "r.html")]]
    if kind == "deep":  # every command reads config.yaml with the same reader, and PyYAML takes ~3 s to give up
        commands = commands[-1:]
    for command in commands:
        result = cli(command)
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit), (command, result.output)
        assert one_line(result).startswith(f"error: {run_dir / name}: ") and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def test_report_and_export_outputs_create_missing_folders_and_refuse_a_directory(tmp_path):
    run_dir = small_run(tmp_path / "run")
    report = tmp_path / "new" / "folder" / "report.html"
    assert cli(["report", str(run_dir), "-o", str(report)]).exit_code == 0 and report.stat().st_size > 0
    exported = tmp_path / "other" / "rows.jsonl"
    assert cli(["trace", "export", str(run_dir), "-o", str(exported)]).exit_code == 0
    assert json.loads(exported.read_text())["task_id"] == "t"
    for command in (["report", str(run_dir), "-o", str(tmp_path)], ["trace", "export", str(run_dir), "-o", str(tmp_path)]):
        result = cli(command)
        assert result.exit_code == 2 and one_line(result) == f"error: {tmp_path}: is a directory; give the name of " + (
            "the HTML file to write" if command[0] == "report" else "the file to write"), result.output


# -- run directories: only a run's own files, taken under the lock --------------------------


def test_resume_refuses_a_directory_without_the_run_marker_and_deletes_nothing(tmp_path):
    user_dir = tmp_path / "mine"
    (user_dir / "notes").mkdir(parents=True)
    (user_dir / "config.yaml").write_text(dump_config(fast_config(model={"name_or_path": str(tmp_path / "no-model")})))
    kept = [user_dir / "draft.tmp", user_dir / "notes" / "todo.tmp", user_dir / "summary.json.tmp"]
    for path in kept:
        path.write_text("the user's")
    result = cli(["run", "arc", "--resume", "--run-dir", str(user_dir)])
    assert all(path.exists() for path in kept)
    assert result.exit_code == 2 and "seal-run.json" in one_line(result), result.output


def test_a_start_removes_only_the_runs_own_temporary_files(tmp_path):
    run_dir = prepare_run(fast_config(rounds=1), tmp_path / "run", resume=False).run_dir
    leftovers = [run_dir / "summary.json.tmp", run_dir / "policy" / "round_1.tmp" / "adapter.bin",
                 run_dir / "continual" / "step_2.safetensors.tmp", run_dir / "base_model" / "tiny_recipe.json.tmp"]
    users = [run_dir / "notes.tmp", run_dir / "data" / "x.tmp", run_dir / "policy" / "mine.tmp", run_dir / "round_1.tmp"]
    for path in leftovers + users:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    with exclusive_run(run_dir):
        pass
    assert not any(path.exists() for path in leftovers) and not (run_dir / "policy" / "round_1.tmp").exists()
    assert all(path.read_text() == "x" for path in users)


def test_two_new_runs_on_one_directory_the_loser_writes_nothing(tmp_path, monkeypatch):
    """Both check the empty directory; the winner takes it and runs; the loser must not write."""
    import seal_agent.jobs.arc as jobs_arc

    run_dir = tmp_path / "shared"
    run_dir.mkdir()
    load_tasks = jobs_arc.load_configured_tasks
    held: list[RunLock] = []

    def winner_goes_first(data):
        if not held:  # while the loser is between its check and its writes
            monkeypatch.setattr(jobs_arc, "load_configured_tasks", load_tasks)
            prepare_run(fast_config(seed=1), run_dir, resume=False)
            held.append(RunLock(run_dir).acquire())  # the winner's run is going
        return load_tasks(data)

    monkeypatch.setattr(jobs_arc, "load_configured_tasks", winner_goes_first)
    try:
        with pytest.raises(RunDirError, match="another seal process"):
            prepare_run(fast_config(seed=2), run_dir, resume=False)
    finally:
        held[0].release()
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["seed"] == 1
    with pytest.raises(RunDirError, match="already holds a run"):  # checked again under the lock
        create_run_dir(run_dir, fast_config(seed=3))
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["seed"] == 1


def test_a_failed_new_run_removes_only_what_it_wrote(tmp_path):
    made_by_user = tmp_path / "empty"
    made_by_user.mkdir()
    result = cli(["run", "knowledge", "--log-to", "wandb", "--run-dir", str(made_by_user)])
    assert result.exit_code == 2 and "unknown tracker" in result.output
    assert made_by_user.is_dir() and not any(made_by_user.iterdir())  # the user's directory stays

    prepared = prepare_run(fast_config(rounds=1), tmp_path / "new", resume=False)
    (prepared.run_dir / "mine.txt").write_text("added by the user while the run started")
    remove_new_run_dir(prepared.run_dir, resume=False)
    assert [p.name for p in prepared.run_dir.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("where", ["under a file", "under /proc", "read-only", "read-only, resumed"])
def test_unwritable_run_directories_give_one_clear_error(tmp_path, where):
    command = ["run", "arc", "--preset", "smoke", "--run-dir"]
    if where == "under a file":
        (tmp_path / "file").write_text("")
        run_dir = tmp_path / "file" / "run"
    elif where == "under /proc":
        run_dir = Path("/proc/seal-test/run")
    else:
        run_dir = tmp_path / "locked"
        if where.endswith("resumed"):
            prepare_run(fast_config(rounds=1), run_dir, resume=False)
            command = ["run", "arc", "--resume", "--run-dir"]
        run_dir.mkdir(exist_ok=True)
        run_dir.chmod(0o500)
        if os.access(run_dir, os.W_OK):
            pytest.skip("this user writes into read-only directories (root)")
    result = cli(command + [str(run_dir)])
    if where.startswith("read-only"):
        run_dir.chmod(0o700)  # so that pytest can clear its temporary directory
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    text = one_line(result)
    assert text.startswith(f"error: {run_dir}: cannot") and len(result.output.strip().splitlines()) == 1


# -- determinism ----------------------------------------------------------------------------


def test_same_config_and_seed_give_identical_traces_and_summary(tmp_path):
    def once(name):
        prepared = prepare_run(fast_config(rounds=1), tmp_path / name, resume=False)
        summary = run_arc(prepared)
        rows = TraceStore(prepared.run_dir / "run.sqlite").candidates()
        for row in rows:
            row.pop("seconds"), row.pop("timings")
        return comparable(summary), rows

    assert once("first") == once("second")


def test_a_run_from_before_the_marker_is_refused_with_the_line_that_marks_it(tmp_path):
    from seal_agent.arc.config import RunConfig
    from seal_agent.run.directory import MARKER_FILE, RunDirError, saved_config

    old = tmp_path / "old"
    old.mkdir()
    (old / "config.yaml").write_text("seed: 0\n")
    (old / "run.sqlite").write_bytes(b"")
    with pytest.raises(RunDirError, match="versions before the marker") as refused:
        saved_config(old, RunConfig)
    assert f"> {old / MARKER_FILE}" in str(refused.value)
    assert sorted(p.name for p in old.iterdir()) == ["config.yaml", "run.sqlite"]  # nothing written or removed
