"""The contextual table's rows: the tuned constant's budget, the spread matrix, the per-family
oracle, the blind policy's decoys."""

import pytest

from seal_agent.arc import contextual_world
from seal_agent.arc.contextual_rows import (
    AUGMENTATION_SETS, TRAINING, add_matrices, augmentation_set, best_by_family, best_overall, best_sets, choices_toward_best, designed_sets,
    decoy_tasks, finalists, fixed_grid, per_family_source, search_plan, spread_matrix,
)
from seal_agent.arc.contextual_world import family_of


def test_the_grid_is_every_augmentation_set_with_every_training_setting():
    grid = fixed_grid()
    assert len(grid) == len(AUGMENTATION_SETS) * len(TRAINING)
    calls = grid["colours, lr 0.003, 8 epochs"]
    assert [c["name"] for c in calls] == ["permute_colours"] * 3 + ["train"]
    assert calls[-1]["arguments"] == {"learning_rate": 3e-3, "num_train_epochs": 8, "strategy": "output_tokens"}
    assert [c["name"] for c in grid["none, lr 0.01, 2 epochs"]] == ["train"]


@pytest.mark.parametrize("budget", [12, 13, 60, 100, 287, 288, 289, 576, 1000])
def test_the_tuned_constant_search_never_spends_more_than_its_budget(budget):
    configs = list(fixed_grid())
    chosen, k, leaders = search_plan(configs, tasks=12, budget=budget, seed=3)
    assert len(chosen) * 12 * k + leaders * 12 <= budget
    assert k >= 1 and len(set(chosen)) == len(chosen) and set(chosen) <= set(configs)
    if budget >= len(configs) * 12:  # every config, as often as the budget pays for, then leaders with the rest
        assert chosen == configs and (k + 1) * len(configs) * 12 > budget
        assert 0 <= leaders < len(configs) and budget - (len(chosen) * 12 * k + leaders * 12) < 12
    else:  # a seeded sample, as many as it can pay for
        assert k == 1 and leaders == 0 and len(chosen) == budget // 12
        assert search_plan(configs, 12, budget, seed=3) == (chosen, k, leaders)


def test_the_search_s_second_stage_takes_the_leaders_over_every_family():
    matrix = {"mask": {"a": {"solved": 1, "n": 2}, "b": {"solved": 2, "n": 2}, "c": {"solved": 0, "n": 2}},
              "fill_col": {"a": {"solved": 2, "n": 2}, "b": {"solved": 0, "n": 2}, "c": {"solved": 1, "n": 2}}}
    assert finalists(matrix, 1) == ["a"]  # 3 of 4 against 2 of 4 for b and 1 of 4 for c
    assert finalists(matrix, 2) == ["a", "b"] and finalists(matrix, 5) == ["a", "b", "c"]


def test_a_budget_that_cannot_score_one_config_is_refused():
    with pytest.raises(ValueError, match="cannot score one config"):
        search_plan(list(fixed_grid()), tasks=12, budget=11, seed=0)


def candidate(task_id, round_, reward):
    return {"task_id": task_id, "round": round_, "reward": reward, "status": "scored"}


def test_the_spread_matrix_counts_each_family_under_each_config_and_finds_the_best():
    names = {1: "none, lr 0.001, 2 epochs", 2: "rotations, lr 0.001, 2 epochs"}
    rows = [candidate("mask-3-1", 1, 1.0), candidate("mask-3-2", 1, 0.0), candidate("mask-3-1", 2, 0.0),
            candidate("mask-3-2", 2, 0.0), candidate("fill_col-1-4-1", 1, 0.0), candidate("fill_col-1-4-1", 2, 1.0)]
    matrix = spread_matrix(rows, names)
    assert matrix == {"fill_col": {names[1]: {"solved": 0, "n": 1}, names[2]: {"solved": 1, "n": 1}},
                      "mask": {names[1]: {"solved": 1, "n": 2}, names[2]: {"solved": 0, "n": 2}}}
    assert {f: b["config"] for f, b in best_by_family(matrix).items()} == {"fill_col": names[2], "mask": names[1]}
    assert best_overall(matrix) == names[1]  # 1/3 against 1/3: the first in grid order
    pooled = add_matrices([matrix, matrix])
    assert pooled["mask"][names[1]] == {"solved": 2, "n": 4, "success": 0.5}


def test_the_blind_policy_is_shown_another_familys_task():
    tasks = contextual_world.tasks("eval", 2, seed=5)
    decoys = decoy_tasks(tasks)
    assert set(decoys) == {t.task_id for t in tasks}
    for task in tasks:
        assert family_of(decoys[task.task_id].task_id) != family_of(task.task_id)
    with pytest.raises(ValueError, match="two families"):
        decoy_tasks([t for t in tasks if family_of(t.task_id) == "mask"])


def test_the_per_family_oracle_applies_each_familys_own_self_edit():
    grid = fixed_grid()
    source = per_family_source("oracle", {"mask": grid["rotations, lr 0.003, 8 epochs"], "clear_col": grid["colours, lr 0.01, 2 epochs"]})
    by_family = {family_of(t.task_id): t for t in contextual_world.tasks("eval", 1, seed=2)}
    for family, first in (("mask", "rotate"), ("clear_col", "permute_colours")):
        _, candidates = source.propose(by_family[family], [], 2, 0)
        assert len(candidates) == 2
        assert candidates[0]["tool_calls"][0]["name"] == first


def self_edit(task_id, *tools):
    calls = [{"name": name, "args": {}} for name in tools] + [{"name": "train", "args": {}}]
    return {"task_id": task_id, "training": {"learning_rate": 1e-3, "num_train_epochs": 2}, "tool_calls": calls}


def test_a_self_edit_s_augmentation_set_is_read_from_its_calls():
    assert augmentation_set(self_edit("mask-1")) == "none"
    assert augmentation_set(self_edit("mask-1", "rotate", "rotate")) == "rotations"
    assert augmentation_set(self_edit("mask-1", "permute_colours")) == "colours"
    assert augmentation_set(self_edit("mask-1", "permute_colours", "rotate")) == "both"


def test_choices_toward_best_tell_a_reading_policy_from_a_constant_one():
    cell = lambda solved: {"solved": solved, "n": 4}  # noqa: E731
    matrix = {"mask": {"rotations, lr 0.001, 2 epochs": cell(3), "rotations, lr 0.01, 8 epochs": cell(3),
                       "colours, lr 0.001, 2 epochs": cell(4), "colours, lr 0.01, 8 epochs": cell(0)},
              "fill_col": {"rotations, lr 0.001, 2 epochs": cell(0), "colours, lr 0.001, 2 epochs": cell(3)}}
    # mask: one colours cell is the best single config (4 of 4), but over its training
    # settings rotations win (6 of 8 against 4 of 8): the set it wants is rotations.
    assert best_by_family(matrix)["mask"]["config"].startswith("colours") and best_sets(matrix)["mask"] == "rotations"
    reading = [self_edit("mask-1", "rotate")] * 3 + [self_edit("mask-2", "permute_colours")] \
        + [self_edit("fill_col-1", "permute_colours")] * 4
    constant = [self_edit("mask-1", "rotate")] * 4 + [self_edit("fill_col-1", "rotate")] * 4
    invalid = {**self_edit("fill_col-1", "permute_colours"), "training": None}  # never counted
    result = choices_toward_best({"reading": reading + [invalid], "constant": constant}, matrix)
    assert result["best_set"] == {"mask": "rotations", "fill_col": "colours"}
    read = result["rows"]["reading"]["by_family"]
    assert read["mask"] == {"valid": 4, "sets": {"none": 0.0, "rotations": 0.75, "colours": 0.25, "both": 0.0},
                            "on_best": 0.75, "specificity": 0.75}
    assert read["fill_col"]["on_best"] == 1.0 and read["fill_col"]["specificity"] == 0.75  # 1.0 here, 0.25 on mask
    assert result["rows"]["reading"]["mean_specificity"] == 0.75
    # Always rotations: right on mask, wrong on fill_col, and no specificity at all.
    const = result["rows"]["constant"]
    assert const["by_family"]["mask"]["on_best"] == 1.0 and const["by_family"]["fill_col"]["on_best"] == 0.0
    assert const["mean_on_best"] == 0.5 and const["mean_specificity"] == 0.0


def test_the_designed_sets_follow_what_each_kind_s_augmentations_keep():
    assert designed_sets() == {"replace": "rotations", "mask": "rotations", "fill_row": "none", "fill_col": "none",
                               "clear_row": "colours", "clear_col": "colours"}


def test_the_imitation_keeps_what_the_reward_kept_and_what_the_design_wants():
    from benchmarks.contextual_imitation import training_sets

    def row(task_id, reward, *tools, status="ok", round_=1):
        return {**self_edit(task_id, *tools), "round": round_, "reward": reward, "status": status, "completion": f"{task_id}{tools}"}

    trace = [row("replace-1", 1.0), row("replace-1", 0.0, "rotate"), row("clear_row-1", 0.0, "permute_colours"),
             row("clear_row-1", 0.0, "rotate"), row("fill_row-1", 0.0), row("fill_row-1", 0.0, status="rejected"),
             row("replace-1", 1.0, "rotate", round_=2)]  # a later round: never read
    sets = training_sets(trace, {"replace-1": "P1", "clear_row-1": "P2", "fill_row-1": "P3"})
    assert sets["rewarded (ReST-EM's round 1)"] == [("P1", "replace-1()")]
    assert sets["the designed set (an ideal reward)"] == [
        ("P1", "replace-1('rotate',)"), ("P2", "clear_row-1('permute_colours',)"), ("P3", "fill_row-1()")]
    with pytest.raises(SystemExit, match="rewarded"):
        training_sets([row("fill_row-1", 0.0)], {"fill_row-1": "P3"})


def test_the_imitation_reuses_a_finished_seed_and_pools_seeds_as_replicates(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import benchmarks.contextual_imitation as imitation

    def result(seed, specificity):
        rows = {"initial policy": {"mean_specificity": 0.0}, "designed": {"mean_specificity": specificity}}
        return {"seed": seed, "toward_designed_set": {"rl": {"rows": rows}, "eval": {"rows": rows}}}

    ran = []
    monkeypatch.setattr(imitation, "imitate", lambda args, seed: ran.append(seed) or result(seed, 0.1 * seed))
    args = SimpleNamespace(work=tmp_path, steps=1000, k=5, model=str(tmp_path), seed_records=None)
    for seed in (1, 2):
        (tmp_path / f"seed-{seed}").mkdir()
    first = [imitation.run_seed(args, 1), imitation.run_seed(args, 2)]
    assert (tmp_path / "seed-1" / "imitation-1000-steps.json").exists()
    again = [imitation.run_seed(args, 1), imitation.run_seed(SimpleNamespace(work=tmp_path, steps=None, k=5, model=str(tmp_path), seed_records=None), 1)]
    assert ran == [1, 2, 1] and again[0] == first[0]  # same steps: read back; another --steps: run
    with pytest.raises(SystemExit, match="made with"):  # same steps, another k: not silently reused
        imitation.run_seed(SimpleNamespace(work=tmp_path, steps=1000, k=3, model=str(tmp_path), seed_records=None), 1)
    pooled = imitation.pool(first)
    assert pooled["eval"]["designed"]["seed_means"] == [0.1, 0.2] and pooled["eval"]["designed"]["seeds"] == 2
    assert abs(pooled["rl"]["designed"]["mean"] - 0.15) < 1e-12 and pooled["rl"]["initial policy"]["ci"] == [0.0, 0.0]
    collapsed = result(3, None)  # a policy with no valid self-edit has no specificity: left out, not a crash
    assert imitation.pool([first[0], collapsed])["eval"]["designed"]["seeds"] == 1
    # --seed-records: the finished seed is kept there, and read back from there once its --work is gone
    records = tmp_path / "records"
    records.mkdir()
    kept = SimpleNamespace(work=tmp_path, steps=1000, k=5, model=str(tmp_path), seed_records=records)
    assert imitation.run_seed(kept, 2) == {**result(2, 0.2), "made_with": first[1]["made_with"]}
    assert (records / "seed-2-imitation-1000-steps.json").exists() and ran == [1, 2, 1, 2]
    assert imitation.run_seed(SimpleNamespace(**{**vars(kept), "work": tmp_path / "gone"}), 2) == first[1] and ran == [1, 2, 1, 2]
