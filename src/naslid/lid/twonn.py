"""TwoNN intrinsic dimension (Facco et al. 2017) from the two nearest neighbours of each point.

mu = r_2 / r_1 follows a Pareto law with shape d on a d-dimensional manifold of locally uniform density, so
-log(1 - F(mu)) = d log(mu): d is the slope of a line through the origin fitted to the empirical
distribution after discarding the largest ratios (default 10%, as in the paper). It looks at the smallest
scale only, so it is less pulled down by curvature and density changes than the k = 20 MLE, but noisier.

Defined behaviour at the edges mirrors the MLE: duplicates are skipped (or raise with duplicates="error"),
a batch with at most 2 distinct positions reads 0, and values are clipped to the ambient dimension.
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
from naslid.lid.mle import _clip_dimension, _log_ratio_sums


def _check(x: torch.Tensor, discard_fraction: float, duplicates: str) -> None:
    check_duplicate_policy(duplicates)
    if isinstance(discard_fraction, bool) or not isinstance(discard_fraction, int | float) or not (
        0.0 <= discard_fraction < 1.0
    ):
        raise ValueError(f"discard_fraction must be a number in [0, 1); got {discard_fraction!r}")
    check_features(x, 2)
    kept = int(x.shape[0] * (1.0 - discard_fraction))
    if kept < 2:
        raise ValueError(
            f"discard_fraction={discard_fraction} leaves {kept} of n={x.shape[0]} points; TwoNN needs at least 2"
        )


def _twonn(x: torch.Tensor, discard_fraction: float, duplicates: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Unchecked TwoNN batch value and the point values 1 / log(mu)."""
    sums, valid = _log_ratio_sums(neighbour_squared_distances(x, 2, duplicates))
    dimension = x.shape[1]
    log_ratios = torch.where(valid, sums, torch.zeros_like(sums))  # log(r_2 / r_1) per point
    pointwise = _clip_dimension(torch.where(valid, 1.0 / log_ratios, torch.zeros_like(sums)), dimension)
    n = x.shape[0]
    kept = int(n * (1.0 - discard_fraction))
    log_mu = torch.sort(log_ratios).values[:kept]
    empirical = torch.arange(1, kept + 1, device=x.device, dtype=log_mu.dtype) / n
    target = -torch.log1p(-empirical)
    slope = (log_mu * target).sum() / (log_mu * log_mu).sum()
    batch = torch.where(valid.all(), _clip_dimension(slope, dimension), torch.zeros_like(slope))
    return batch, pointwise


def twonn_lid(x: torch.Tensor | np.ndarray, discard_fraction: float = 0.1, duplicates: str = "skip") -> torch.Tensor:
    """TwoNN intrinsic dimension of the batch `x` (n, d): a 0-dim tensor on x's device."""
    x = as_features(x)
    _check(x, discard_fraction, duplicates)
    check_finite(x)
    return check_result(_twonn(x, discard_fraction, duplicates)[0], x)


class TwoNN:
    """TwoNN estimator of the intrinsic dimension (Facco et al. 2017).

    Parameters
    ----------
    discard_fraction : float, default=0.1
        Fraction of the largest ratios r_2 / r_1 left out of the fit (the paper's heuristic), in [0, 1).
    duplicates : {'skip', 'error'}, default='skip'
        As for `MLE`.

    Attributes
    ----------
    lid_ : float
        The batch estimate (the fitted slope).
    lid_pointwise_ : torch.Tensor
        Point values 1 / log(r_2 / r_1) (the two-neighbour MLE), shape (n,): very noisy, for inspection.
    """

    name = "twonn"
    k = 2  # neighbours used per point

    def __init__(self, *, discard_fraction: float = 0.1, duplicates: str = "skip") -> None:
        self.discard_fraction = discard_fraction
        self.duplicates = duplicates

    def __repr__(self) -> str:
        return f"TwoNN(discard_fraction={self.discard_fraction!r}, duplicates={self.duplicates!r})"

    def params(self) -> dict:
        """The estimator's parameters, for records."""
        return {"discard_fraction": self.discard_fraction, "duplicates": self.duplicates}

    def fit(self, x: torch.Tensor | np.ndarray) -> TwoNN:
        """Estimate the intrinsic dimension of `x` (n, d); sets `lid_` and `lid_pointwise_`, returns self."""
        x = as_features(x)
        _check(x, self.discard_fraction, self.duplicates)
        check_finite(x)
        batch, self.lid_pointwise_ = _twonn(x, self.discard_fraction, self.duplicates)
        self.lid_ = float(check_result(batch, x))
        return self

    def estimate(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """The batch estimate as a 0-dim tensor on x's device, without copying anything to the host."""
        x = as_features(x)
        _check(x, self.discard_fraction, self.duplicates)
        return _twonn(x, self.discard_fraction, self.duplicates)[0]
