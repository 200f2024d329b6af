"""The contextual ARC world: tasks follow their rules, roles keep families apart, and each kind of
rule reacts to rotations and colour permutations as AUGMENTATION_EFFECT says."""

import random

import numpy as np
import pytest

from seal_agent.arc import contextual_world as world
from seal_agent.arc.data import validate_task


def all_specs():
    return [spec for role in world.ROLES for seed in range(4) for spec in world.specs(role, seed)]


def test_tasks_are_valid_deterministic_and_follow_their_rule():
    assert world.tasks("rl", 2, seed=1) == world.tasks("rl", 2, seed=1) != world.tasks("rl", 2, seed=2)
    for spec in all_specs():
        for seed in range(3):
            task = world.make_task(spec, seed)
            validate_task(task.task_id, task.to_json(), "generated")
            f = world.transform(spec)
            for pair in task.train + task.test:
                assert np.array_equal(f(np.array(pair.input)), np.array(pair.output)) and pair.input != pair.output


def test_rl_and_evaluation_share_no_family_and_cover_every_kind():
    rl, evaluation = set(world.ROLES["rl"]), set(world.ROLES["eval"])
    assert not rl & evaluation
    for role in (rl, evaluation):
        assert {world.KIND_OF[f] for f in role} == set(world.KINDS)
    task = world.tasks("eval", 1, seed=3)[0]
    assert world.family_of(task.task_id) in evaluation and world.kind_of(task.task_id) in world.KINDS


def test_a_colour_free_tests_line_holds_a_colour_the_demonstrations_show_only_off_their_line():
    for family in world.COLOUR_FREE:
        for seed in range(10):
            spec = world.ContextualSpec(family, (seed % world.SIDE,))
            task = world.make_task(spec, seed)
            line = world.line_cells(spec)
            on_line = [set(np.array(pair.input)[line].tolist()) - {0} for pair in task.train]
            assert len(set.union(*on_line)) == 1  # every demonstration's line: the same one colour
            (tested,) = set(np.array(task.test[0].input)[line].tolist()) - {0}
            assert tested not in on_line[0]
            for pair in task.train:  # ... and the test's line colour is shown off the line, unchanged
                grid, out = np.array(pair.input), np.array(pair.output)
                assert (grid[~line] == tested).any() and np.array_equal(grid[~line], out[~line])


def test_a_colour_bound_task_shows_its_colour_in_the_block_only_and_tests_it_outside():
    block = world.COLOUR_BOUND_DEMONSTRATION_CELLS
    for spec in [s for s in all_specs() if s.kind == "colour-bound"]:
        task = world.make_task(spec, 5)
        colour = spec.params[0]
        assert all(not (np.array(p.input)[~block] == colour).any() for p in task.train)
        assert (np.array(task.test[0].input)[~block] == colour).any()


def valid_grids(spec, count=200):
    """Grids the rule applies to: the inputs of many tasks of the spec."""
    return [np.array(pair.input) for seed in range(count // 4) for pair in world.make_task(spec, seed).train + world.make_task(spec, seed).test]


def rotate(g):
    return np.rot90(g)


def permute(g, seed):
    colours = list(world.COLOURS)
    shuffled = colours[:]
    random.Random(seed).shuffle(shuffled)
    table = np.array([0, *shuffled])
    return table[g]


@pytest.mark.parametrize("spec", [s for s in all_specs()], ids=lambda s: s.name)
def test_each_kind_reacts_to_augmentations_as_stated(spec):
    f = world.transform(spec)
    effect = world.AUGMENTATION_EFFECT[spec.kind]
    grids = valid_grids(spec)
    for augmentation, apply in (("rotation", rotate), ("colour_permutation", lambda g: permute(g, 7))):
        kept = [np.array_equal(f(apply(g)), apply(f(g))) for g in grids]
        if effect[augmentation] == "keeps":
            assert all(kept), f"{spec.name}: {augmentation} should keep the rule"
        else:  # the augmented demonstrations show another rule, for some grids at least
            assert not all(kept), f"{spec.name}: {augmentation} should change the rule"


def test_no_rule_is_one_the_nano_world_pretrains_on():
    from seal_agent.arc.nano_world import pretraining_specs

    pretrained = {(s.family, tuple(s.params)) for s in pretraining_specs()}
    drawn = {(s.family, s.params) for role in world.ROLES for seed in range(200) for s in world.specs(role, seed)}
    assert pretrained and not drawn & pretrained
