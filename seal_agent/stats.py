"""How every table of the project reports uncertainty: Wilson intervals for proportions,
Student-t intervals for means, and intervals that treat seeds as the replicates.

Items within one seed (questions, passages, tasks) are not independent draws: they share
the seed's policy, its RL passages and its update seeds. A pooled interval over every item
of every seed answers "how precisely is the mean of these items known"; the between-seed
interval (`between_seed_interval`: one mean per seed, a t-interval over those) answers
"would another seed land here", which is what a claim about the method needs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
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


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), by its continued fraction (Lentz's method)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast only below the mean: use the symmetry
        return 1.0 - _incomplete_beta(b, a, 1.0 - x)
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * fraction / a


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    tail = 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with `df` degrees of freedom (2.776 for p 0.975, df 4).

    Bisection on `t_cdf`: exact to about 1e-10, and no dependency beyond the standard library.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), not {p}")
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, not {df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(200):
        middle = (low + high) / 2
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2


def mean_and_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, list[float]]:
    """The mean and its Student-t interval (n - 1 degrees of freedom; a lone value: no width).

    With few values the t-quantile matters: over 3 seeds the 95% half-width is 4.30 standard
    errors, not the normal 1.96.
    """
    if not values:
        return float("nan"), [float("nan"), float("nan")]
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, [mean, mean]
    quantile = t_quantile(0.5 + confidence / 2, len(values) - 1)
    half = quantile * statistics.stdev(values) / math.sqrt(len(values))
    return mean, [mean - half, mean + half]


def between_seed_interval(per_seed: Sequence[Sequence[float]], confidence: float = 0.95) -> dict[str, Any]:
    """Seeds as the replicates: each seed's mean over its items, then a t-interval over those means.

    {"mean": mean of the seed means, "ci": [low, high], "seed_means": [...], "seeds": n}.
    Seeds with no items are left out.
    """
    means = [statistics.fmean(items) for items in per_seed if len(items)]
    mean, interval = mean_and_interval(means, confidence)
    return {"mean": mean, "ci": interval, "seed_means": means, "seeds": len(means)}
