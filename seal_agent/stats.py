"""Success rates with 95% Wilson intervals: how every table of the project reports a proportion."""

from __future__ import annotations

import math
import statistics
from typing import Any


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% for z = 1.96); (0, 0) when n is 0.

    Unlike the normal approximation it stays inside [0, 1] and is honest at 0 or n successes,
    which small tables hit often.
    """
    if n == 0:
        return 0.0, 0.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def success_row(name: str, successes: float, n: int, **extra: Any) -> dict[str, Any]:
    """{"name", "success", "ci_low", "ci_high", "solved", "n", ...extra}."""
    low, high = wilson(successes, n)
    return {"name": name, "success": successes / n if n else 0.0, "ci_low": low, "ci_high": high,
            "solved": successes, "n": n, **extra}


def mean_and_interval(values: list[float]) -> tuple[float, list[float]]:
    """The mean and its normal 95% interval (passages are the independent units)."""
    if not values:
        return float("nan"), [float("nan"), float("nan")]
    mean = statistics.fmean(values)
    half = 1.96 * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, [mean - half, mean + half]
