"""The contextual world's probe: the linear probe fits what is there and only that, the grid
features read the kinds, and the script scores evaluation families it never fitted on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seal_agent.arc import contextual_world as world
from seal_agent.arc.contextual_probe import fit_probe, grid_features, prompt_states

ROOT = Path(__file__).resolve().parents[1]


def test_the_probe_separates_separable_classes_on_new_points():
    g = torch.Generator().manual_seed(0)
    centres = {"a": torch.tensor([3.0, 0.0, 0.0]), "b": torch.tensor([0.0, 3.0, 0.0]), "c": torch.tensor([0.0, 0.0, 3.0])}

    def draw(n):
        labels = [k for k in centres for _ in range(n)]
        return torch.stack([centres[k] + 0.3 * torch.randn(3, generator=g) for k in labels]), labels

    x, y = draw(20)
    probe = fit_probe(x, y)
    test_x, test_y = draw(10)
    assert probe.classes == ("a", "b", "c") and probe.accuracy(test_x, test_y) == 1.0


def test_the_probe_finds_nothing_in_features_unrelated_to_the_labels():
    g = torch.Generator().manual_seed(1)
    labels = ["a", "b", "c"] * 100
    probe = fit_probe(torch.randn(300, 8, generator=g), labels)
    assert probe.accuracy(torch.randn(300, 8, generator=g), labels) < 0.45  # chance is 1/3


def test_the_probe_needs_two_classes():
    with pytest.raises(ValueError, match="two classes"):
        fit_probe(torch.zeros(4, 2), ["a"] * 4)


@pytest.mark.parametrize("family, one_line, by_colour, from_background", [
    ("replace", 0.0, 1.0, 0.0),  # a colour changes wherever it is; no background changes
    ("fill_row", 1.0, None, 1.0),  # background cells of one line change
    ("clear_row", 1.0, None, 0.0),  # coloured cells of one line change
])
def test_grid_features_read_what_each_kind_does(family, one_line, by_colour, from_background):
    spec = next(s for s in world.specs("rl", 3) if s.family == family)
    features = grid_features(world.make_task(spec, 3))
    if family != "replace":  # a replaced colour can sit on one line by chance; the others always do
        assert features[0] == one_line
    if by_colour is not None:
        assert features[1] == by_colour
    assert features[2] == from_background


def test_prompt_states_give_each_layer_a_mean_and_a_last_token_state(tiny_peft):
    model, tokenizer = tiny_peft
    states = prompt_states(model, tokenizer, ["12\n30\n", "1\n"])
    layers, hidden = model.config.num_hidden_layers + 1, model.config.hidden_size
    assert states["mean"].shape == states["last"].shape == (2, layers, hidden)
    assert not torch.allclose(states["last"][0], states["last"][1])


@pytest.mark.slow
def test_the_probe_script_fits_on_rl_families_and_scores_evaluation_families(tmp_path):
    from typer.testing import CliRunner

    from seal_agent.cli import app

    model = tmp_path / "nano"
    assert CliRunner().invoke(app, ["pretrain", "nano", "--world", "contextual", "--out", str(model), "--steps", "10"]).exit_code == 0
    out = tmp_path / "probe.json"
    script = str(ROOT / "benchmarks" / "contextual_probe.py")
    subprocess.run([sys.executable, script, "--model", str(model), "--seeds", "0,1", "--tasks-per-family", "4",
                    "--json", str(out)], check=True, timeout=600)
    table = json.loads(out.read_text())
    seed = table["per_seed"][0]
    assert {world.family_of(t) for t in seed["rl_tasks"]} == set(world.ROLES["rl"])
    assert {world.family_of(t) for t in seed["eval_tasks"]} == set(world.ROLES["eval"])
    probes = table["probes"]["initial policy"]
    assert {"mean layer 0", "last layer 0"} <= set(probes)
    assert all(0.0 <= p["evaluation_families"] <= 1.0 and p["between_seeds"]["seeds"] == 2 for p in probes.values())
    assert table["grid_features"]["evaluation_families"] > 0.8
    refused = subprocess.run([sys.executable, script, "--model", str(model), "--policy", "after=missing-dir",
                              "--json", str(out)], capture_output=True, text=True)
    assert refused.returncode != 0 and "NAME=DIR" in refused.stderr
