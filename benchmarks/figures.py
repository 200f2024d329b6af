"""Redraw the results figures from the committed JSONs: each table's SVG beside it, and the headline.

    python benchmarks/figures.py            # every figure of FIGURES, and results_headline.svg
    python benchmarks/figures.py --check    # exit 1 if a committed SVG differs from its JSON

The table scripts (arc_table.py, knowledge_table.py, rl_comparison.py) draw their own figure
whenever they write their JSON; this script is for a figure whose drawing changed, and for
the test that keeps committed figures and tables in step.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seal_agent.inspect.figures import figure_svg, rows_of

HERE = Path(__file__).resolve().parent
FIGURES = [
    "results_arc_table_nano.json",
    "results_rl_comparison_arc_nano.json",
    "results_arc_table_contextual.json",
    "results_rl_comparison_arc_contextual.json",
    "results_knowledge_table_nano.json",
    "results_knowledge_table_smollm2.json",
    "results_knowledge_table_smollm2_worked.json",
]
# The README's one figure: SEAL on held-out ARC families, and on a real model's knowledge.
HEADLINE = ("results_headline.svg", ["results_arc_table_nano.json", "results_knowledge_table_smollm2.json"])


def drawings() -> dict[Path, str]:
    """Every figure's path and the SVG its JSON gives."""
    out = {}
    for name in FIGURES:
        path = HERE / name
        out[path.with_suffix(".svg")] = figure_svg([rows_of(json.loads(path.read_text()))])
    svg, sources = HEADLINE
    out[HERE / svg] = figure_svg([rows_of(json.loads((HERE / s).read_text())) for s in sources])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if a figure is stale or missing")
    args = parser.parse_args(argv)
    stale = []
    for path, svg in drawings().items():
        if args.check:
            if not path.exists() or path.read_text() != svg:
                stale.append(path.name)
        else:
            path.write_text(svg)
            print(f"wrote {path.relative_to(HERE.parent)}")
    if stale:
        print(f"stale figures (run python benchmarks/figures.py): {', '.join(stale)}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
