"""Small inline SVG charts for the HTML report: no plotting library, no script, no network.

Every function returns an `<svg>` element as a string. Labels are escaped here, so text a
model wrote (a task id, a tool name from a plugin) can be passed in as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from seal_agent.arc.colours import colour

SERIES = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
WIDTH, HEIGHT = 520, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 24, 44


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="{escape(label)}">' + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "middle", size: int = 11, extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" {extra}>{escape(str(text))}</text>'


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high == low:
        high = low + 1.0
    step = (high - low) / (count - 1)
    return [low + i * step for i in range(count)]


def _axes(body: list[str], low: float, high: float, title: str, width: int, height: int) -> None:
    plot_bottom = height - BOTTOM
    body.append(_text(width / 2, 14, title, size=12, extra='font-weight="bold"'))
    for value in _ticks(low, high):
        y = plot_bottom - (value - low) / ((high - low) or 1.0) * (plot_bottom - TOP)
        body.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        body.append(_text(LEFT - 6, y + 4, f"{value:.3g}", anchor="end", size=10))
    body.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{plot_bottom}" stroke="#888"/>')
    body.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{plot_bottom}" y2="{plot_bottom}" stroke="#888"/>')


def _legend(body: list[str], names: Sequence[str], width: int, height: int) -> None:
    x = LEFT
    for index, name in enumerate(names):
        body.append(f'<rect x="{x}" y="{height - 14}" width="10" height="10" fill="{SERIES[index % len(SERIES)]}"/>')
        body.append(_text(x + 14, height - 5, name, anchor="start", size=10))
        x += 24 + 7 * len(str(name))


def line_chart(title: str, xs: Sequence[float], series: dict[str, Sequence[float | None]], x_label: str = "") -> str:
    """Lines over shared x values; None values leave a gap."""
    body: list[str] = []
    values = [v for ys in series.values() for v in ys if v is not None]
    low, high = (min(values + [0.0]), max(values + [1e-9])) if values else (0.0, 1.0)
    _axes(body, low, high, title, WIDTH, HEIGHT)
    plot_bottom = HEIGHT - BOTTOM
    span_x = (max(xs) - min(xs)) if len(xs) > 1 else 1.0

    def point(x: float, y: float) -> tuple[float, float]:
        px = LEFT + ((x - min(xs)) / span_x if len(xs) > 1 else 0.5) * (WIDTH - LEFT - RIGHT)
        py = plot_bottom - (y - low) / ((high - low) or 1.0) * (plot_bottom - TOP)
        return px, py

    for x in xs:
        body.append(_text(point(x, low)[0], plot_bottom + 14, f"{x:g}", size=10))
    body.append(_text((LEFT + WIDTH - RIGHT) / 2, plot_bottom + 28, x_label, size=10))
    for index, (name, ys) in enumerate(series.items()):
        stroke = SERIES[index % len(SERIES)]
        points = [point(x, y) for x, y in zip(xs, ys) if y is not None]
        if len(points) > 1:
            body.append(f'<polyline fill="none" stroke="{stroke}" stroke-width="2" points="'
                        + " ".join(f"{px:.1f},{py:.1f}" for px, py in points) + '"/>')
        body += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{stroke}"/>' for px, py in points]
    _legend(body, list(series), WIDTH, HEIGHT)
    return _svg(WIDTH, HEIGHT, body, title)


def bar_chart(title: str, categories: Sequence[str], series: dict[str, Sequence[float]], annotations: dict[str, Sequence[str]] | None = None) -> str:
    """Grouped bars: one group per category, one bar per series; optional text over each bar."""
    width = max(WIDTH, LEFT + RIGHT + len(categories) * (14 * max(1, len(series)) + 18))
    body: list[str] = []
    values = [v for ys in series.values() for v in ys]
    high = max(values + [1e-9])
    low = min(values + [0.0])
    _axes(body, low, high, title, width, HEIGHT)
    plot_bottom = HEIGHT - BOTTOM
    group = (width - LEFT - RIGHT) / max(1, len(categories))
    bar = min(28.0, (group - 8) / max(1, len(series)))
    zero = plot_bottom - (0 - low) / ((high - low) or 1.0) * (plot_bottom - TOP)
    for c, category in enumerate(categories):
        x0 = LEFT + c * group + (group - bar * len(series)) / 2
        for s, (name, ys) in enumerate(series.items()):
            y = plot_bottom - (ys[c] - low) / ((high - low) or 1.0) * (plot_bottom - TOP)
            top, height = min(y, zero), abs(zero - y)
            x = x0 + s * bar
            body.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="{bar - 1:.1f}" height="{max(height, 0.5):.1f}" '
                        f'fill="{SERIES[s % len(SERIES)]}"><title>{escape(f"{category} · {name}: {ys[c]:.3g}")}</title></rect>')
            if annotations and name in annotations and annotations[name][c]:
                body.append(_text(x + bar / 2, top - 3, annotations[name][c], size=9))
        # The whole name shows on hover.
        body.append(f'<text x="{LEFT + c * group + group / 2:.1f}" y="{plot_bottom + 14:.1f}" font-size="10" '
                    f'text-anchor="middle"><title>{escape(str(category))}</title>{escape(short_label(category, group))}</text>')
    if len(series) > 1:
        _legend(body, list(series), width, HEIGHT)
    return _svg(int(width), HEIGHT, body, title)


def short_label(category, room: float) -> str:
    """A category's label cut to fit `room` pixels (about 6 a character at size 10): a dotted
    name loses its prefix ("data_generation.use_size" -> "use_size"), a number never does."""
    label = str(category)
    try:
        float(label)
    except ValueError:
        label = label.rsplit(".", 1)[-1]
    fits = max(3, int(room // 6))
    return label if len(label) <= fits else label[: fits - 1] + "…"


def loss_curves(title: str, curves: Sequence[tuple[str, Sequence[float], bool]], limit: int = 60) -> str:
    """Loss per step; rewarded candidates in green, the rest in grey (at most `limit` curves)."""
    body: list[str] = []
    shown = [c for c in curves if c[1]][:limit]
    values = [v for _n, losses, _r in shown for v in losses]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    _axes(body, low, high, title, WIDTH, HEIGHT)
    plot_bottom = HEIGHT - BOTTOM
    longest = max((len(losses) for _n, losses, _r in shown), default=1)
    for name, losses, rewarded in sorted(shown, key=lambda c: c[2]):  # rewarded drawn last, on top
        points = []
        for step, loss in enumerate(losses):
            px = LEFT + (step / max(1, longest - 1)) * (WIDTH - LEFT - RIGHT)
            py = plot_bottom - (loss - low) / ((high - low) or 1.0) * (plot_bottom - TOP)
            points.append(f"{px:.1f},{py:.1f}")
        stroke = "#2ca02c" if rewarded else "#999999"
        body.append(f'<polyline fill="none" stroke="{stroke}" stroke-width="{2 if rewarded else 1}" '
                    f'opacity="0.8" points="{" ".join(points)}"><title>{escape(name)}</title></polyline>')
    body.append(_text((LEFT + WIDTH - RIGHT) / 2, plot_bottom + 16, f"step (1–{longest})", size=10))
    body.append(_text(LEFT, HEIGHT - 5, "green: rewarded · grey: not rewarded", anchor="start", size=10))
    return _svg(WIDTH, HEIGHT, body, title)


def arc_grid(grid: Sequence[Sequence[int]] | None, cell: int | None = None, label: str = "") -> str:
    """An ARC grid in the ARC colours, one square per cell, with a thin grid line.

    Cells are sized so a grid is about 120 px across (8 to 24 px a cell)."""
    if not grid or not all(isinstance(row, (list, tuple)) and row for row in grid):
        return f'<div class="nogrid">{escape(label)}: (none)</div>'
    rows, cols = len(grid), max(len(row) for row in grid)
    cell = cell or max(8, min(24, 120 // max(rows, cols)))
    body = [f'<rect x="{c * cell}" y="{r * cell}" width="{cell}" height="{cell}" fill="{colour(value)}" stroke="#444" stroke-width="0.5"/>'
            for r, row in enumerate(grid) for c, value in enumerate(row)]
    svg = _svg(cols * cell, rows * cell, body, label or "grid")
    return f'<figure class="grid">{svg}<figcaption>{escape(label)}</figcaption></figure>'


def graph_diagram(nodes: Sequence[str], edges: Sequence[tuple[str, str, bool]]) -> str:
    """The graph's nodes top to bottom, edges as arrows; conditional edges dashed, loops on the right."""
    row, box_w, box_h = 56, 150, 28
    index = {name: i for i, name in enumerate(nodes)}
    height = row * len(nodes) + 10
    width = 420
    cx = 120
    body = ['<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">'
            '<path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>']
    for name, i in index.items():
        y = 10 + i * row
        body.append(f'<rect x="{cx - box_w / 2}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="#eef3fb" stroke="#4a6fa5"/>')
        body.append(_text(cx, y + 18, name, size=12))
    loops = 0
    for source, target, conditional in edges:
        if source not in index or target not in index:
            continue
        s, t = index[source], index[target]
        dash = ' stroke-dasharray="5,3"' if conditional else ""
        if t == s + 1:
            y1, y2 = 10 + s * row + box_h, 10 + t * row
            body.append(f'<line x1="{cx}" y1="{y1}" x2="{cx}" y2="{y2 - 1}" stroke="#555"{dash} marker-end="url(#arrow)"/>')
        else:  # a jump forward or back: around the right side
            loops += 1
            x_out = cx + box_w / 2
            bulge = x_out + 30 + 26 * loops
            y1, y2 = 10 + s * row + box_h / 2, 10 + t * row + box_h / 2
            body.append(f'<path d="M{x_out},{y1} C{bulge},{y1} {bulge},{y2} {x_out + 2},{y2}" fill="none" stroke="#555"{dash} marker-end="url(#arrow)"/>')
    body.append(_text(cx + 200, height - 4, "dashed: conditional or Send", size=10))
    return _svg(width + 60, height, body, "graph diagram")
