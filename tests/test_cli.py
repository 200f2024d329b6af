"""The command line: bad inputs stop early with exit code 2 and leave nothing behind."""

import json

from typer.testing import CliRunner

from seal_agent.cli import app
from tests.conftest import TASK

runner = CliRunner()


def test_malformed_task_file_gives_clear_error_and_exit_2(tmp_path):
    bad = json.loads(json.dumps(TASK))
    bad["train"][1]["input"] = [[1, 2], [3]]
    (tmp_path / "broken.json").write_text(json.dumps(bad))
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["run", "arc", "--preset", "smoke", "--data", str(tmp_path / "broken.json"), "--run-dir", str(run_dir)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "broken.json" in text and "'broken'" in text and "train[1].input" in text
    assert not run_dir.exists()


def test_unknown_task_id_exit_2(tmp_path):
    result = runner.invoke(app, ["run", "arc", "--tasks", "nope1234", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and "nope1234" in result.output
    assert not (tmp_path / "r").exists()


def test_config_errors_are_listed_together(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("rounds: zero\npolicy:\n  candidates: 3\nttt:\n  batch_size: -1\n")
    result = runner.invoke(app, ["run", "arc", "--config", str(config), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "3 problem(s)" in text
    for field in ("rounds", "policy.candidates: unknown key", "ttt.batch_size"):
        assert field in text
    assert not (tmp_path / "r").exists()


def test_resume_without_a_run_is_refused(tmp_path):
    result = runner.invoke(app, ["run", "arc", "--resume", "--run-dir", str(tmp_path / "none")])
    assert result.exit_code == 2 and "nothing to resume" in result.output


def test_existing_run_dir_is_not_overwritten(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.yaml").write_text("seed: 0\n")
    result = runner.invoke(app, ["run", "arc", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--resume" in result.output


def test_tools_list():
    result = runner.invoke(app, ["tools", "list", "--json", "--vocabulary", "seal"])
    assert result.exit_code == 0
    listed = json.loads(result.output)
    assert [t["name"] for t in listed] == ["data_generation", "train"]
    assert {"name", "description", "schema"} <= set(listed[0])
    assert listed[1]["schema"]["properties"]["learning_rate"]["maximum"] == 0.01
    opened = json.loads(runner.invoke(app, ["tools", "list", "--json"]).output)
    assert {"rotate", "flip", "chain", "upscale", "tile", "permute_colours", "shuffle_demonstrations", "train"} <= {t["name"] for t in opened}
    assert runner.invoke(app, ["tools", "list"]).exit_code == 0


def test_trace_show_on_a_run(tmp_path, tiny_model_dir):
    from seal_agent.run.traces import TraceStore

    store = TraceStore(tmp_path / "run.sqlite")
    store.record_candidate({
        "round": 1, "task_id": "t[bold]x", "candidate": 0, "status": "rejected", "reason": "[red]bad[/red] <script>",
        "reward": 0.0, "completion": "[{", "seconds": 0.1,
    })
    result = runner.invoke(app, ["trace", "show", str(tmp_path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    assert "[red]bad[/red]" in result.output and "t[bold]x" in result.output  # shown literally


def test_missing_model_directory_exit_2(tmp_path):
    result = runner.invoke(app, ["run", "arc", "--model", str(tmp_path / "no-model"), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and "no-model" in result.output
    assert not (tmp_path / "r").exists()


def test_trace_training_cell_reads_both_domains_with_the_same_keys():
    from seal_agent.cli.trace import training_cell

    arc = {"training": {"learning_rate": 1e-4, "num_train_epochs": 3, "strategy": "output_tokens"}}
    knowledge = {"training": {"learning_rate": 1e-3, "num_train_epochs": 2, "seeds": [5, 6]}}
    assert training_cell(arc) == "lr 0.0001, 3 ep, output_tokens"
    assert training_cell(knowledge) == "lr 0.001, 2 ep, 2 seeds"
    assert training_cell({"training": {"learning_rate": 1e-3, "epochs": 2, "seeds": [5]}}) == "lr 0.001, 2 ep, 1 seeds"
    assert training_cell({"status": "rejected"}) == "-"


def test_data_without_tasks_uses_every_task_of_the_file(tmp_path):
    from seal_agent.arc.config import RunConfig
    from seal_agent.cli import cli_overrides
    from seal_agent.config import resolve_config
    from seal_agent.jobs.arc import prepare_run

    (tmp_path / "mine.json").write_text(json.dumps(TASK))
    overrides = cli_overrides(tasks=None, rounds=None, candidates=None, model=None, seed=None,
                              data=str(tmp_path / "mine.json"), arc_version=None)
    prepared = prepare_run(resolve_config("smoke", None, overrides, schema=RunConfig), tmp_path / "r", resume=False)
    assert [t.task_id for t in prepared.tasks] == ["mine"]  # not the preset's two ids
    chosen = cli_overrides(tasks="mine", rounds=None, candidates=None, model=None, seed=None,
                           data=str(tmp_path / "mine.json"), arc_version=None)
    assert chosen["data"]["tasks"] == ["mine"]


def test_an_unexpected_failure_is_one_line_and_exit_1_with_the_traceback_under_debug(monkeypatch, capsys):
    import pytest

    import seal_agent.tools as tools
    from seal_agent.cli import main

    def broken(*_args, **_kwargs):
        raise RuntimeError("the registry is on fire")

    monkeypatch.setattr(tools, "arc_tools", broken)
    monkeypatch.setattr("sys.argv", ["seal", "tools", "list"])
    with pytest.raises(SystemExit) as stop:
        main()
    out = capsys.readouterr().out
    assert stop.value.code == 1
    assert "error: seal tools list failed: RuntimeError: the registry is on fire" in out and "Traceback" not in out
    assert "--debug" in out
    monkeypatch.setattr("sys.argv", ["seal", "--debug", "tools", "list"])
    with pytest.raises(RuntimeError, match="on fire"):
        main()
    for argv, code in ((["seal", "run", "arc", "--bogus"], 2), (["seal", "tools", "list", "--json"], 0)):
        monkeypatch.setattr("sys.argv", argv)
        monkeypatch.setattr(tools, "arc_tools", lambda *a, **k: [])
        with pytest.raises(SystemExit) as stop:
            main()
        assert stop.value.code == code, argv


def test_an_error_naming_a_long_path_is_not_broken_across_lines(tmp_path):
    long_dir = tmp_path / ("a-folder-with-a-long-name-" * 6)
    result = runner.invoke(app, ["run", "arc", "--model", str(long_dir / "no-model"), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and str(long_dir / "no-model") in result.output


def test_resume_accepts_repeated_options_equal_to_the_saved_config_and_names_those_that_differ(tmp_path, monkeypatch):
    import pytest
    import typer

    from seal_agent.arc.config import RunConfig
    from seal_agent.cli.common import start_run
    from seal_agent.config import ConfigError, resolve_config
    from seal_agent.jobs.arc import prepare_run
    from seal_agent.run.directory import RunDirError

    (tmp_path / "mine.json").write_text(json.dumps(TASK))
    saved = resolve_config("smoke", None, {"seed": 3, "data": {"source": "path", "path": str(tmp_path / "mine.json"), "tasks": []}},
                           schema=RunConfig)
    prepare_run(saved, tmp_path / "r", resume=False)
    monkeypatch.chdir(tmp_path)

    def again(**options):
        return start_run(lambda config, run_dir, resume: (config, resume), RunConfig, resume=True, run_dir=tmp_path / "r",
                         name=lambda c: "x", errors=(ConfigError, RunDirError), **options)

    # The same command again, with the data file named relative to here: resumed.
    same = again(preset="smoke", config=None, overrides={"seed": 3, "data": {"source": "path", "path": "mine.json"}})
    assert same == (None, True)
    with pytest.raises(typer.Exit) as refused:
        again(preset="cpu", config=None, overrides={"seed": 4})
    assert refused.value.exit_code == 2
    result = runner.invoke(app, ["run", "arc", "--resume", "--run-dir", str(tmp_path / "r"), "--seed", "4", "--rounds", "2"])
    assert result.exit_code == 2 and "seed (saved 3, given 4)" in result.output and "rounds" not in result.output


def test_tools_list_names_the_ops_a_chain_step_can_take():
    result = runner.invoke(app, ["tools", "list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    assert "op in []" not in result.output and "op in ['" in result.output and "'rotate'" in result.output


def test_pretrain_refuses_seeds_and_learning_rates_it_cannot_use(tmp_path):
    for option, value in (("--learning-rate", "nan"), ("--learning-rate", "inf"), ("--seed", "-1"),
                          ("--data-seed", str(2**64))):
        result = runner.invoke(app, ["pretrain", "nano", "--out", str(tmp_path / "m"), "--steps", "1", option, value])
        assert result.exit_code == 2 and option in result.output, (option, value)
    assert not (tmp_path / "m").exists()
