"""The contextual ARC world's rows and spread matrix, for `benchmarks/arc_table.py --world contextual`.

In `seal_agent.arc.contextual_world` the right augmentation depends on the kind of rule, so
the table asks whether SEAL's policy chooses by the task, against rows that cannot:

    tuned constant      the one fixed self-edit that scores best on the RL tasks, found by a
                        search given the TTT runs the RL phase used (`search_plan`: every
                        config, then the leaders again with what is left)
    per-family oracle   for each evaluation family its best fixed self-edit, chosen on the
                        evaluation tasks themselves: an upper bound, never a fair row
    blind policy        the SEAL policy shown another family's demonstrations in its prompt
                        (`decoy_tasks`), trained and scored on the real task: what is left of
                        its gain when it cannot read the task

The fixed self-edits are every augmentation set of `AUGMENTATION_SETS` with every training
setting of `TRAINING` (`fixed_grid`). The spread matrix is family x fixed self-edit
(`spread_matrix`): before any RL it shows whether one self-edit is best for every family.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from seal_agent.arc.contextual_world import AUGMENTATION_EFFECT, KIND_OF, family_of
from seal_agent.arc.data import ArcTask
from seal_agent.arc.sources import Source, fixed_source

# Augmentation sets, in the open vocabulary: rotations keep only colour-bound rules; colour
# permutations keep only colour-free ones (`contextual_world.AUGMENTATION_EFFECT`).
AUGMENTATION_SETS: dict[str, list[dict[str, Any]]] = {
    "none": [],
    "rotations": [{"name": "rotate", "arguments": {"quarter_turns": k}} for k in (1, 2, 3)],
    "colours": [{"name": "permute_colours", "arguments": {"seed": s}} for s in (101, 202, 303)],
}
AUGMENTATION_SETS["both"] = AUGMENTATION_SETS["rotations"] + AUGMENTATION_SETS["colours"]
# (learning rate, epochs): the training settings each augmentation set is tried with.
TRAINING = [(1e-3, 2), (1e-3, 8), (3e-3, 2), (3e-3, 8), (1e-2, 2), (1e-2, 8)]


def fixed_grid() -> dict[str, list[dict[str, Any]]]:
    """Every fixed self-edit of the contextual table, by name ("rotations, lr 0.003, 8 epochs")."""
    return {f"{augmentations}, lr {lr:g}, {epochs} epochs":
            [*calls, {"name": "train", "arguments": {"learning_rate": lr, "num_train_epochs": epochs, "strategy": "output_tokens"}}]
            for augmentations, calls in AUGMENTATION_SETS.items() for lr, epochs in TRAINING}


def search_plan(configs: list[str], tasks: int, budget: int, seed: int) -> tuple[list[str], int, int]:
    """The tuned-constant search within `budget` TTT runs on `tasks` tasks: which configs it
    scores, how many self-edits of each per task, and how many leaders a second stage scores
    once more per task with what is left (successive halving; `finalists`).

    Every config, as many times per task as the budget allows, then the leaders with the rest;
    a budget too small for one each scores a seeded sample of as many configs as it can pay
    for. Never more than `budget` runs: len(configs) * tasks * k + leaders * tasks <= budget.
    """
    if tasks < 1 or budget < tasks:
        raise ValueError(f"a budget of {budget} TTT runs cannot score one config on {tasks} tasks")
    if budget >= len(configs) * tasks:
        k = budget // (len(configs) * tasks)
        return list(configs), k, (budget - len(configs) * tasks * k) // tasks
    chosen = set(random.Random(f"search/{seed}").sample(range(len(configs)), budget // tasks))
    return [c for i, c in enumerate(configs) if i in chosen], 1, 0


def finalists(matrix: dict[str, dict[str, dict[str, int]]], count: int) -> list[str]:
    """The `count` fixed self-edits with the highest success over every family of `matrix`
    (ties: grid order): the tuned-constant search's second stage scores them again with what
    is left of its budget (`search_plan`), so the search spends all of the RL phase's runs."""
    totals = _totals(matrix)
    return sorted(_in_grid_order(totals), key=lambda c: -totals[c]["solved"] / max(totals[c]["n"], 1))[:count]


def spread_matrix(candidates: list[dict[str, Any]], names: dict[int, str]) -> dict[str, dict[str, dict[str, int]]]:
    """family -> fixed self-edit -> {"solved", "n"}, from scored candidates (`names`: round -> config)."""
    matrix: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: {"solved": 0, "n": 0}))
    for row in candidates:
        cell = matrix[family_of(row["task_id"])][names[row["round"]]]
        cell["solved"] += int(row["reward"] >= 1)
        cell["n"] += 1
    return {family: dict(cells) for family, cells in sorted(matrix.items())}


def add_matrices(matrices: list[dict[str, dict[str, dict[str, int]]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Matrices summed cell by cell (over seeds), each cell with its success rate."""
    total: dict[str, dict[str, dict[str, Any]]] = defaultdict(lambda: defaultdict(lambda: {"solved": 0, "n": 0}))
    for matrix in matrices:
        for family, cells in matrix.items():
            for config, cell in cells.items():
                total[family][config]["solved"] += cell["solved"]
                total[family][config]["n"] += cell["n"]
    return {f: {c: {**cell, "success": cell["solved"] / cell["n"] if cell["n"] else 0.0} for c, cell in cells.items()}
            for f, cells in sorted(total.items())}


def _in_grid_order(configs) -> list[str]:
    grid = list(fixed_grid())
    return sorted(configs, key=lambda c: grid.index(c) if c in grid else len(grid))


def _best(counts: dict[str, dict[str, int]]) -> str:
    """The config with the highest solved/n (ties: the first in the grid's order)."""
    return max(_in_grid_order(counts), key=lambda c: counts[c]["solved"] / max(counts[c]["n"], 1))


def _totals(matrix: dict[str, dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    """Each config's solved and n summed over every family of `matrix`."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"solved": 0, "n": 0})
    for cells in matrix.values():
        for config, cell in cells.items():
            totals[config]["solved"] += cell["solved"]
            totals[config]["n"] += cell["n"]
    return totals


def best_by_family(matrix: dict[str, dict[str, dict[str, int]]]) -> dict[str, dict[str, Any]]:
    """Each family's best fixed self-edit in `matrix` (ties: the first in the grid's order)."""
    chosen = {family: _best(cells) for family, cells in matrix.items()}
    return {family: {"config": name, **matrix[family][name]} for family, name in chosen.items()}


def best_overall(matrix: dict[str, dict[str, dict[str, int]]]) -> str:
    """The fixed self-edit with the most solved over every family of `matrix` (ties: grid order)."""
    return _best(_totals(matrix))


def decoy_tasks(tasks: list[ArcTask]) -> dict[str, ArcTask]:
    """For each task, the task the blind policy is shown instead: the one at the same place
    among the next family's tasks (families in sorted order, cyclically). Never its own
    family, so its demonstrations say nothing about the rule it is scored on."""
    by_family: dict[str, list[ArcTask]] = defaultdict(list)
    for task in tasks:
        by_family[family_of(task.task_id)].append(task)
    families = sorted(by_family)
    if len(families) < 2:
        raise ValueError("a blind policy needs tasks of at least two families")
    out = {}
    for index, family in enumerate(families):
        others = by_family[families[(index + 1) % len(families)]]
        for position, task in enumerate(by_family[family]):
            out[task.task_id] = others[position % len(others)]
    return out


def per_family_source(name: str, self_edits: dict[str, list[dict[str, Any]]]):
    """A row that applies each family's own fixed self-edit (`self_edits`: family -> calls) K times per task."""
    by_family = {family: fixed_source(name, calls) for family, calls in self_edits.items()}

    def propose(task, messages, k, seed):
        return by_family[family_of(task.task_id)].propose(task, messages, k, seed)

    return Source(name, "fixed", propose, detail={"self_edit_by_family": self_edits})


def augmentation_set(row: dict[str, Any]) -> str:
    """The augmentation set (a key of `AUGMENTATION_SETS`) a scored self-edit switched on,
    whatever its arguments: rotations if it rotated, colours if it permuted colours."""
    names = {call.get("name") for call in row.get("tool_calls") or []}
    rotations, colours = "rotate" in names, "permute_colours" in names
    return "both" if rotations and colours else "rotations" if rotations else "colours" if colours else "none"


def best_sets(matrix: dict[str, dict[str, dict[str, int]]]) -> dict[str, str]:
    """Each family's augmentation set with the highest success over all its training
    settings in `matrix` (ties: the order of `AUGMENTATION_SETS`)."""
    out = {}
    for family, cells in matrix.items():
        totals = {name: [0, 0] for name in AUGMENTATION_SETS}
        for config, cell in cells.items():
            augmentations = config.split(",")[0]  # fixed_grid's names start with the set
            totals[augmentations][0] += cell["solved"]
            totals[augmentations][1] += cell["n"]
        out[family] = max(AUGMENTATION_SETS, key=lambda name: totals[name][0] / max(totals[name][1], 1))
    return out


def designed_sets() -> dict[str, str]:
    """Each family's augmentation set by the world's design (`AUGMENTATION_EFFECT`): the
    augmentations that keep its rule. Colour-bound: rotations; colour-free: colours;
    positional: none (both change the rule)."""
    out = {}
    for family, kind in KIND_OF.items():
        keeps = {a for a, effect in AUGMENTATION_EFFECT[kind].items() if effect == "keeps"}
        out[family] = {frozenset(): "none", frozenset({"rotation"}): "rotations", frozenset({"colour_permutation"}): "colours",
                       frozenset({"rotation", "colour_permutation"}): "both"}[frozenset(keeps)]
    return out


def policy_candidates(per_seed: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The scored self-edits of each policy row (before RL, the SEAL rounds, the blind policy),
    over all seeds' records (`benchmarks/arc_table.py`), by row name. Fixed rows' self-edits
    are left out: they choose nothing."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for seed in per_seed:
        names = {r["round"]: r["name"] for r in seed["rows"] if r.get("round") and r.get("kind") == "policy"}
        for row in seed.get("candidates") or []:
            if row["round"] in names:
                out[names[row["round"]]].append(row)
    return dict(out)


def choices_toward_best(candidates: dict[str, list[dict[str, Any]]], matrix: dict[str, dict[str, dict[str, int]]]) -> dict[str, Any]:
    """Does a policy choose each family's best augmentations, and more on that family than on
    the others? `candidates`: row name -> its scored self-edits; `matrix`: the evaluation
    spread (family -> fixed self-edit -> counts). The set a family wants is the one with the
    most successes summed over every training setting (`best_sets`): six times the trials
    of any one fixed self-edit, so less at the mercy of one lucky cell.

    For each row and family: the share of its valid self-edits on each augmentation set, the
    share on the family's best set (`on_best`), and `specificity`: that share minus the share
    of the same set on the families that want another set. A constant choice has specificity
    0 whatever it is; a policy that reads the task has it above 0.
    """
    return choices_toward(candidates, best_sets(matrix))


def choices_toward(candidates: dict[str, list[dict[str, Any]]], best: dict[str, str]) -> dict[str, Any]:
    """`choices_toward_best` against given wanted sets (`best`: family -> a key of `AUGMENTATION_SETS`)."""
    out: dict[str, Any] = {"best_set": best, "rows": {}}
    for name, rows in candidates.items():
        sets: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            if row.get("training") and family_of(row["task_id"]) in best:
                sets[family_of(row["task_id"])].append(augmentation_set(row))

        def share(family_sets: list[str], wanted: str) -> float | None:
            return family_sets.count(wanted) / len(family_sets) if family_sets else None

        by_family = {}
        for family, wanted in best.items():
            elsewhere = [s for f, chosen in sets.items() if best[f] != wanted for s in chosen]
            on_best, other = share(sets.get(family, []), wanted), share(elsewhere, wanted)
            by_family[family] = {
                "valid": len(sets.get(family, [])),
                "sets": {s: round(share(sets[family], s), 3) for s in AUGMENTATION_SETS} if sets.get(family) else {},
                "on_best": None if on_best is None else round(on_best, 3),
                "specificity": None if on_best is None or other is None else round(on_best - other, 3),
            }
        scored = [f for f in by_family.values() if f["specificity"] is not None]
        out["rows"][name] = {"by_family": by_family,
                             "mean_on_best": round(sum(f["on_best"] for f in scored) / len(scored), 3) if scored else None,
                             "mean_specificity": round(sum(f["specificity"] for f in scored) / len(scored), 3) if scored else None}
    return out
