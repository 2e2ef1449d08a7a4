"""Ranking metrics: known answers, agreement with scipy, ties, and input errors."""

import math

import numpy as np
import pytest
import scipy.stats

from naslid.bench import kendall_tau_b, pearson, precision_at_k, spearman, top_k_kendall, top_k_mask


@pytest.fixture
def tied_pair() -> tuple[np.ndarray, np.ndarray]:
    """Scores with many ties on both sides, as NB201 accuracies have."""
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 20, size=500).astype(float)
    proxy = np.round(truth + rng.normal(0, 6, size=500), 0)
    return proxy, truth


def test_kendall_tau_b_agrees_with_scipy_on_ties(tied_pair):
    proxy, truth = tied_pair
    expected = scipy.stats.kendalltau(proxy, truth, variant="b").statistic
    assert kendall_tau_b(proxy, truth) == pytest.approx(expected, abs=1e-12)
    # tau-b differs from tau-c when there are ties, so the variant matters
    assert expected != pytest.approx(scipy.stats.kendalltau(proxy, truth, variant="c").statistic, abs=1e-6)


def test_kendall_tau_b_known_answer():
    # 5 concordant, 1 discordant pair, no ties: (5 - 1) / 6
    assert kendall_tau_b([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(4 / 6)


def test_spearman_and_pearson_agree_with_scipy(tied_pair):
    proxy, truth = tied_pair
    assert spearman(proxy, truth) == pytest.approx(scipy.stats.spearmanr(proxy, truth).statistic, abs=1e-12)
    assert pearson(proxy, truth) == pytest.approx(scipy.stats.pearsonr(proxy, truth).statistic, abs=1e-12)


@pytest.mark.parametrize("metric", [kendall_tau_b, spearman, pearson])
def test_constant_side_gives_nan(metric):
    assert math.isnan(metric([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(metric([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))


@pytest.mark.parametrize(
    "proxy, truth, message",
    [
        ([1.0, 2.0], [1.0, 2.0, 3.0], "same length"),
        ([1.0], [1.0], "at least 2"),
        ([1.0, float("nan")], [1.0, 2.0], "finite"),
        ([[1.0, 2.0]], [[1.0, 2.0]], "1-D"),
    ],
)
def test_bad_input_is_a_value_error(proxy, truth, message):
    with pytest.raises(ValueError, match=message):
        kendall_tau_b(proxy, truth)


def test_top_k_mask_includes_ties_at_the_cut():
    values = np.array([5.0, 9.0, 7.0, 7.0, 1.0])
    assert top_k_mask(values, 2).tolist() == [False, True, True, True, False]
    assert top_k_mask(values, 1).tolist() == [False, True, False, False, False]
    with pytest.raises(ValueError, match="1..5"):
        top_k_mask(values, 6)


def test_precision_at_k_known_answers():
    truth = [10.0, 9.0, 8.0, 7.0, 6.0]
    assert precision_at_k([5, 4, 3, 2, 1], truth, 2) == 1.0
    assert precision_at_k([1, 2, 3, 4, 5], truth, 2) == 0.0
    assert precision_at_k([5, 1, 4, 2, 3], truth, 2) == 0.5
    # a tie in the proxy at the cut goes to the earlier position: top-2 by proxy is {0, 1}
    assert precision_at_k([3, 3, 3, 0, 0], truth, 2) == 1.0
    with pytest.raises(ValueError, match="k must be"):
        precision_at_k(truth, truth, 0)


def test_top_k_kendall_ranks_only_the_ground_truth_top_k(tied_pair):
    proxy, truth = tied_pair
    mask = truth >= np.sort(truth)[::-1][49]
    assert mask.sum() > 50  # ties at the cut are included
    expected = scipy.stats.kendalltau(proxy[mask], truth[mask], variant="b").statistic
    assert top_k_kendall(proxy, truth, 50) == pytest.approx(expected, abs=1e-12)
