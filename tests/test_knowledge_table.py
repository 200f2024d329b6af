"""benchmarks/knowledge_table.py on a tiny random model: a cut seed resumes to the same figures,
every row carries its intervals and self-edit statistics, and paired differences line up."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.knowledge_table import paired_difference, pool, pool_self_edit_stats
from seal_agent.model.tiny import build_tiny_model
from tests.conftest import SMALL_TINY

ROOT = Path(__file__).resolve().parents[1]
SMALL = "policy: {max_new_tokens: 96, max_items: 2, max_text_chars: 24, sft_epochs: 1}\nupdate: {epochs: 2}\neval: {answer_max_new_tokens: 4}\n"


def table_command(model: Path, config: Path, work: Path, out: Path) -> list[str]:
    return [sys.executable, str(ROOT / "benchmarks" / "knowledge_table.py"), "--model", str(model), "--config", str(config),
            "--seeds", "0", "--rounds", "1", "--rl-passages", "2", "--eval-passages", "2", "--candidates", "2",
            "--update-seeds", "1", "--work", str(work), "--json", str(out)]


def figures(seed_file: Path) -> list[dict]:
    return [{k: v for k, v in row.items()} for row in json.loads(seed_file.read_text())["rows"]]


def cut_when(command: list[str], exists: Path, timeout: float = 120) -> None:
    """Run `command`, and kill it (SIGKILL, as a machine going down) as soon as `exists` appears."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not exists.exists():
        assert process.poll() is None, "the run ended before the point it was to be cut at"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="module")
def tiny_table(tmp_path_factory):
    root = tmp_path_factory.mktemp("table")
    model = build_tiny_model(root / "model", seed=0, **SMALL_TINY)
    config = root / "small.yaml"
    config.write_text(SMALL)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(table_command(model, config, root / "uncut", root / "uncut.json"), check=True, capture_output=True,
                          env=env, timeout=300, text=True)
    (root / "uncut.log").write_text(done.stderr)
    return root, model, config


def test_rest_em_reports_each_passage_and_round_as_it_goes(tiny_table):
    log = (tiny_table[0] / "uncut.log").read_text()
    assert "[execute]" in log and "round 1 ·" in log  # a line per RL passage scored
    assert "[reinforce]" in log and "mean reward" in log


# The cut mid ReST-EM runs by default; the cut mid rows-before-RL (another ~30 s) with -m slow.
@pytest.mark.parametrize("cut_at", [pytest.param("before/passages", marks=pytest.mark.slow), "rest-em/policy"])
def test_a_cut_seed_resumes_to_the_figures_of_an_uncut_one(tiny_table, cut_at):
    root, model, config = tiny_table
    work = root / f"cut-{cut_at.replace('/', '-')}"
    command = table_command(model, config, work, root / f"{work.name}.json")
    cut_when(command, work / "seed-0" / cut_at)  # mid rows-before-RL (one passage saved), or mid ReST-EM
    assert not (work / "seed-0.json").exists()
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert figures(work / "seed-0.json") == figures(root / "uncut" / "seed-0.json")


@pytest.mark.slow  # ~20 s: the script twice, up to its ReST-EM stage
def test_a_rest_em_run_with_other_settings_in_the_same_work_is_refused_not_resumed(tiny_table, tmp_path):
    root, model, config = tiny_table
    work = root / "uncut"  # in place: a copied --work would differ in its data paths whatever the options
    record, options = (work / "seed-0.json").read_text(), (work / "table-settings.json").read_text()
    (work / "seed-0.json").unlink()  # the seed is to be run again: its rows before RL are reused
    command = table_command(model, config, work, tmp_path / "out.json") + ["--rl-update-seeds", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run(command, capture_output=True, env=env, timeout=300, text=True)
        assert done.returncode != 0 and "rl_update_seeds differ" in done.stderr  # the table's own record of its options
        (work / "table-settings.json").unlink()  # without it, the ReST-EM run's saved config still refuses
        done = subprocess.run(command, capture_output=True, env=env, timeout=300, text=True)
        assert done.returncode != 0 and "holds a ReST-EM run with other settings" in done.stderr
    finally:
        (work / "seed-0.json").write_text(record)
        (work / "table-settings.json").write_text(options)


def test_the_table_has_intervals_people_and_self_edit_statistics(tiny_table):
    root, _model, _config = tiny_table
    table = json.loads((root / "uncut.json").read_text())
    assert table["seeds_done"] == [0] and table["people_disjoint"]
    assert set(table["rl_people"]["0"]).isdisjoint(table["eval_people"]["0"]) and len(table["eval_people"]["0"]) == 2
    rows = {r["name"]: r for r in table["rows"]}
    assert list(rows) == ["base model", "passage only", "implications before RL", "teacher implications", "SEAL round 1"]
    for row in rows.values():
        assert row["accuracy"]["n"] == row["n"] and "ci" in row["loglik_gain_between_seeds"]
    assert rows["teacher implications"]["self_edit_stats"]["share_correct_fact"] == 1.0
    assert rows["implications before RL"]["self_edit_stats"]["self_edits"] == 2 * 2  # passages x k
    assert rows["passage only"].get("self_edit_stats") is None
    assert "facts_per_self_edit" in rows["implications before RL"]["self_edit_stats"]
    (seed_rows_,) = table["per_seed"].values()  # each seed's own rows, beside the pooled ones
    assert [r["name"] for r in seed_rows_] == list(rows) and seed_rows_[2]["self_edit_stats"]["self_edits"] == 4
    pairs = [d["rows"] for d in table["paired_differences"]]
    assert ["SEAL round 1", "implications before RL"] in pairs and ["implications before RL", "passage only"] in pairs


def seed_rows(seed: int, gains: dict[str, list[float]]) -> dict:
    return {"seed": seed, "rows": [
        {"name": name, "correct": 0, "contains_correct": 1, "trials": 4 * len(values), "exact_match_per_passage": [0.0] * len(values),
         "contains_per_passage": [0.25] * len(values), "loglik_gain": values, "passage_ids": [f"p{i}" for i in range(len(values))],
         "unscored_passages": [], "self_edit_stats": None} for name, values in gains.items()]}


def test_pooled_and_between_seed_intervals_and_paired_differences():
    per_seed = [seed_rows(1, {"passage only": [1.0, 2.0], "implications before RL": [2.0, 4.0]}),
                seed_rows(2, {"passage only": [1.0, 1.0], "implications before RL": [1.5, 0.5]})]
    rows = {r["name"]: r for r in pool(per_seed)}
    implications = rows["implications before RL"]
    assert implications["loglik_gain"] == pytest.approx(2.0) and implications["passages"] == 4
    assert implications["loglik_gain_between_seeds"]["seed_means"] == [3.0, 1.0]
    # Two seeds: 12.71 standard errors of the seed means, so far wider than the pooled interval.
    low, high = implications["loglik_gain_between_seeds"]["ci"]
    assert high - 2.0 == pytest.approx(12.7062 * 1.0, abs=1e-3)
    assert implications["accuracy"]["solved"] == 2 and implications["accuracy"]["n"] == 16
    difference = paired_difference(per_seed, "implications before RL", "passage only")
    assert difference["mean"] == pytest.approx((1.0 + 2.0 + 0.5 - 0.5) / 4)
    assert difference["between_seeds"]["seed_means"] == [1.5, 0.0]
    assert difference["positive_in_every_seed"] is False


def test_self_edit_statistics_pool_lines_by_lines_and_self_edit_figures_by_self_edits():
    # Seed 1: 2 accepted self-edits of 10 lines in all; seed 2: 6 accepted (2 rejected) of 6 lines.
    first = {"self_edits": 2, "rejected": 0, "lines": 10, "share_correct_fact": 0.5, "facts_per_self_edit": 3.0,
             "share_self_edits_without_a_fact": 0.0, "examples": [["a"]]}
    second = {"self_edits": 8, "rejected": 2, "lines": 6, "share_correct_fact": 0.0, "facts_per_self_edit": 1.0,
              "share_self_edits_without_a_fact": 0.5, "examples": [["b"]]}
    pooled = pool_self_edit_stats([first, second])
    assert pooled["share_correct_fact"] == pytest.approx(5 / 16)  # 5 of 16 lines
    assert pooled["facts_per_self_edit"] == pytest.approx((2 * 3 + 6 * 1) / 8)  # 12 facts over 8 accepted self-edits
    assert pooled["share_self_edits_without_a_fact"] == pytest.approx(3 / 8)  # not 3/16 lines' worth
    assert pooled["lines_per_self_edit"] == pytest.approx(16 / 8) and pooled["examples"] == [["a"]]
    newer = {**second, "share_repeated_lines": 0.5}  # a figure the other seed's record lacks is left out, not half-pooled
    assert "share_repeated_lines" not in pool_self_edit_stats([first, newer])
    assert "share_repeated_lines" not in pool_self_edit_stats([newer, first])


@pytest.mark.slow  # ~15 s: a whole knowledge round in a subprocess
def test_the_round_benchmark_times_a_knowledge_round(tiny_table):
    root, model, config = tiny_table
    out = root / "round.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "round.py"), "--config", "knowledge", "--model", str(model),
                    "--knowledge-config", str(config), "--tasks", "1", "--candidates", "2", "--json", str(out)],
                   check=True, capture_output=True, timeout=300, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    report = json.loads(out.read_text())
    assert report["config"] == "knowledge" and report["tasks"] == 1 and report["candidates_per_task"] == 2
    assert set(report["seconds"]) == {"startup", "sampling", "data", "training", "evaluation", "reinforce"}
    assert report["seconds"]["training"] > 0 and report["update_epochs"] == 2
    assert report["tokens"]["training"] == report["tokens"]["data"] * 2 * report["update_seeds"]
    assert report["seconds"]["sampling"] > 0 and report["tokens"]["sampling"] > 0 and len(report["rewards"]) == 2


@pytest.mark.slow  # ~16 s: a second whole table
def test_rest_em_can_average_its_rewards_over_more_update_seeds_than_the_rows(tiny_table):
    import yaml

    root, model, config = tiny_table
    work = root / "rl-seeds"
    command = table_command(model, config, work, root / "rl-seeds.json") + ["--rl-update-seeds", "2"]
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    rest_em = yaml.safe_load((work / "seed-0" / "rest-em" / "config.yaml").read_text())
    assert rest_em["update"]["seeds"] == 2
    rows = {r["name"]: r for r in json.loads((root / "rl-seeds.json").read_text())["rows"]}
    assert rows["implications before RL"]["n"] == 2 * 4 * 2  # passages x questions x k, one update seed each
    # The rows before RL do not depend on ReST-EM's seeds: the same figures as the uncut table's.
    uncut = {r["name"]: r for r in json.loads((root / "uncut.json").read_text())["rows"]}
    assert rows["passage only"]["loglik_gain"] == uncut["passage only"]["loglik_gain"]
