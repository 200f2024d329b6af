"""`seal report RUN_DIR -o report.html`: one self-contained HTML file about a run.

Opens with no network: styles are inline, charts are inline SVG (`seal_agent.inspect.svg_charts`),
and there is no script at all. A Content-Security-Policy meta tag forbids scripts,
external fonts and images besides, so even a bug in escaping could not make text a model
wrote run. Every piece of model-written text goes through `html.escape`.

Sections: the per-round summary; plots (reward and success by round, success by task, how
often each tool and hyperparameter value was chosen per round against the reward it
earned, training-loss curves; for continual knowledge runs, the forgetting matrix); the
tasks' demonstrations in ARC colours; one table row per candidate with a drill-down (tool
calls, text, data counts, loss curve, grids or questions and answers before and after);
the graph's diagram.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from seal_agent.inspect import svg_charts
from seal_agent.inspect.run_view import RunView, data_size, final_loss, open_run

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src 'none'; script-src 'none'"

STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 24px; color: #222; max-width: 1400px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; font-size: 13px; } th, td { border: 1px solid #ddd; padding: 3px 6px; vertical-align: top; }
th { background: #f4f6f8; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.ok td.status { color: #1a7f37; } tr.rejected td.status { color: #9a6700; } tr.failed td.status { color: #cf222e; }
tr.rewarded { background: #effaf1; }
pre { white-space: pre-wrap; word-break: break-word; background: #f6f8fa; padding: 6px; max-height: 320px; overflow: auto; font-size: 12px; }
.charts { display: flex; flex-wrap: wrap; gap: 18px; } .charts svg { border: 1px solid #eee; background: #fff; }
figure.grid { display: inline-block; margin: 4px 10px 4px 0; text-align: center; font-size: 11px; }
.pairs { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
details summary { cursor: pointer; color: #0550ae; } .meta { color: #555; font-size: 13px; }
"""


def esc(value: Any) -> str:
    return escape("" if value is None else str(value))


def num(value: Any, digits: str = ".3g") -> str:
    return "-" if value is None else format(value, digits) if isinstance(value, (int, float)) else esc(value)


def pre(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return f"<pre>{esc(text)}</pre>"


# -- sections -------------------------------------------------------------------------------


def header(view: RunView) -> str:
    config, summary = view.config, view.summary
    model = (config.get("model") or {}).get("name_or_path", "?")
    bits = [f"domain {esc(view.domain)}", f"model {esc(model)}", f"seed {esc(config.get('seed'))}",
            f"{len(view.candidates)} candidates recorded"]
    if view.domain == "knowledge":
        bits += [f"mode {esc(config.get('mode'))}", f"reward {esc((config.get('reward') or {}).get('kind'))}",
                 f"prompt {esc((config.get('policy') or {}).get('prompt'))}"]
    if summary.get("stop_reason"):
        bits.append(f"finished ({esc(summary['stop_reason'])})")
    elif summary:
        bits.append("in progress or stopped early")
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<h1>SEAL run report: {esc(view.run_dir.name)}</h1>"
            f"<p class='meta'>{' · '.join(bits)}<br>{esc(str(view.run_dir))} · report made {made}</p>"
            + (f"<p class='meta'>{esc(view.sources_note)}</p>" if view.sources_note else ""))


def rounds_section(view: RunView) -> str:
    rounds = view.summary.get("rounds", [])
    baseline = view.summary.get("baseline") or {}
    columns = [("round", "round"), ("self-edits from", "name"), ("success rate", "success_rate"), ("mean reward", "mean_reward"),
               ("best per passage", "best_reward"), ("valid fraction", "valid_fraction"), ("candidates", "candidates"),
               ("rewarded", "rewarded"), ("kept", "kept"), ("policy updated", "policy_updated"), ("seconds", "seconds")]
    columns = [(title, key) for title, key in columns if any(key in r for r in rounds)]
    rows = []
    if baseline.get("evaluated"):
        rows.append("<tr><td>no update</td>" + "".join(
            f"<td class='num'>{num(baseline.get('success_rate'))}</td>" if key == "success_rate" else "<td>-</td>"
            for _t, key in columns[1:]) + "</tr>")
    elif baseline.get("mean"):
        rows.append("<tr><td colspan='99'>base model: " + ", ".join(
            f"{esc(k)} {num(v)}" for k, v in baseline["mean"].items()) + "</td></tr>")
    for r in rounds:
        rows.append("<tr>" + "".join(f"<td class='num'>{num(r.get(key))}</td>" for _t, key in columns) + "</tr>")
    head = "".join(f"<th>{esc(title)}</th>" for title, _key in columns)
    extra = ""
    for r in rounds:
        if r.get("mode") == "cpt":
            extra += ("<p>continued pretraining: one update on " + str(len(r.get("passages", []))) + " passages, "
                      + str(r.get("sequences")) + " sequences. Base: " + esc(json.dumps(r.get("base")))
                      + " · after: " + esc(json.dumps(r.get("after"))) + "</p>")
    return f"<h2>Rounds</h2><table id='rounds'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{extra}"


def choice_chart(title: str, rows: list[dict[str, Any]], choices_of) -> str:
    """How often each choice was made, per round (bars), with its mean reward over bars."""
    by_round: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_round[row["round"]].append(row)
    found = {c for row in rows for c in choices_of(row)}
    if not found:
        return ""
    numeric = all(isinstance(c, (int, float)) for c in found)
    categories = sorted(found, key=(lambda c: c) if numeric else str)
    series, notes = {}, {}
    for round_, members in sorted(by_round.items()):
        name = f"round {round_}"
        freq, rewards = [], []
        for category in categories:
            chosen = [r for r in members if category in choices_of(r)]
            freq.append(len(chosen) / len(members))
            rewards.append(f"{sum(r['reward'] for r in chosen) / len(chosen):.2g}" if chosen else "")
        series[name], notes[name] = freq, rewards
    return svg_charts.bar_chart(title, [str(c) for c in categories], series, notes)


def tool_choices(row: dict[str, Any]) -> set[str]:
    """The tools a self-edit called, and each boolean switch it turned on (SEAL's data_generation)."""
    chosen = set()
    for call in row.get("tool_calls") or []:
        chosen.add(call["name"])
        for arg, value in (call.get("args") or {}).items():
            if value is True:
                chosen.add(f"{call['name']}.{arg}")
    return chosen


def training_choice(key: str):
    def choose(row: dict[str, Any]) -> set:
        value = (row.get("training") or {}).get(key)
        if value is None:
            return set()
        return {float(f"{value:.0e}")} if key == "learning_rate" else {value}

    return choose


def charts_section(view: RunView) -> str:
    rounds = view.summary.get("rounds", [])
    charts = []
    if rounds:
        keys = [k for k in ("success_rate", "mean_reward", "best_reward", "valid_fraction") if any(isinstance(r.get(k), (int, float)) for r in rounds)]
        charts.append(svg_charts.line_chart(
            "reward and success by round", [r["round"] for r in rounds], {k.replace("_", " "): [r.get(k) for r in rounds] for k in keys}, "round"))
    rows = view.candidates
    if rows:
        tasks = sorted({r["task_id"] for r in rows})
        round_numbers = sorted({r["round"] for r in rows})
        rewarded_name = "share rewarded" if view.domain == "arc" else "mean reward"

        def by_task(round_: int) -> list[float]:
            values = []
            for task in tasks:
                members = [r for r in rows if r["task_id"] == task and r["round"] == round_]
                if view.domain == "arc":
                    values.append(sum(r["reward"] >= 1 for r in members) / len(members) if members else 0.0)
                else:
                    values.append(sum(r["reward"] for r in members) / len(members) if members else 0.0)
            return values

        charts.append(svg_charts.bar_chart(f"{rewarded_name} by task", tasks, {f"round {n}": by_task(n) for n in round_numbers}))
        charts.append(choice_chart("tools and switches chosen", rows, tool_choices))
        for key, title in (("learning_rate", "learning rate (1 digit)"), ("num_train_epochs", "epochs"), ("strategy", "loss on")):
            charts.append(choice_chart(title, rows, training_choice(key)))
        curves = [(f"round {r['round']} · {r['task_id']} · {r['candidate']}", r.get("loss_curve") or [], r["reward"] > 0) for r in rows]
        if any(c[1] for c in curves):
            charts.append(svg_charts.loss_curves("training loss per step", curves))
    body = "".join(f"<div>{c}</div>" for c in charts if c)
    note = ("<p class='meta'>Choice charts: each bar is the share of a round's candidates that made the choice; "
            "the number over it is the mean reward those candidates earned.</p>")
    return f"<h2>Plots</h2>{note}<div class='charts'>{body}</div>{forgetting_section(view)}"


def forgetting_section(view: RunView) -> str:
    forgetting = view.summary.get("forgetting")
    if not forgetting:
        return ""
    head = "".join(f"<th>{i + 1}: {esc(p)}</th>" for i, p in enumerate(forgetting["passages"]))
    values = [v for row in forgetting["matrix"] for v in row if v is not None]
    low, high = (min(values), max(values)) if values else (0.0, 0.0)

    def cell(value: float | None) -> str:
        # A heat map: the darker the cell, the higher the score; a column that pales going
        # down is a passage being forgotten.
        if value is None:
            return "<td class='num'></td>"
        shade = (value - low) / (high - low) if high > low else 0.5
        return f"<td class='num' style='background: rgba(31, 119, 180, {0.08 + 0.72 * shade:.2f})'>{num(value)}</td>"

    body = "".join(
        f"<tr><th>{esc(name)}</th>" + "".join(cell(v) for v in row) + "</tr>"
        for name, row in zip(forgetting["rows"], forgetting["matrix"])
    )
    strategy = f", strategy {esc(forgetting['strategy'])}" if forgetting.get("strategy") else ""
    return (f"<h3>Forgetting matrix ({esc(forgetting['metric'])}{strategy}): row = after update, column = passage</h3>"
            f"<table id='forgetting'><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>")


def tasks_section(view: RunView) -> str:
    if view.domain != "arc" or not view.tasks:
        if view.domain == "knowledge" and view.tasks:
            used = sorted({r["task_id"] for r in view.candidates})
            items = "".join(
                f"<details><summary>{esc(p)}: {esc(view.tasks[p].title)}</summary>{pre(view.tasks[p].context)}</details>"
                for p in used if p in view.tasks)
            return f"<h2>Passages</h2>{items}"
        return ""
    parts = []
    for task_id in sorted({r["task_id"] for r in view.candidates}):
        task = view.tasks.get(task_id)
        if task is None:
            continue
        pairs = "".join(
            f"<div class='pairs'>{svg_charts.arc_grid(p.input, label=f'demo {i + 1} input')}"
            f"{svg_charts.arc_grid(p.output, label=f'demo {i + 1} output')}</div>" for i, p in enumerate(task.train))
        tests = "".join(
            f"<div class='pairs'>{svg_charts.arc_grid(t.input, label=f'test {i + 1} input')}"
            f"{svg_charts.arc_grid(t.output, label=f'test {i + 1} target')}</div>" for i, t in enumerate(task.test))
        parts.append(f"<details id='task-{esc(task_id)}'><summary>task {esc(task_id)}</summary>{pairs}{tests}</details>")
    return "<h2>Tasks</h2>" + "".join(parts)


def drill_down(view: RunView, row: dict[str, Any], baseline: dict[str, dict[str, Any]]) -> str:
    parts = [f"<p><b>status</b> {esc(row['status'])}" + (f": {esc(row['reason'])}" if row.get("reason") else "") + "</p>"]
    parts.append("<b>what the policy wrote</b>" + pre(row.get("completion")))
    if row.get("tool_calls"):
        parts.append("<b>tool calls</b>" + pre(row["tool_calls"]))
    if row.get("training"):
        parts.append("<b>training</b>" + pre(row["training"]))
    if row.get("data_counts"):
        parts.append("<b>data counts</b>" + pre(row["data_counts"]))
    if row.get("data_sample"):
        parts.append(f"<b>{'training text' if view.domain == 'knowledge' else 'data sample'}</b>" + pre(row["data_sample"]))
    if row.get("loss_curve"):
        parts.append(svg_charts.loss_curves("loss", [("this candidate", row["loss_curve"], row["reward"] > 0)]))
    if view.domain == "arc":
        task = view.tasks.get(row["task_id"])
        if task is not None:  # drawn once per task, above; a link, not a copy per candidate
            parts.append(f"<p><a href='#task-{esc(row['task_id'])}'>the task's demonstrations</a></p>")
        predictions = row.get("predictions") or []
        for index, attempts in enumerate(predictions):
            target = task.test[index].output if task is not None and index < len(task.test) else None
            grids = svg_charts.arc_grid(target, label=f"test {index + 1} target") + "".join(
                svg_charts.arc_grid(g, label=f"attempt {i + 1}") for i, g in enumerate(attempts or []))
            parts.append(f"<div class='pairs'>{grids}</div>")
        if row.get("raw_outputs"):
            parts.append("<details><summary>raw outputs</summary>" + pre(row["raw_outputs"]) + "</details>")
    else:
        parts.append(knowledge_answers(view, row, baseline.get(row["task_id"])))
    if row.get("metrics"):
        parts.append("<details><summary>metrics</summary>" + pre(row["metrics"]) + "</details>")
    return "".join(parts)


def knowledge_answers(view: RunView, row: dict[str, Any], base: dict[str, Any] | None) -> str:
    passage = view.tasks.get(row["task_id"])
    if passage is None:
        return ""
    before = (base or {}).get("predictions") or []
    after = row.get("predictions") or []
    lines = []
    for i, question in enumerate(passage.questions):
        lines.append(
            f"<tr><td>{esc(question.question)}</td><td>{esc(' | '.join(question.answers))}</td>"
            f"<td>{esc(before[i] if i < len(before) else '-')}</td><td>{esc(after[i] if i < len(after) else '-')}</td></tr>")
    return ("<table class='answers'><thead><tr><th>question (asked without the passage)</th><th>gold</th>"
            "<th>answer before</th><th>answer after</th></tr></thead><tbody>" + "".join(lines) + "</tbody></table>")


def candidates_section(view: RunView) -> str:
    baseline = {b["task_id"]: b for b in view.baseline}
    rows = []
    for row in view.candidates:
        classes = f"candidate {esc(row['status'])}" + (" rewarded" if row["reward"] > 0 and view.domain == "arc" else "")
        rows.append(
            f"<tr class='{classes}'><td class='num'>{row['round']}</td><td>{esc(row['task_id'])}</td>"
            f"<td class='num'>{row['candidate']}</td><td class='status'>{esc(row['status'])}</td>"
            f"<td>{esc(', '.join(row.get('tool_names') or []) or '-')}</td><td class='num'>{num(data_size(row))}</td>"
            f"<td class='num'>{num(final_loss(row))}</td><td class='num'>{num(row['reward'])}</td>"
            f"<td class='num'>{num(row.get('seconds'), '.1f')}</td>"
            f"<td><details><summary>details</summary>{drill_down(view, row, baseline)}</details></td></tr>")
    head = "".join(f"<th>{t}</th>" for t in ("round", "task" if view.domain == "arc" else "passage", "cand", "status",
                                             "tools", "data", "final loss", "reward", "seconds", ""))
    return (f"<h2>Candidates</h2><table id='candidates'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def graph_section(view: RunView) -> str:
    if view.domain == "knowledge":
        from seal_agent.graphs.knowledge import build_knowledge_graph

        graph = build_knowledge_graph(view.config.get("mode", "single")).compile().get_graph()
    else:
        from seal_agent.graphs.arc import build_arc_graph

        graph = build_arc_graph().compile().get_graph()
    edges = [(e.source, e.target, bool(e.conditional)) for e in graph.edges]
    return "<h2>The graph</h2>" + svg_charts.graph_diagram(list(graph.nodes), edges)


def build_report(run_dir: str | Path) -> str:
    view = open_run(run_dir, with_sources=True)
    sections = [header(view), rounds_section(view), charts_section(view), tasks_section(view),
                candidates_section(view), graph_section(view)]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        f"<title>SEAL report: {esc(view.run_dir.name)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(sections)}</body></html>"
    )


def write_report(run_dir: str | Path, output: str | Path) -> Path:
    output = Path(output)
    html = build_report(run_dir)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    return output
