"""A nano ARC world where the right augmentation depends on the task: three kinds of rule.

In the nano world (`seal_agent.arc.nano_world`) every rule is a cell-wise colour rule, so
every geometric augmentation keeps the rule and one self-edit is best for every family. Here
the families come in three kinds, and what an augmentation does to a task differs by kind:

    kind          families (rl / eval)            a rotation        a colour permutation
    colour-bound  replace(a, b) / mask(c)         keeps the rule    changes it (a, b, c move)
    positional    fill_row(r, c) / fill_col(k, c) changes it        changes it (c moves)
    colour-free   clear_row(r) / clear_col(k)     changes it        keeps it; and the test uses
                                                                    a colour the demonstrations keep
                                                                    off their line

So, as augmentations of the demonstrations go: for colour-bound rules rotations add true
examples and permutations teach other rules; for positional rules both teach other rules;
for colour-free rules every demonstration's line holds one colour and the test's line another
(shown off the line in the demonstrations, unchanged), rotated copies clear the wrong line,
and only permuted copies show the line cleared in other colours. `AUGMENTATION_EFFECT` states this per kind; the tests check it on the
rules themselves. Whether a trained model's scores follow it is measured, not assumed (the
spread matrix of family x fixed self-edit, before any RL).

Families:
    replace(a, b)    colour a becomes b, the rest unchanged
    mask(c)          keep colour c, clear the others
    fill_row(r, c)   the background cells of row r become c
    fill_col(k, c)   the background cells of column k become c
    clear_row(r)     the coloured cells of row r are cleared, whatever their colour
    clear_col(k)     the coloured cells of column k are cleared, whatever their colour

An earlier colour-free kind (invert: the background takes the grid's one colour; swap_pair:
a grid's two colours swap) needed a whole grid's colours to decide each cell, and the nano
model solved none of its tasks with any self-edit (`benchmarks/results_arc_table_contextual_dev_seed0.json`,
`_dev_seed100.json`); the clearing rules are cell-wise, like every rule the model pretrains on.

Roles: RL and evaluation use different families of every kind (evaluation families never
appear in RL), so a policy can only carry over what distinguishes the kinds. The nano
world's pretraining has replace and mask rules too; their parameters here are never the
ones it pretrains on (`nano_world.pretraining_specs`), so a nano model pretrained there
meets every rule of this world for the first time. Parameters and
tasks are deterministic in their seeds; grids are 3x3 like the nano world's.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from seal_agent.arc.data import ArcTask
from seal_agent.grids import Pair

SIDE = 3
COLOURS = range(1, 10)
KINDS = ("colour-bound", "positional", "colour-free")
KIND_OF = {"replace": "colour-bound", "mask": "colour-bound", "fill_row": "positional", "fill_col": "positional",
           "clear_row": "colour-free", "clear_col": "colour-free"}
COLOUR_FREE = ("clear_row", "clear_col")
# The share of `seal pretrain nano --world contextual`'s tasks whose test holds a colour no
# demonstration shows (`nano_world.pretraining_tasks`): a model pretrained only on tasks whose
# test colours all appear in the demonstrations cleared unseen colours, whatever the rule
# (design seeds 300 and 400: half its colour-free answers were an all-background grid).
PRETRAINING_UNSEEN_TEST_SHARE = 0.5
# Colour-free tasks, fifth design: every demonstration's line holds one colour (the line
# colour), and the test's line holds another colour that the demonstrations show *off* the
# line, unchanged. The demonstrations fit "clear the line" and "clear the line colour on the
# line"; the test tells them apart, and only permuted copies of the demonstrations (the line
# cleared in other colours) show which. Earlier designs made the test's colour one no
# demonstration shows; the nano model cleared or dropped unseen colours whatever the rule
# and augmentation (design seeds 300-500, docs/results/arc-contextual.md), so here every
# colour the test holds is one the demonstrations show.
COLOUR_FREE_OFF_LINE_COLOURS = 3
# Colour-bound tasks, sixth design: the demonstrations show the rule's colour (replace's a,
# mask's c) only in the top-left 2x2 block, and the test shows it elsewhere too. The rule is
# the same everywhere, but the demonstrations alone show it in four cells of nine; rotated
# copies show it in every cell, which is what makes rotations *needed* for this kind rather
# than merely harmless (design seeds 300-500: without the block, rotations added little).
COLOUR_BOUND_DEMONSTRATION_CELLS = np.zeros((SIDE, SIDE), dtype=bool)
COLOUR_BOUND_DEMONSTRATION_CELLS[: SIDE - 1, : SIDE - 1] = True
# What each augmentation does to a rule of each kind ("keeps" or "changes" the rule).
AUGMENTATION_EFFECT = {
    "colour-bound": {"rotation": "keeps", "colour_permutation": "changes"},
    "positional": {"rotation": "changes", "colour_permutation": "changes"},
    "colour-free": {"rotation": "changes", "colour_permutation": "keeps"},
}
ROLES = {
    "rl": ("replace", "fill_row", "clear_row"),
    "eval": ("mask", "fill_col", "clear_col"),
}


@dataclass(frozen=True)
class ContextualSpec:
    family: str
    params: tuple = ()

    @property
    def kind(self) -> str:
        return KIND_OF[self.family]

    @property
    def name(self) -> str:
        return "-".join([self.family, *map(str, self.params)])


def transform(spec: ContextualSpec) -> Callable[[np.ndarray], np.ndarray]:
    """The grid function of a spec."""
    f, p = spec.family, spec.params
    if f == "replace":
        return lambda g: np.where(g == p[0], p[1], g)
    if f == "mask":
        return lambda g: np.where(g == p[0], g, 0)
    if f == "fill_row":
        def fill_row(g):
            out = g.copy()
            out[p[0]][out[p[0]] == 0] = p[1]
            return out
        return fill_row
    if f == "fill_col":
        def fill_col(g):
            out = g.copy()
            column = out[:, p[0]]
            column[column == 0] = p[1]
            return out
        return fill_col
    if f in COLOUR_FREE:
        def clear_line(g):
            out = g.copy()
            if f == "clear_row":
                out[p[0], :] = 0
            else:
                out[:, p[0]] = 0
            return out
        return clear_line
    raise ValueError(f"unknown family {f!r}")


def pretrained_params() -> dict[str, set[tuple]]:
    """The parameters the nano world pretrains its replace and mask rules on."""
    from seal_agent.arc.nano_world import pretraining_specs

    seen: dict[str, set[tuple]] = {"replace": set(), "mask": set()}
    for spec in pretraining_specs():
        if spec.family in seen:
            seen[spec.family].add(tuple(spec.params))
    return seen


def specs(role: str, seed: int) -> list[ContextualSpec]:
    """One spec per family of the role (`ROLES`), its parameters drawn from `seed` (never
    parameters the nano world pretrains on)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose {', '.join(ROLES)}")
    rng = random.Random(f"contextual/{role}/{seed}")
    seen = pretrained_params()
    out = []
    for family in ROLES[role]:
        if family == "replace":
            pairs = [(a, b) for a in COLOURS for b in COLOURS if a != b and (a, b) not in seen["replace"]]
            out.append(ContextualSpec(family, rng.choice(pairs)))
        elif family == "mask":
            out.append(ContextualSpec(family, (rng.choice([c for c in COLOURS if (c,) not in seen["mask"]]),)))
        elif family in ("fill_row", "fill_col"):
            out.append(ContextualSpec(family, (rng.randrange(SIDE), rng.choice(list(COLOURS)))))
        else:
            out.append(ContextualSpec(family, (rng.randrange(SIDE),)))
    return out


def _grid(rng: random.Random, colours: Sequence[int], density: float = 0.5) -> np.ndarray:
    """A SIDE x SIDE grid of `colours` and background, every colour present at least once."""
    while True:
        grid = np.array([[rng.choice(colours) if rng.random() < density else 0 for _ in range(SIDE)] for _ in range(SIDE)])
        if set(np.unique(grid)) - {0} == set(colours) and (grid == 0).any():
            return grid


def line_cells(spec: ContextualSpec) -> np.ndarray:
    """A colour-free rule's line as a boolean mask of the grid: row r or column k."""
    mask = np.zeros((SIDE, SIDE), dtype=bool)
    if spec.family == "clear_row":
        mask[spec.params[0], :] = True
    else:
        mask[:, spec.params[0]] = True
    return mask


def _colour_free_grid(rng: random.Random, line: np.ndarray, line_colour: int, off_line: Sequence[int],
                      must_show_off_line: int) -> np.ndarray:
    """A grid whose line holds `line_colour` (at least once) and background, and whose other
    cells hold `off_line` colours and background, `must_show_off_line` among them."""
    while True:
        grid = np.array([[(line_colour if rng.random() < 0.6 else 0) if line[r, c] else
                          (rng.choice(off_line) if rng.random() < 0.6 else 0) for c in range(SIDE)] for r in range(SIDE)])
        if (grid[line] == line_colour).any() and (grid[~line] == must_show_off_line).any():
            return grid


def _confined_as_required(rule_cells: np.ndarray, test: bool) -> bool:
    """Colour-bound tasks: a demonstration shows the rule's colour only inside
    `COLOUR_BOUND_DEMONSTRATION_CELLS`; the test shows it outside them too."""
    outside = (rule_cells & ~COLOUR_BOUND_DEMONSTRATION_CELLS).any()
    return bool(outside) if test else not outside


def make_task(spec: ContextualSpec, seed: int, demonstrations: int = 3) -> ArcTask:
    """A task of `spec`: demonstrations and one test pair, each showing the rule.

    Colour-bound tasks show the rule's colour inside `COLOUR_BOUND_DEMONSTRATION_CELLS` only,
    and the test outside them too. Colour-free tasks (`COLOUR_FREE_OFF_LINE_COLOURS` says why): the demonstrations' line
    holds one colour; the test's line holds another, which every demonstration shows off the
    line, unchanged.
    """
    rng = random.Random(f"{spec.name}/{seed}")
    f = transform(spec)
    pairs: list[Pair] = []
    if spec.family in COLOUR_FREE:
        line = line_cells(spec)
        off_line = rng.sample(list(COLOURS), COLOUR_FREE_OFF_LINE_COLOURS)  # the first is the test's line colour
        line_colour = rng.choice([c for c in COLOURS if c not in off_line])
        for index in range(demonstrations):
            grid = _colour_free_grid(rng, line, line_colour, [line_colour, *off_line], must_show_off_line=off_line[0])
            pairs.append(Pair(grid.tolist(), f(grid).tolist()))
        grid = _colour_free_grid(rng, line, off_line[0], [line_colour, *off_line], must_show_off_line=line_colour)
        return ArcTask(f"{spec.name}-{seed}", tuple(pairs), (Pair(grid.tolist(), f(grid).tolist()),))
    rule_colours = {spec.params[-1]} | ({spec.params[0]} if spec.family in ("replace", "mask") else set())
    palette = [c for c in COLOURS if c not in rule_colours]
    for _index in range(demonstrations + 1):
        for _ in range(10_000):
            shown = [spec.params[0]] if spec.family in ("replace", "mask") else []
            grid = _grid(rng, shown + rng.sample(palette, 2))
            out = f(grid)
            if not np.array_equal(out, grid) and (not shown or _confined_as_required(grid == shown[0], test=_index == demonstrations)):
                break
        else:
            raise ValueError(f"{spec.name}: no grid shows this rule")
        pairs.append(Pair(grid.tolist(), np.asarray(out).tolist()))
    return ArcTask(f"{spec.name}-{seed}", tuple(pairs[:demonstrations]), tuple(pairs[demonstrations:]))


def tasks(role: str, per_family: int, seed: int) -> list[ArcTask]:
    """`per_family` tasks of every family of the role, deterministic in `seed`."""
    return [make_task(spec, seed * 1000 + i) for i in range(per_family) for spec in specs(role, seed * 1000 + i)]


def family_of(task_id: str) -> str:
    return task_id.split("-", 1)[0]


def kind_of(task_id: str) -> str:
    return KIND_OF[family_of(task_id)]
