"""Paired differences over seeds: the arithmetic of the mean, the bootstrap interval and the seed count."""

import numpy as np
import pytest

from naslid.bench.paired import paired_difference


def test_differences_mean_and_seeds_better():
    result = paired_difference([0.40, 0.30, 0.50, None], [0.35, 0.32, 0.41, 0.2], seeds=[0, 1, 2, 3])
    assert result.differences == pytest.approx((0.05, -0.02, 0.09))
    assert result.seeds == (0, 1, 2)  # seed 3 has no value: left out, not counted as zero
    assert result.mean == pytest.approx(0.04) and result.better == 2
    assert result.to_json()["n"] == 3


def test_the_interval_is_the_percentile_bootstrap_of_the_mean():
    differences = np.array([0.05, -0.02, 0.09, 0.01, 0.03, 0.07])
    result = paired_difference(differences.tolist(), [0.0] * 6, resamples=20_000, seed=3)
    rng = np.random.default_rng(12345)  # an independent brute force
    means = differences[rng.integers(0, 6, size=(200_000, 6))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    assert result.interval[0] == pytest.approx(low, abs=0.004)
    assert result.interval[1] == pytest.approx(high, abs=0.004)
    assert result.excludes_zero  # every bootstrap mean of these differences is mostly above zero
    assert paired_difference(differences.tolist(), [0.0] * 6, seed=3) == paired_difference(
        differences.tolist(), [0.0] * 6, seed=3)  # seeded: the same interval every time


def test_an_interval_straddling_zero_and_degenerate_inputs():
    straddle = paired_difference([0.1, -0.1, 0.05, -0.04], [0.0] * 4)
    assert straddle.interval[0] < 0 < straddle.interval[1] and not straddle.excludes_zero
    single = paired_difference([0.3], [0.1])
    assert single.interval is None and single.mean == pytest.approx(0.2) and not single.excludes_zero
    empty = paired_difference([None, float("nan")], [0.1, 0.2])
    assert empty.mean is None and empty.interval is None and empty.better == 0
    with pytest.raises(ValueError, match="pair"):
        paired_difference([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="confidence"):
        paired_difference([0.1], [0.1], confidence=1.5)
