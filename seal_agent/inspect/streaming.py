"""One compact line per node update, for `seal run ... --stream` (LangGraph "updates" streaming).

    [baseline]      2 tasks · success 0.0%
    [propose]       round 1 · 44f52bb0 · 6 self-edits in 1.9s
    [execute]       round 1 · 44f52bb0 · ok 5, rejected 1 · rewards 0 0 1 0 0 0
    [reinforce]     round 1 · mean reward 0.083 · policy updated

Model-written text never reaches these lines: only ids, counts and figures.
"""

from __future__ import annotations

from typing import Any


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def describe_update(node: str, update: dict[str, Any]) -> str | None:
    """The line for one node's update; None for nodes with nothing worth a line."""
    tag = f"[{node}]".ljust(16)
    if node == "baseline":
        baseline = update.get("baseline") or {}
        if "success_rate" in baseline:
            return f"{tag}{len(baseline.get('solved', {}))} tasks · success {baseline['success_rate']:.1%}"
        if baseline and all(isinstance(v, dict) for v in baseline.values()):
            mean = sum(v["loglik"] for v in baseline.values()) / len(baseline)
            return f"{tag}{len(baseline)} passages · mean answer log-likelihood {mean:.3f}"
        return f"{tag}skipped"
    if node == "start_round":
        return f"{tag}round {update.get('round')}"
    if node == "propose":
        lines = []
        for p in update.get("proposals", []):
            count = len(p.get("candidates") or p.get("completions") or [])
            lines.append(f"{tag}round {p['round']} · {p['task_id']} · {count} self-edits in {p['seconds']:.1f}s")
        return "\n".join(lines) or None
    if node in ("execute", "cpt_update", "continual_step"):
        results = update.get("results", [])
        if not results:
            return None
        statuses: dict[str, int] = {}
        for r in results:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        first = results[0]
        where = f"round {first['round']} · {first['task_id']}" if len({r["task_id"] for r in results}) == 1 else f"round {first['round']} · {len(results)} self-edits"
        counts = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        rewards = " ".join(_fmt(r["reward"]) for r in results[:16]) + (" ..." if len(results) > 16 else "")
        return f"{tag}{where} · {counts} · rewards {rewards}"
    if node == "reinforce":
        r = (update.get("rounds") or [{}])[0]
        return (f"{tag}round {r.get('round')} · mean reward {_fmt(r.get('mean_reward', 0.0))} · "
                f"policy {'updated' if r.get('policy_updated') else 'unchanged'} · {r.get('seconds', 0.0):.1f}s")
    return f"{tag}{', '.join(sorted(update))}" if update else None
