"""Ranking metrics between proxy scores and ground truth, on plain arrays.

Higher is better for both inputs. A correlation over inputs where either side is constant is undefined and
returned as NaN (no warning). Definitions:

- `kendall_tau_b`: Kendall's tau-b, which corrects for ties on both sides (NB201 has many); O(n log n).
- `top_k_mask`: the entries whose value is at least the k-th largest, so ties at the cut are all included
  (the set can hold more than k entries).
- `precision_at_k`: |top-k by proxy ∩ top-k by ground truth| / k, each top-k exactly k entries, ties broken
  by position in the input (earlier first).
- `top_k_kendall`: Kendall tau-b over the ground-truth `top_k_mask` (ties at the cut included).
"""

from __future__ import annotations

import numpy as np
import scipy.stats

ArrayLike = np.ndarray | list[float] | tuple[float, ...]


def _pair(proxy: ArrayLike, truth: ArrayLike, minimum: int = 2) -> tuple[np.ndarray, np.ndarray]:
    proxy = np.asarray(proxy, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if proxy.ndim != 1 or truth.ndim != 1:
        raise ValueError(f"expected two 1-D arrays, got shapes {proxy.shape} and {truth.shape}")
    if proxy.shape != truth.shape:
        raise ValueError(f"proxy has {proxy.size} values and truth {truth.size}; expected the same length")
    if proxy.size < minimum:
        raise ValueError(f"need at least {minimum} values to rank, got {proxy.size}")
    if not (np.isfinite(proxy).all() and np.isfinite(truth).all()):
        raise ValueError("proxy and truth must be finite; found NaN or infinity")
    return proxy, truth


def _constant(values: np.ndarray) -> bool:
    return bool(values.min() == values.max())


def kendall_tau_b(proxy: ArrayLike, truth: ArrayLike) -> float:
    """Kendall's tau-b (tie-corrected), NaN when either side is constant."""
    proxy, truth = _pair(proxy, truth)
    if _constant(proxy) or _constant(truth):
        return float("nan")
    return float(scipy.stats.kendalltau(proxy, truth, variant="b").statistic)


def spearman(proxy: ArrayLike, truth: ArrayLike) -> float:
    """Spearman's rank correlation (average ranks for ties), NaN when either side is constant."""
    proxy, truth = _pair(proxy, truth)
    if _constant(proxy) or _constant(truth):
        return float("nan")
    return float(scipy.stats.spearmanr(proxy, truth).statistic)


def pearson(proxy: ArrayLike, truth: ArrayLike) -> float:
    """Pearson's linear correlation, NaN when either side is constant."""
    proxy, truth = _pair(proxy, truth)
    if _constant(proxy) or _constant(truth):
        return float("nan")
    return float(scipy.stats.pearsonr(proxy, truth).statistic)


def _check_k(k: int, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in 1..{n} (the number of values), got {k!r}")
    return int(k)


def top_k_mask(values: ArrayLike, k: int) -> np.ndarray:
    """Boolean mask of the entries >= the k-th largest value (ties at the cut included)."""
    values = np.asarray(values, dtype=np.float64)
    k = _check_k(k, values.size)
    cut = np.partition(values, values.size - k)[values.size - k]
    return values >= cut


def _top_k_positions(values: np.ndarray, k: int) -> np.ndarray:
    """Exactly k positions of the largest values; ties broken by position (earlier first)."""
    order = np.argsort(-values, kind="stable")
    return order[:k]


def precision_at_k(proxy: ArrayLike, truth: ArrayLike, k: int) -> float:
    """|top-k by proxy ∩ top-k by truth| / k, ties broken by input position."""
    proxy, truth = _pair(proxy, truth, minimum=1)
    k = _check_k(k, proxy.size)
    shared = np.intersect1d(_top_k_positions(proxy, k), _top_k_positions(truth, k))
    return shared.size / k


def top_k_kendall(proxy: ArrayLike, truth: ArrayLike, k: int) -> float:
    """Kendall tau-b among the top-k by ground truth (ties at the cut included)."""
    proxy, truth = _pair(proxy, truth)
    mask = top_k_mask(truth, k)
    if mask.sum() < 2:
        return float("nan")
    return kendall_tau_b(proxy[mask], truth[mask])
