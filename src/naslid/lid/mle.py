"""Maximum-likelihood LID from k nearest neighbours: the reference MLE and the MacKay-Ghahramani variant.

With r_1 <= ... <= r_k the distances from a point to its k nearest neighbours in the batch, and
S = sum_j log(r_k / r_j), the reference MLE (NAS-LID, DESIGN section 1) reads LID = k / S at each point and
averages over the batch. The MacKay-Ghahramani variant pools the batch first, LID = (k - 1) / mean(S): a
harmonic rather than arithmetic mean of the Levina-Bickel point values (k - 1) / S, so single points with a
tiny S (all k neighbours nearly equidistant) cannot drag the estimate up.

Defined behaviour at the edges:
- a value is clipped to the ambient dimension d (k neighbours at exactly equal distances give S = 0);
- duplicates="skip" (default) measures each point against its nearest points at distinct positions, and a
  batch with at most k distinct positions (for example constant features) reads LID 0 everywhere;
  duplicates="error" raises instead.

Known bias (k = 20; mean of 3 seeds; Gaussian points on a random m-dimensional subspace of R^500, and the
uniform m-sphere in the last row; tests/test_lid_estimators.py checks these ranges):

    true dimension m                  2      5     10     20
    MLE, n = 128                   2.29   4.95   8.31  12.88
    MLE, n = 2048                  2.26   5.62  10.15  16.99
    MacKay-Ghahramani, n = 128     2.04   4.47   7.53  11.70
    MacKay-Ghahramani, n = 2048    2.03   5.03   9.13  15.32
    TwoNN, n = 128                 2.46   5.31   8.53  14.75
    TwoNN, n = 2048                2.03   5.13   9.79  17.44
    MLE, n = 128, m-sphere         2.23   5.08   8.64  13.82

Up to about m = 5 and n >= 1000, MacKay-Ghahramani and TwoNN land within 10% of m and the reference MLE
within 15% (an arithmetic mean of k / S, it reads high at low m by about k / (k - 2)). Above that all
three read low, more so for small n, and the value depends on n. The order of dimensions is kept, which
is what comparing layers needs: compare values of the same n, k and estimator only.
"""

from __future__ import annotations

import numpy as np
import torch

from naslid.lid.knn import (
    as_features,
    check_duplicate_policy,
    check_features,
    check_finite,
    check_result,
    neighbour_squared_distances,
)


def _log_ratio_sums(squared: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per point S = sum_j log(r_k / r_j) from ascending squared distances (n, k), and which rows are valid.

    A row is invalid when it has fewer than k distinct neighbours (its last entry is +inf). NaN (from
    non-finite features) is kept, so that it reaches the result instead of passing for a valid value.
    """
    valid = ~torch.isposinf(squared[:, -1])
    safe = torch.where(valid[:, None], squared, torch.ones_like(squared))
    logs = safe.log()
    sums = 0.5 * (logs[:, -1:] - logs).sum(dim=1)
    return sums, valid


def _clip_dimension(values: torch.Tensor, dimension: int) -> torch.Tensor:
    """Clip LID values to [0, dimension] (+inf becomes the ambient dimension; NaN stays NaN)."""
    return torch.where(torch.isposinf(values), float(dimension), values).clamp(0.0, float(dimension))


def _mle_pointwise(x: torch.Tensor, k: int, duplicates: str) -> torch.Tensor:
    """Unchecked reference MLE k / S per point; 0 for points without k distinct neighbours."""
    sums, valid = _log_ratio_sums(neighbour_squared_distances(x, k, duplicates))
    values = torch.where(valid, k / sums, torch.zeros_like(sums))
    return _clip_dimension(values, x.shape[1])


def _mackay_ghahramani(x: torch.Tensor, k: int, duplicates: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Unchecked MacKay-Ghahramani batch value and the Levina-Bickel point values (k - 1) / S."""
    sums, valid = _log_ratio_sums(neighbour_squared_distances(x, k, duplicates))
    dimension = x.shape[1]
    pointwise = _clip_dimension(torch.where(valid, (k - 1) / sums, torch.zeros_like(sums)), dimension)
    total = torch.where(valid, sums, torch.zeros_like(sums)).sum()
    pooled = _clip_dimension((k - 1) * valid.sum() / total, dimension)
    batch = torch.where(valid.all(), pooled, torch.zeros_like(pooled))
    return batch, pointwise


def _check(x: torch.Tensor, k: int, duplicates: str, minimum_k: int) -> None:
    check_duplicate_policy(duplicates)
    if not isinstance(k, bool) and isinstance(k, int) and k < minimum_k:
        raise ValueError(f"k must be an integer >= {minimum_k} (with k = 1 the MLE is always infinite); got {k}")
    check_features(x, k)


def mle_lid(x: torch.Tensor | np.ndarray, k: int = 20, duplicates: str = "skip") -> torch.Tensor:
    """Reference MLE of the LID at every row of `x` (n, d), shape (n,), on x's device; k >= 2, k < n.

    Distances are accumulated in float32 (float64 for float64 input). Raises ValueError for k outside
    [2, n - 1], a wrong shape, non-finite input or an unknown duplicate policy.
    """
    x = as_features(x)
    _check(x, k, duplicates, minimum_k=2)
    check_finite(x)
    return check_result(_mle_pointwise(x, k, duplicates), x)


def mackay_ghahramani_lid(x: torch.Tensor | np.ndarray, k: int = 20, duplicates: str = "skip") -> torch.Tensor:
    """MacKay-Ghahramani pooled MLE of the LID of the batch `x` (n, d): a 0-dim tensor on x's device."""
    x = as_features(x)
    _check(x, k, duplicates, minimum_k=2)
    check_finite(x)
    return check_result(_mackay_ghahramani(x, k, duplicates)[0], x)


class MLE:
    """Reference MLE of the local intrinsic dimension (NAS-LID): mean over the batch of k / S.

    Parameters
    ----------
    k : int, default=20
        Neighbours per point (reference value of NAS-LID); 2 <= k < n, checked at `fit`.
    duplicates : {'skip', 'error'}, default='skip'
        'skip' measures each point against its nearest points at distinct positions (features of a
        network often repeat exactly, e.g. after an all-zero op); 'error' raises ValueError.

    Attributes
    ----------
    lid_ : float
        The batch estimate (mean of the point values).
    lid_pointwise_ : torch.Tensor
        The value at each point, shape (n,), on the input's device.

    Examples
    --------
    >>> import torch
    >>> generator = torch.Generator().manual_seed(0)
    >>> x = torch.randn(200, 3, generator=generator) @ torch.randn(3, 50, generator=generator)
    >>> 2.5 < MLE(k=20).fit(x).lid_ < 4.0
    True
    """

    name = "mle"

    def __init__(self, *, k: int = 20, duplicates: str = "skip") -> None:
        self.k = k
        self.duplicates = duplicates

    def __repr__(self) -> str:
        return f"{type(self).__name__}(k={self.k!r}, duplicates={self.duplicates!r})"

    def params(self) -> dict:
        """The estimator's parameters, for records."""
        return {"k": self.k, "duplicates": self.duplicates}

    def fit(self, x: torch.Tensor | np.ndarray) -> MLE:
        """Estimate the LID of the batch `x` (n, d); sets `lid_` and `lid_pointwise_` and returns self."""
        x = as_features(x)
        _check(x, self.k, self.duplicates, minimum_k=2)
        check_finite(x)
        self.lid_pointwise_ = check_result(_mle_pointwise(x, self.k, self.duplicates), x)
        self.lid_ = float(self.lid_pointwise_.mean())
        return self

    def estimate(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """The batch estimate as a 0-dim tensor on x's device, without copying anything to the host.

        For hot paths such as forward hooks: checks shape and k but not finiteness (non-finite input gives
        a non-finite result, which the caller checks later in bulk).
        """
        x = as_features(x)
        _check(x, self.k, self.duplicates, minimum_k=2)
        return _mle_pointwise(x, self.k, self.duplicates).mean()


class MacKayGhahramani(MLE):
    """MacKay-Ghahramani pooled MLE of the LID: (k - 1) / mean(S) over the batch.

    Same parameters as `MLE`. `lid_pointwise_` holds the Levina-Bickel point values (k - 1) / S, and `lid_`
    is their harmonic mean. Less sensitive than the arithmetic mean to points whose neighbours are nearly
    equidistant, and without the upward bias of the arithmetic mean of k / S (about k / (k - 2) at low
    dimension, where (k - 1) / mean(S) is nearly unbiased).
    """

    name = "mackay_ghahramani"

    def fit(self, x: torch.Tensor | np.ndarray) -> MacKayGhahramani:
        """Estimate the LID of the batch `x` (n, d); sets `lid_` and `lid_pointwise_` and returns self."""
        x = as_features(x)
        _check(x, self.k, self.duplicates, minimum_k=2)
        check_finite(x)
        batch, self.lid_pointwise_ = _mackay_ghahramani(x, self.k, self.duplicates)
        self.lid_ = float(check_result(batch, x))
        return self

    def estimate(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """The batch estimate as a 0-dim tensor on x's device, without copying anything to the host."""
        x = as_features(x)
        _check(x, self.k, self.duplicates, minimum_k=2)
        return _mackay_ghahramani(x, self.k, self.duplicates)[0]
