"""Tables computed once per seed: a cut run goes on, and seeds run under one config are never
pooled with seeds run under another."""

import argparse
import json
from pathlib import Path

import pytest

from seal_agent.model.tiny import model_identity
from seal_agent.run.seeding import each_seed, table_settings


def options(tmp_path: Path, config_text: str, **more) -> argparse.Namespace:
    config = tmp_path / "layer.yaml"
    config.write_text(config_text)
    return argparse.Namespace(model=str(tmp_path), config=config, rounds=2, seeds=[1, 2], work=tmp_path / "w",
                              json=None, **more)


def test_finished_seeds_are_read_back_and_other_settings_are_refused(tmp_path):
    ran = []

    def run_seed(seed, directory):
        ran.append(seed)
        return {"seed": seed}

    work = tmp_path / "w"
    settings = table_settings(options(tmp_path, "rl: {learning_rate: 0.001}\n"))
    assert each_seed([1], work, run_seed, settings) == [{"seed": 1}]
    # more seeds, the same options (the seeds themselves, --work and --json do not count): the first is reused
    assert each_seed([1, 2], work, run_seed, table_settings(options(tmp_path, "rl: {learning_rate: 0.001}\n"))) == [
        {"seed": 1}, {"seed": 2}]
    assert ran == [1, 2]
    # the same --config path with other content is another config
    with pytest.raises(SystemExit, match="config differ"):
        each_seed([3], work, run_seed, table_settings(options(tmp_path, "rl: {learning_rate: 0.01}\n")))
    with pytest.raises(SystemExit, match="rounds differ"):
        each_seed([3], work, run_seed, {**settings, "rounds": 3})
    with pytest.raises(SystemExit, match="candidates differ"):  # an option the first run did not have, set
        each_seed([3], work, run_seed, table_settings(options(tmp_path, "rl: {learning_rate: 0.001}\n", candidates=4)))
    assert ran == [1, 2]
    # an option added to the script since, left unset, is the same run
    assert each_seed([3], work, run_seed, table_settings(options(tmp_path, "rl: {learning_rate: 0.001}\n", rest_em_work=None,
                                                                 spread=False))) == [{"seed": 3}]


def test_a_model_directory_counts_by_its_full_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    relative = table_settings(argparse.Namespace(model="models", work=None))
    absolute = table_settings(argparse.Namespace(model=str(tmp_path / "models"), work=None))
    assert relative == absolute == {"model": str((tmp_path / "models").resolve())}
    # a plain string option that happens to name a directory here is still just its string
    (tmp_path / "nano").mkdir()
    assert table_settings(argparse.Namespace(world="nano")) == {"world": "nano"}


def test_a_pretrained_nano_model_counts_by_its_recipe_not_its_place(tmp_path):
    """Seeds run on a model pool with seeds run on the same recipe rebuilt elsewhere, never
    with seeds run on a model trained otherwise."""
    recipe = {"size": "small", "seed": 0, "steps": 2000, "seconds": 1161.5, "loss_curve": [5.5, 0.2, 0.1]}
    for name, changes in (("here", {}), ("there", {"seconds": 990.0}), ("other", {"loss_curve": [5.5, 0.2, 0.3]})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "nano_recipe.json").write_text(json.dumps({**recipe, **changes}))
    here, there, other = (table_settings(argparse.Namespace(model=str(tmp_path / n)), model_identity=model_identity)
                          for n in ("here", "there", "other"))
    assert here == there
    assert "seconds" not in json.dumps(here) and here["model"]["recipe"]["last_100_mean_loss"] == pytest.approx((5.5 + 0.2 + 0.1) / 3)
    assert here != other


def test_seed_records_kept_apart_from_the_work_directory(tmp_path):
    """--seed-records: finished seeds and the settings live there, and are reused from there
    by a run whose --work is new (the working directory of the first run is gone)."""
    ran = []

    def run_seed(seed, directory):
        ran.append((seed, directory))
        return {"seed": seed}

    records = tmp_path / "records"
    settings = table_settings(options(tmp_path, "rl: {learning_rate: 0.001}\n", seed_records=records))
    assert "seed_records" not in settings
    assert each_seed([1], tmp_path / "w1", run_seed, settings, records=records) == [{"seed": 1}]
    assert sorted(p.name for p in records.iterdir()) == ["seed-1.json", "table-settings.json"]
    assert not (tmp_path / "w1" / "seed-1.json").exists()
    assert each_seed([1, 2], tmp_path / "w2", run_seed, settings, records=records) == [{"seed": 1}, {"seed": 2}]
    assert ran == [(1, tmp_path / "w1" / "seed-1"), (2, tmp_path / "w2" / "seed-2")]
    with pytest.raises(SystemExit, match="rounds differ"):
        each_seed([3], tmp_path / "w3", run_seed, {**settings, "rounds": 5}, records=records)
