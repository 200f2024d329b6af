"""The results figures: rows and intervals drawn where they belong, and committed SVGs in step with their JSON."""

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from seal_agent.inspect.figures import CHAR_WIDTH, MARGIN, Bar, Panel, figure_svg, rows_of, write_figure

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import figures  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def knowledge_row(name, gain, low, high, between=None):
    row = {"name": name, "loglik_gain": gain, "loglik_gain_ci": [low, high]}
    if between:
        row["loglik_gain_between_seeds"] = {"mean": gain, "ci": between, "seeds": 3}
    return row


def dots(svg: str) -> list[float]:
    return [float(c.get("cx")) for c in ET.fromstring(svg).iter(f"{SVG}circle")]


def test_knowledge_rows_are_drawn_in_order_with_both_intervals():
    results = {"model": "models/smollm2", "world": "nano-knowledge", "seeds_done": [1, 2, 3], "rows": [
        knowledge_row("base model", 0.0, 0.0, 0.0), knowledge_row("passage only", 1.8, 1.4, 2.2, [0.8, 2.7]),
        knowledge_row("teacher", 5.4, 4.8, 5.9, [4.7, 6.1]), knowledge_row("worse", -1.0, -1.5, -0.5)]}
    panel = rows_of(results)
    assert [b.label for b in panel.bars] == ["base model", "passage only", "teacher", "worse"]
    assert panel.bars[1].between == (0.8, 2.7) and panel.bars[3].between is None
    assert "3 seeds" in panel.title and "smollm2" in panel.title
    svg = figure_svg([panel])
    root = ET.fromstring(svg)  # well-formed
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert {"base model", "passage only", "teacher", "worse"} <= set(labels)
    base, passage, teacher, worse = dots(svg)
    assert worse < base < passage < teacher  # positions follow the means
    assert sum(1 for line in root.iter(f"{SVG}line") if line.find(f"{SVG}title") is not None) == 2  # between-seed lines
    assert "between seeds" in svg


def test_success_rows_are_percentages_on_a_0_to_100_axis():
    results = {"model": "models/nano", "world": "nano", "seeds": [1, 2, 3], "rows": [
        {"name": "before RL", "success": 0.17, "ci_low": 0.14, "ci_high": 0.22},
        {"name": "SEAL round 2", "success": 0.52, "ci_low": 0.48, "ci_high": 0.56}]}
    panel = rows_of(results)
    assert panel.percent and panel.bars[1].mean == 52.0 and panel.bars[1].low == 48.0
    before, seal = dots(figure_svg([panel]))
    assert seal > before


def test_success_rows_draw_the_between_seed_interval_only_over_several_seeds():
    between = {"mean": 0.5, "ci": [0.3, 0.7], "seeds": 5}
    results = {"seeds": [1, 2, 3, 4, 5], "rows": [
        {"name": "tuned constant", "success": 0.3, "ci_low": 0.22, "ci_high": 0.39, "between_seeds": between},
        {"name": "one seed", "success": 0.3, "ci_low": 0.22, "ci_high": 0.39, "between_seeds": {**between, "seeds": 1}}]}
    panel = rows_of(results)
    assert panel.bars[0].between == (30.0, 70.0) and panel.bars[1].between is None


def test_write_figure_writes_beside_the_json(tmp_path):
    path = tmp_path / "results_x.json"
    path.write_text(json.dumps({"rows": [{"name": "a", "success": 0.5, "ci_low": 0.4, "ci_high": 0.6}]}))
    assert write_figure(path) == tmp_path / "results_x.svg"
    ET.fromstring((tmp_path / "results_x.svg").read_text())


def test_the_committed_figures_match_their_tables():
    assert figures.main(["--check"]) == 0, "a committed figure is stale: run python benchmarks/figures.py"


def test_a_long_label_widens_the_figure_instead_of_running_off_its_left_edge():
    short = Panel("t", "%", [Bar("before RL", 8.0, 6.0, 10.0)], percent=True)
    long_label = "blind policy (SEAL round 3, another family's demonstrations)"
    long = Panel("t", "%", [Bar(long_label, 8.0, 6.0, 10.0)], percent=True)
    assert ET.fromstring(figure_svg([short])).get("width") == "640"
    svg = ET.fromstring(figure_svg([short, long]))
    label = next(t for t in svg.iter(f"{SVG}text") if t.text == long_label)
    # anchored at its end: it starts CHAR_WIDTH px a character to the left of x
    assert float(label.get("x")) - CHAR_WIDTH * len(long_label) >= MARGIN
    assert int(svg.get("width")) > 640
