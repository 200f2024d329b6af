"""seal_agent.stats: t-quantiles against published values, and intervals that use them."""

import math
import statistics

import pytest

from seal_agent.stats import between_seed_interval, mean_and_interval, t_cdf, t_quantile, wilson

# Two-sided 95% (p = 0.975) and 99% (p = 0.995) quantiles of Student's t, from the standard tables.
KNOWN_QUANTILES = [
    (0.975, 1, 12.7062), (0.975, 2, 4.3027), (0.975, 3, 3.1824), (0.975, 4, 2.7764), (0.975, 5, 2.5706),
    (0.975, 10, 2.2281), (0.975, 30, 2.0423), (0.975, 120, 1.9799), (0.995, 2, 9.9248), (0.995, 10, 3.1693),
    (0.95, 7, 1.8946),
]


@pytest.mark.parametrize("p, df, expected", KNOWN_QUANTILES)
def test_t_quantile_matches_the_tables(p, df, expected):
    assert t_quantile(p, df) == pytest.approx(expected, abs=5e-4)
    assert t_quantile(1 - p, df) == pytest.approx(-expected, abs=5e-4)


def test_t_quantile_tends_to_the_normal_and_inverts_the_cdf():
    assert t_quantile(0.975, 1e6) == pytest.approx(1.95996, abs=1e-4)
    assert t_cdf(0.0, 3) == pytest.approx(0.5)
    for df in (1, 2.5, 9):
        assert t_cdf(t_quantile(0.9, df), df) == pytest.approx(0.9, abs=1e-9)
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError):
        t_quantile(0.5, 0)


def test_mean_and_interval_uses_t_with_n_minus_one_degrees_of_freedom():
    values = [1.0, 2.0, 4.0]
    mean, (low, high) = mean_and_interval(values)
    half = 4.3027 * statistics.stdev(values) / math.sqrt(3)
    assert mean == pytest.approx(7 / 3)
    assert high - mean == pytest.approx(half, rel=1e-4)
    assert mean - low == pytest.approx(half, rel=1e-4)
    # About 2.2 times the normal interval's width at three values: the bug this replaced.
    assert (high - low) / (2 * 1.96 * statistics.stdev(values) / math.sqrt(3)) == pytest.approx(2.195, abs=1e-3)


def test_mean_and_interval_edges():
    mean, interval = mean_and_interval([])
    assert math.isnan(mean) and all(math.isnan(v) for v in interval)
    assert mean_and_interval([3.0]) == (3.0, [3.0, 3.0])
    assert mean_and_interval([2.0, 2.0, 2.0]) == (2.0, [2.0, 2.0])


def test_between_seed_interval_treats_seed_means_as_the_replicates():
    per_seed = [[1.0, 1.0, 1.0, 1.0], [2.0, 2.0], [6.0], []]
    result = between_seed_interval(per_seed)
    assert result["seed_means"] == [1.0, 2.0, 6.0]
    assert result["seeds"] == 3
    mean, interval = mean_and_interval([1.0, 2.0, 6.0])
    assert result["mean"] == pytest.approx(mean) and result["ci"] == pytest.approx(interval)
    # Far wider than the pooled interval over the seven items, which treats them as independent.
    _, pooled = mean_and_interval([v for items in per_seed for v in items])
    assert result["ci"][1] - result["ci"][0] > 2 * (pooled[1] - pooled[0])


def test_wilson_is_unchanged():
    low, high = wilson(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
