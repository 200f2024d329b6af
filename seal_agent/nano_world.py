"""The nano ARC world: ARC-format tasks from parameterised transformation families.

A world where a small model can be pretrained on a CPU in minutes, and where test-time
training with a well-chosen self-edit solves held-out tasks that the model cannot solve
in context. Every task is `ArcTask`-shaped (demonstrations plus one test pair) on small
grids (3x3 inputs; `GRID_SIDES`), and deterministic in its seed.

Families (each a function of its parameters):
    rotate(k)            quarter turns, k in 1..3
    flip(axis)           0: upside down, 1: left-right
    transpose
    colour_map(pairs)    swap colours in the given pairs, others unchanged
    gravity(direction)   every coloured cell falls to the side (down, up, left, right)
    shift(dy, dx)        cyclic shift of the whole grid
    upscale(2)           every cell becomes a 2x2 block
    tile                 the grid repeated 2x2
    mask(colour)         keep one colour, clear the others
    compositions         one family after another (e.g. flip then colour_map)

The split (`SPLIT`): pretraining sees every family with some parameters; held out are
the colour maps over colour pairs never swapped in pretraining, shifts by offsets never
used in pretraining, and whole composition families. `held_out_family` says which is
which, and the tests check that nothing held out reaches the pretraining data.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from seal_agent.arc_data import ArcTask, Pair

Transform = Callable[[np.ndarray], np.ndarray]


def _gravity(grid: np.ndarray, direction: str) -> np.ndarray:
    """Coloured cells slide to one side of each column (down/up) or row (left/right), in order."""
    turns = {"down": 0, "right": 1, "up": 2, "left": 3}[direction]
    g = np.rot90(grid, turns)
    out = np.zeros_like(g)
    for c in range(g.shape[1]):
        column = [v for v in g[:, c] if v != 0]
        if column:
            out[-len(column):, c] = column
    return np.rot90(out, -turns)


def _colour_map(grid: np.ndarray, pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    out = grid.copy()
    for a, b in pairs:
        out[grid == a] = b
        out[grid == b] = a
    return out


def family_transform(family: str, params: tuple) -> Transform:
    """The grid function of a family with its parameters."""
    if family == "rotate":
        return lambda g: np.rot90(g, params[0])
    if family == "flip":
        return lambda g: np.flip(g, params[0])
    if family == "transpose":
        return lambda g: g.T
    if family == "colour_map":
        return lambda g: _colour_map(g, params)
    if family == "gravity":
        return lambda g: _gravity(g, params[0])
    if family == "shift":
        return lambda g: np.roll(g, params, axis=(0, 1))
    if family == "upscale":
        return lambda g: np.kron(g, np.ones((2, 2), dtype=g.dtype))
    if family == "tile":
        return lambda g: np.tile(g, (2, 2))
    if family == "mask":
        return lambda g: np.where(g == params[0], g, 0)
    if family.startswith("compose:"):
        first, second = family.split(":", 1)[1].split("+")
        f, s = family_transform(first, params[0]), family_transform(second, params[1])
        return lambda g: s(f(g))
    raise ValueError(f"unknown family {family!r}")


# -- the split ------------------------------------------------------------------------------

PRETRAIN_COLOUR_PAIRS = [((1, 2),), ((3, 4),), ((5, 6),), ((7, 8),), ((1, 3),), ((2, 4),), ((1, 2), (3, 4))]
HELD_OUT_COLOUR_PAIRS = [((1, 5),), ((2, 6),), ((3, 8),), ((4, 9),), ((6, 9),), ((2, 7),)]
PRETRAIN_SHIFTS = [(0, 1), (1, 0), (1, 1)]
HELD_OUT_SHIFTS = [(0, 2), (2, 0), (2, 1), (1, 2)]


@dataclass(frozen=True)
class FamilySpec:
    family: str
    params: tuple

    @property
    def name(self) -> str:
        """A file-name-safe id: family and flattened parameters, e.g. colour_map-1-5."""
        def flat(value):
            if isinstance(value, tuple):
                return [x for v in value for x in flat(v)]
            return [str(value)]

        return "-".join([self.family.replace(":", "_").replace("+", "_then_")] + flat(self.params))


def pretraining_specs() -> list[FamilySpec]:
    specs = [FamilySpec("rotate", (k,)) for k in (1, 2, 3)]
    specs += [FamilySpec("flip", (a,)) for a in (0, 1)] + [FamilySpec("transpose", ())]
    specs += [FamilySpec("colour_map", p) for p in PRETRAIN_COLOUR_PAIRS]
    specs += [FamilySpec("gravity", (d,)) for d in ("down", "up", "left", "right")]
    specs += [FamilySpec("shift", s) for s in PRETRAIN_SHIFTS]
    specs += [FamilySpec("upscale", ()), FamilySpec("tile", ())]
    specs += [FamilySpec("mask", (c,)) for c in (1, 2, 3, 4)]
    return specs


def held_out_specs() -> list[FamilySpec]:
    """Held-out parameters and compositions: never in the pretraining data."""
    specs = [FamilySpec("colour_map", p) for p in HELD_OUT_COLOUR_PAIRS]
    specs += [FamilySpec("shift", s) for s in HELD_OUT_SHIFTS]
    specs += [FamilySpec("compose:flip+colour_map", ((1,), p)) for p in HELD_OUT_COLOUR_PAIRS[:3]]
    specs += [FamilySpec("compose:gravity+mask", (("down",), (c,))) for c in (5, 6)]
    return specs


def held_out_family(spec: FamilySpec) -> bool:
    return spec in set(held_out_specs())


# -- tasks ----------------------------------------------------------------------------------


GRID_SIDES = (3, 3)  # small enough that a sub-million-parameter model can write whole grids exactly


def random_grid(rng: random.Random, colours: list[int], size: tuple[int, int] | None = None) -> np.ndarray:
    rows, cols = size or (rng.randint(*GRID_SIDES), rng.randint(*GRID_SIDES))
    return np.array([[rng.choice(colours) if rng.random() < 0.55 else 0 for _ in range(cols)] for _ in range(rows)])


def make_task(spec: FamilySpec, seed: int, demonstrations: int = 3, task_id: str | None = None) -> ArcTask:
    """A task of `spec`: `demonstrations` pairs and one test pair, deterministic in `seed`."""
    rng = random.Random(f"{spec.name}/{seed}")
    transform = family_transform(spec.family, spec.params)
    # Colour maps and masks need their colours to appear, or the demonstrations show nothing.
    wanted = sorted({c for pair in spec.params if isinstance(pair, tuple) for c in pair if isinstance(c, int)}
                    | ({spec.params[0]} if spec.family == "mask" else set()))
    palette = sorted(set(wanted) | set(rng.sample(range(1, 10), 3)))
    pairs = []
    while len(pairs) < demonstrations + 1:
        grid = random_grid(rng, palette)
        out = transform(grid)
        if np.array_equal(out, grid) or out.shape[0] > 10 or out.shape[1] > 10:
            continue  # a pair that shows nothing, or too big for the small world
        pairs.append(Pair(grid.tolist(), np.asarray(out).tolist()))
    return ArcTask(task_id or f"{spec.name}-{seed}", tuple(pairs[:demonstrations]), tuple(pairs[demonstrations:]))


def pretraining_tasks(count: int, seed: int) -> list[ArcTask]:
    specs = pretraining_specs()
    rng = random.Random(seed)
    return [make_task(rng.choice(specs), rng.randrange(1 << 30), demonstrations=rng.randint(2, 4)) for _ in range(count)]


def held_out_tasks(per_spec: int, seed: int, families: Sequence[str] | None = None) -> list[ArcTask]:
    """`per_spec` tasks of every held-out spec (only those whose family is in `families`, if given)."""
    specs = [s for s in held_out_specs() if families is None or s.family in families]
    if not specs:
        raise ValueError(f"no held-out family among {list(families or [])}; held out are "
                         f"{sorted({s.family for s in held_out_specs()})}")
    return [make_task(spec, seed * 1000 + i) for spec in specs for i in range(per_spec)]
