"""The nano ARC world: ARC-format tasks of cell-wise colour rules, in three disjoint roles.

A world small enough that a sub-million-parameter model pretrains on a CPU in minutes,
and where SEAL's question can be answered: on tasks whose rule the model has never seen,
in-context answers fail, test-time training with a well-chosen self-edit succeeds, and a
poorly chosen one does not. Every task is `ArcTask`-shaped (demonstrations plus one test
pair) on 3x3 grids (`GRID_SIDES`), deterministic in its seed.

Families (each a function of its parameters, applied to every cell):
    colour_map(pairs)    swap the colours of each pair, others unchanged
    mask(c)              keep colour c, clear the others
    recolour(c)          every coloured cell becomes c
    replace(a, b)        colour a becomes b, the rest unchanged
    fill(c)              every background cell becomes c
    compose:F+G          F, then G

Why cell-wise rules: a 0.85M-parameter Llama learns to copy a grid cell by cell with a
colour lookup, in context, but not to rotate or flip one (an earlier geometric world: 0 of
84 geometric tasks solved in context even on pretraining rules). Test-time training can
then teach it a lookup it has never seen, which is the adaptation SEAL is about.

The roles (`pretraining_specs`, `rl_specs`, `eval_specs`), all disjoint:
    pretraining   every family with some parameters; what `seal pretrain nano` trains on
    rl            ReST-EM's training tasks: colour maps over pairs never swapped in
                  pretraining, replacements a->b never seen, and the composition
                  colour_map+fill
    eval          the evaluation tasks the policy never trains on: recolour and fill with
                  colours they never use in pretraining, and the composition mask+recolour.
                  Disjoint from rl in families, not only in tasks (a composition is a family
                  of its own; its parts may appear elsewhere).
The tests check that no held-out spec reaches pretraining and that rl and eval share no family.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from seal_agent.arc.data import ArcTask
from seal_agent.grids import Pair

Transform = Callable[[np.ndarray], np.ndarray]


def _colour_map(grid: np.ndarray, pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    out = grid.copy()
    for a, b in pairs:
        out[grid == a] = b
        out[grid == b] = a
    return out


def family_transform(family: str, params: tuple) -> Transform:
    """The grid function of a family with its parameters."""
    if family == "colour_map":
        return lambda g: _colour_map(g, params)
    if family == "mask":
        return lambda g: np.where(g == params[0], g, 0)
    if family == "recolour":
        return lambda g: np.where(g != 0, params[0], 0)
    if family == "replace":
        return lambda g: np.where(g == params[0], params[1], g)
    if family == "fill":
        return lambda g: np.where(g == 0, params[0], g)
    if family.startswith("compose:"):
        first, second = family.split(":", 1)[1].split("+")
        f, s = family_transform(first, params[0]), family_transform(second, params[1])
        return lambda g: s(f(g))
    raise ValueError(f"unknown family {family!r}")


def colours_shown(family: str, params: tuple) -> set[int]:
    """Colours a task's grids must hold for its demonstrations to show the rule."""
    if family.startswith("compose:"):
        first, second = family.split(":", 1)[1].split("+")
        return colours_shown(first, params[0]) | colours_shown(second, params[1])
    if family == "colour_map":
        return {c for pair in params for c in pair}
    if family in ("mask", "replace"):
        return {params[0]}
    return set()


# -- the roles --------------------------------------------------------------------------------


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
    pairs = [((1, 2),), ((3, 4),), ((5, 6),), ((7, 8),), ((1, 3),), ((2, 4),), ((6, 8),), ((5, 7),), ((1, 2), (3, 4))]
    specs = [FamilySpec("colour_map", p) for p in pairs]
    specs += [FamilySpec("mask", (c,)) for c in (1, 2, 3, 4, 5, 6)]
    specs += [FamilySpec("recolour", (c,)) for c in (1, 2, 3, 4, 5)]
    specs += [FamilySpec("replace", p) for p in ((1, 2), (3, 1), (4, 6), (5, 3), (7, 2), (8, 4))]
    specs += [FamilySpec("fill", (c,)) for c in (1, 2, 3, 4)]
    return specs


def rl_specs() -> list[FamilySpec]:
    """ReST-EM's training tasks: rules never in pretraining, in families the evaluation never uses.

    These are the harder rules (colour swaps, one-way replacements, a swap then a fill): only
    self-edits that train long enough at a high enough rate solve them, so what ReST-EM keeps
    says something about how to train.
    """
    specs = [FamilySpec("colour_map", p) for p in (((1, 5),), ((2, 6),), ((3, 8),), ((4, 9),), ((6, 9),), ((2, 7),))]
    specs += [FamilySpec("replace", p) for p in ((1, 7), (2, 9), (6, 1), (9, 5), (3, 6), (8, 2))]
    specs += [FamilySpec("compose:colour_map+fill", (p, (c,))) for p, c in
              ((((1, 2),), 6), (((3, 4),), 7), (((5, 6),), 8), (((7, 8),), 9))]
    return specs


def eval_specs() -> list[FamilySpec]:
    """The evaluation tasks: rules never in pretraining, in families ReST-EM never trains on."""
    specs = [FamilySpec("recolour", (c,)) for c in (6, 7, 8, 9)]
    specs += [FamilySpec("fill", (c,)) for c in (6, 7, 8, 9)]
    specs += [FamilySpec("compose:mask+recolour", ((a,), (b,))) for a, b in ((1, 7), (3, 9), (5, 8), (2, 6))]
    return specs


def held_out_specs() -> list[FamilySpec]:
    """Everything pretraining never sees: the rl and eval roles together."""
    return rl_specs() + eval_specs()


# -- tasks ----------------------------------------------------------------------------------

GRID_SIDES = (3, 3)  # small enough that a sub-million-parameter model writes whole grids exactly


def random_grid(rng: random.Random, colours: list[int], size: tuple[int, int] | None = None) -> np.ndarray:
    rows, cols = size or (rng.randint(*GRID_SIDES), rng.randint(*GRID_SIDES))
    return np.array([[rng.choice(colours) if rng.random() < 0.55 else 0 for _ in range(cols)] for _ in range(rows)])


def make_task(spec: FamilySpec, seed: int, demonstrations: int = 3, task_id: str | None = None,
              unseen_test_colour: bool = False) -> ArcTask:
    """A task of `spec`: `demonstrations` pairs and one test pair, deterministic in `seed`.

    Every pair shows the rule (its output differs from its input) and the colours the rule
    is about appear in the task. `unseen_test_colour`: the test grid also holds a colour no
    demonstration shows, which the rule treats as it treats any colour it is not about
    (replace keeps it, mask clears it, recolour recolours it): the solver must read from
    the demonstrations what happens to colours it has not seen.
    """
    rng = random.Random(f"{spec.name}/{seed}")
    transform = family_transform(spec.family, spec.params)
    palette = sorted(colours_shown(spec.family, spec.params) | set(rng.sample(range(1, 10), 3)))
    pairs = []
    for _ in range(10_000):
        if unseen_test_colour and len(pairs) == demonstrations:
            return _with_unseen_test_colour(spec, rng, transform, palette, pairs, task_id or f"{spec.name}-{seed}")
        grid = random_grid(rng, palette)
        out = transform(grid)
        if not np.array_equal(out, grid):
            pairs.append(Pair(grid.tolist(), np.asarray(out).tolist()))
        if len(pairs) == demonstrations + 1:
            return ArcTask(task_id or f"{spec.name}-{seed}", tuple(pairs[:demonstrations]), tuple(pairs[demonstrations:]))
    raise ValueError(f"{spec.name}: no grid of palette {palette} shows this rule")


def _with_unseen_test_colour(spec: FamilySpec, rng: random.Random, transform: Transform, palette: list[int],
                             demonstrations: list[Pair], task_id: str) -> ArcTask:
    """The test pair of `make_task(..., unseen_test_colour=True)`: a grid that shows the rule
    and holds one colour outside every demonstration (they are drawn from `palette`)."""
    unseen = rng.choice([c for c in range(1, 10) if c not in palette])
    for _ in range(10_000):
        grid = random_grid(rng, [*palette, unseen], size=(GRID_SIDES[0], GRID_SIDES[1]))
        out = transform(grid)
        if (grid == unseen).any() and not np.array_equal(out, grid):
            return ArcTask(task_id, tuple(demonstrations), (Pair(grid.tolist(), np.asarray(out).tolist()),))
    raise ValueError(f"{spec.name}: no test grid with colour {unseen} shows this rule")


def pretraining_tasks(count: int, seed: int, unseen_test_share: float = 0.0) -> list[ArcTask]:
    """`count` pretraining tasks; `unseen_test_share` of them with a test colour no
    demonstration shows (`make_task`'s `unseen_test_colour`). With 0 the tasks are exactly
    those of earlier versions (no extra draws), so `seal pretrain nano`'s models do not change."""
    specs = pretraining_specs()
    rng = random.Random(seed)
    tasks = []
    for _ in range(count):
        spec, task_seed, demonstrations = rng.choice(specs), rng.randrange(1 << 30), rng.randint(2, 4)
        unseen = unseen_test_share > 0 and rng.random() < unseen_test_share
        tasks.append(make_task(spec, task_seed, demonstrations=demonstrations, unseen_test_colour=unseen))
    return tasks


def tasks_of(specs: Sequence[FamilySpec], per_spec: int, seed: int) -> list[ArcTask]:
    """`per_spec` tasks of every spec, deterministic in `seed`."""
    return [make_task(spec, seed * 1000 + i) for spec in specs for i in range(per_spec)]


def rl_tasks(per_spec: int, seed: int) -> list[ArcTask]:
    return tasks_of(rl_specs(), per_spec, seed)


def eval_tasks(per_spec: int, seed: int) -> list[ArcTask]:
    return tasks_of(eval_specs(), per_spec, seed)


def family_of(task_id: str) -> str:
    """The family part of a nano task id (e.g. 'compose_colour_map_then_fill' of 'compose_colour_map_then_fill-1-2-6-7000')."""
    return task_id.split("-", 1)[0]
