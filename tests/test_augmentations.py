"""Properties of the augmentation transforms, over random grids (hypothesis)."""

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seal_agent.grids import Pair
from seal_agent.tools.base import ToolOutputError, as_grid
from seal_agent.tools.colour import colour_permutation
from seal_agent.tools.geometry import (
    ChainArgs, anti_transposition, chain, flip, mirroring, rotation, step_transform, symmetries, tiling, translation,
    transposition, upscaling,
)
from seal_agent.tools.ordering import demonstration_shuffle
from seal_agent.tools.seal_groups import basic_group, chain_group, repeat_group, size_group

grids = st.integers(1, 8).flatmap(
    lambda h: st.integers(1, 8).flatmap(
        lambda w: st.lists(st.lists(st.integers(0, 9), min_size=w, max_size=w), min_size=h, max_size=h)
    )
).map(np.array)

INVERTIBLE = (
    symmetries()
    + [mirroring(s) for s in ("right", "left", "below", "above")]
    + [translation(r, c) for r in range(3) for c in range(3)]
    + [upscaling(f, a) for f in (2, 3) for a in ("both", "height", "width")]
    + [tiling(t, a) for t in (2, 3) for a in ("both", "height", "width")]
    + basic_group() + size_group() + chain_group() + repeat_group()
    + [colour_permutation(seed) for seed in (0, 1, 7)]
)


@settings(max_examples=60, deadline=None)
@given(grid=grids)
def test_every_invertible_transform_then_its_inverse_is_the_identity(grid):
    for transform in INVERTIBLE:
        assert np.array_equal(transform.invert(transform(grid)), grid), transform.name


@settings(max_examples=60, deadline=None)
@given(grid=grids)
def test_shapes(grid):
    h, w = grid.shape
    for k in (1, 3):
        assert rotation(k)(grid).shape == (w, h)
    assert rotation(2)(grid).shape == (h, w)
    assert transposition()(grid).shape == anti_transposition()(grid).shape == (w, h)
    assert flip("horizontal")(grid).shape == flip("vertical")(grid).shape == (h, w)
    assert mirroring("right")(grid).shape == (h, 2 * w) and mirroring("above")(grid).shape == (2 * h, w)
    assert translation(2, 1)(grid).shape == (h + 2, w + 1)
    assert upscaling(3, "both")(grid).shape == (3 * h, 3 * w)
    assert upscaling(2, "height")(grid).shape == (2 * h, w) and upscaling(2, "width")(grid).shape == (h, 2 * w)
    assert tiling(3, "width")(grid).shape == (h, 3 * w) and tiling(2, "both")(grid).shape == (2 * h, 2 * w)


@settings(max_examples=40, deadline=None)
@given(grid=grids)
def test_the_eight_symmetries_are_distinct_maps_of_the_square(grid):
    square = np.arange(16).reshape(4, 4)
    images = {symmetry(square).tobytes() for symmetry in symmetries()}
    assert len(images) == 8
    for symmetry in symmetries():  # each is its own inverse or has its inverse among them
        assert np.array_equal(symmetry.invert(symmetry(grid)), grid)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 999), grid=grids)
def test_colour_permutations_are_bijections_that_fix_0(seed, grid):
    permutation = colour_permutation(seed)
    image = permutation(np.arange(10).reshape(1, 10))[0]
    assert image[0] == 0
    assert sorted(image.tolist()) == list(range(10))
    assert np.array_equal(permutation(grid) == 0, grid == 0)


@settings(max_examples=40, deadline=None)
@given(grid=grids, ops=st.lists(st.sampled_from([
    {"op": "rotate", "quarter_turns": 1}, {"op": "flip", "axis": "horizontal"}, {"op": "transpose"},
    {"op": "anti_transpose"}, {"op": "mirror", "side": "below"}, {"op": "translate", "rows": 1, "cols": 2},
    {"op": "upscale", "factor": 2, "axis": "width"}, {"op": "tile", "times": 2, "axis": "height"},
]), min_size=1, max_size=4))
def test_chains_apply_in_order_and_invert_in_reverse_order(grid, ops):
    steps = [step_transform(s) for s in ChainArgs.model_validate({"steps": ops}).steps]
    (combined,) = chain.invoke({"steps": ops})
    expected = grid
    for step in steps:
        expected = step(expected)
    assert np.array_equal(combined(grid), expected)
    undone = combined(grid)
    for step in reversed(steps):
        undone = step.invert(undone)
    assert np.array_equal(undone, grid)
    assert np.array_equal(combined.invert(combined(grid)), grid)


def test_demonstration_shuffle_is_a_permutation():
    pairs = [Pair([[i]], [[i]]) for i in range(6)]
    shuffled = demonstration_shuffle(3).apply(pairs, random.Random(0))
    assert sorted(p.input[0][0] for p in shuffled) == list(range(6))
    assert shuffled != pairs


@pytest.mark.parametrize("bad, reason", [
    ([[1, 2], [3]], "ragged"), ([[1, 12]], "colour 12"), ([[-1]], "colour -1"), ([], "shape"), ([1, 2, 3], "shape"),
    ([[0.5]], "non-integer"), ([[np.nan]], "non-integer"),
])
def test_tool_output_checks(bad, reason):
    with pytest.raises(ToolOutputError, match=reason):
        as_grid(bad, "my_tool")


def test_forward_outputs_on_a_known_grid():
    g = np.array([[1, 2], [3, 4]])
    expect = {
        "rotate_90": [[2, 4], [1, 3]], "flip_horizontal": [[2, 1], [4, 3]], "flip_vertical": [[3, 4], [1, 2]],
        "transpose": [[1, 3], [2, 4]], "anti_transpose": [[4, 2], [3, 1]],
    }
    transforms = {t.name: t for t in symmetries()}
    for name, expected in expect.items():
        assert transforms[name](g).tolist() == expected, name
    assert mirroring("right")(g).tolist() == [[1, 2, 2, 1], [3, 4, 4, 3]]
    assert mirroring("left")(g).tolist() == [[2, 1, 1, 2], [4, 3, 3, 4]]
    assert mirroring("below")(g).tolist() == [[1, 2], [3, 4], [3, 4], [1, 2]]
    assert mirroring("above")(g).tolist() == [[3, 4], [1, 2], [1, 2], [3, 4]]
    assert translation(1, 2)(g).tolist() == [[0, 0, 0, 0], [0, 0, 1, 2], [0, 0, 3, 4]]
    assert upscaling(2, "width")(g).tolist() == [[1, 1, 2, 2], [3, 3, 4, 4]]
    assert upscaling(2, "height")(g).tolist() == [[1, 2], [1, 2], [3, 4], [3, 4]]
    assert tiling(2, "width")(g).tolist() == [[1, 2, 1, 2], [3, 4, 3, 4]]
    assert tiling(2, "both")(g).tolist() == [[1, 2, 1, 2], [3, 4, 3, 4], [1, 2, 1, 2], [3, 4, 3, 4]]
