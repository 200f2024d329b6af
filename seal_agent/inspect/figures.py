"""Figures of the results tables: each row's mean with its 95% intervals, as a standalone SVG.

The benchmark scripts write one next to each results JSON (`results_x.json` ->
`results_x.svg`); `benchmarks/figures.py` redraws them all, and the headline figure, from
the committed JSONs. Plain SVG written by hand: no plotting library, and the same JSON
always gives the same bytes, so a test can check that a committed figure matches its table.

Three shapes of table are read (`rows_of`):
    knowledge tables   rows with `loglik_gain` (nats per question): the pooled t-interval,
                       and the between-seed interval as a thinner line where there is one
    success tables     rows with `success` (ARC): the Wilson interval, in percent
    comparisons        `shared_rows` plus each algorithm's rows (benchmarks/rl_comparison.py)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

WIDTH, ROW_HEIGHT, LABEL_WIDTH, MARGIN = 640, 26, 210, 16
PLOT_WIDTH = WIDTH - LABEL_WIDTH - MARGIN
TICKS = 5
# About how wide one character of a 12 px sans-serif label is: SVG cannot measure text, so a
# figure's label column is widened by this estimate where its longest label would be cut off.
CHAR_WIDTH = 6.6


@dataclass(frozen=True)
class Bar:
    """One row of a figure: a mean, its pooled 95% interval, and the between-seed one if known."""

    label: str
    mean: float
    low: float
    high: float
    between: tuple[float, float] | None = None


@dataclass(frozen=True)
class Panel:
    title: str
    axis: str  # what the numbers are, with their unit
    bars: Sequence[Bar]
    percent: bool = False


def rows_of(results: dict[str, Any]) -> Panel:
    """The headline rows of a results JSON, as a panel (see the module docstring)."""
    if "algorithms" in results and "shared_rows" in results:
        labelled = [(r, r["name"]) for r in results["shared_rows"]]
        labelled += [(r, f"{algorithm}: {r['name']}") for algorithm, table in results["algorithms"].items() for r in table["rows"]]
        kind = "outer loops compared"
    else:
        labelled, kind = [(r, r["name"]) for r in results["rows"]], None
    if labelled and "loglik_gain" in labelled[0][0]:
        return Panel(_title(results, kind or "knowledge"), "answer log-likelihood gain over the base model, nats per question",
                     [_gain_bar(r, label) for r, label in labelled])
    return Panel(_title(results, kind or "ARC"), "solved on held-out tasks, %",
                 [_success_bar(r, label) for r, label in labelled], percent=True)


def _gain_bar(row: dict[str, Any], label: str) -> Bar:
    between = row.get("loglik_gain_between_seeds")
    return Bar(label, row["loglik_gain"], *row["loglik_gain_ci"],
               between=tuple(between["ci"]) if between and between.get("seeds", 0) > 1 else None)


def _success_bar(row: dict[str, Any], label: str) -> Bar:
    between = row.get("between_seeds")
    return Bar(label, 100 * row["success"], 100 * row["ci_low"], 100 * row["ci_high"],
               between=(100 * between["ci"][0], 100 * between["ci"][1]) if between and between.get("seeds", 0) > 1 else None)


def _title(results: dict[str, Any], kind: str) -> str:
    model = Path(str(results.get("model", "")).split(" ")[0]).name  # some record "DIR (the command that made it)"
    seeds = results.get("seeds_done") or results.get("seeds") or []
    world = results.get("world", "")
    return f"{kind}, {world} world, {model}, {len(seeds)} seed{'s' if len(seeds) != 1 else ''}"


def _nice_range(panel: Panel) -> tuple[float, float]:
    values = [v for b in panel.bars for v in (b.low, b.high, b.mean, *(b.between or ()))]
    low, high = min(values + [0.0]), max(values + [0.0])
    if panel.percent:
        return 0.0, 100.0
    step = _nice_step((high - low) / TICKS or 1.0)
    return step * (low // step), step * -(-high // step)


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 or 10 times a power of ten that is at least `raw`."""
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(f * magnitude for f in (1, 2, 2.5, 5, 10) if raw <= f * magnitude * (1 + 1e-9))


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.1f}"


def label_width(panels: Sequence[Panel]) -> int:
    """The label column's width: 210 px, or wider where the longest label needs it."""
    longest = max((len(bar.label) for panel in panels for bar in panel.bars), default=0)
    return max(LABEL_WIDTH, MARGIN + 8 + math.ceil(CHAR_WIDTH * longest))


def panel_svg(panel: Panel, top: float = 0.0, labels: int = LABEL_WIDTH) -> tuple[list[str], float]:
    """SVG elements of one panel starting at height `top`, its labels `labels` px wide, and the height it takes."""
    low, high = _nice_range(panel)
    plot_left, plot_right = labels, labels + PLOT_WIDTH

    def x(value: float) -> float:
        return round(plot_left + (value - low) / (high - low) * (plot_right - plot_left), 1)

    out = [f'<text x="{MARGIN}" y="{top + 18}" font-weight="bold">{escape(panel.title)}</text>']
    first = top + 34
    bottom = first + ROW_HEIGHT * len(panel.bars)
    for i in range(TICKS + 1):
        value = low + (high - low) * i / TICKS
        out.append(f'<line x1="{x(value)}" y1="{first - 4}" x2="{x(value)}" y2="{bottom}" stroke="#ddd"/>')
        out.append(f'<text x="{x(value)}" y="{bottom + 14}" text-anchor="middle" fill="#555">{_number(value)}</text>')
    if low < 0 < high:
        out.append(f'<line x1="{x(0)}" y1="{first - 4}" x2="{x(0)}" y2="{bottom}" stroke="#888"/>')
    for row, bar in enumerate(panel.bars):
        y = first + ROW_HEIGHT * row + ROW_HEIGHT / 2
        out.append(f'<text x="{plot_left - 8}" y="{y + 4}" text-anchor="end">{escape(bar.label)}</text>')
        if bar.between:
            out.append(f'<line x1="{x(bar.between[0])}" y1="{y + 6}" x2="{x(bar.between[1])}" y2="{y + 6}" '
                       'stroke="#e08a2c" stroke-width="1.5"><title>between seeds</title></line>')
        out.append(f'<line x1="{x(bar.low)}" y1="{y}" x2="{x(bar.high)}" y2="{y}" stroke="#2a6db0" stroke-width="3"/>')
        out.append(f'<circle cx="{x(bar.mean)}" cy="{y}" r="4.5" fill="#173f66"/>')
        out.append(f'<text x="{x(bar.mean)}" y="{y - 7}" text-anchor="middle" font-size="10" fill="#173f66">'
                   f'{bar.mean:.1f}</text>')
    out.append(f'<text x="{(plot_left + plot_right) / 2}" y="{bottom + 30}" text-anchor="middle" fill="#333">'
               f'{escape(panel.axis)}</text>')
    return out, bottom + 40 - top


def figure_svg(panels: Sequence[Panel]) -> str:
    """A standalone SVG of the panels, one above the other, with the legend of the intervals."""
    body, height = [], 0.0
    labels = label_width(panels)
    width = labels + PLOT_WIDTH + MARGIN
    for panel in panels:
        elements, used = panel_svg(panel, height, labels)
        body += elements
        height += used + 8
    between = any(b.between for p in panels for b in p.bars)
    legend = "dot: mean; thick line: 95% interval, pooled"
    legend += "; thin line: 95% interval between seeds" if between else ""
    body.append(f'<text x="{MARGIN}" y="{height + 8}" font-size="10" fill="#555">{escape(legend)}</text>')
    height += 18
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
            f'viewBox="0 0 {width} {height:.0f}" font-family="sans-serif" font-size="12">\n'
            f'<rect width="100%" height="100%" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n")


def write_figure(json_path: str | Path) -> Path:
    """Draw the results JSON at `json_path` next to it (same name, .svg); returns the SVG's path."""
    json_path = Path(json_path)
    svg = json_path.with_suffix(".svg")
    svg.write_text(figure_svg([rows_of(json.loads(json_path.read_text()))]))
    return svg
