"""Exact k-nearest-neighbour distances inside one batch of feature vectors, on the batch's device.

All pairwise squared distances come from one matrix product of the centred batch (the Gram matrix), in
float32 for float32 and half-precision input and float64 for float64 input. Centring first matters: a large
common offset makes float32 distances collapse (float32 `torch.cdist` returns NaN there).
"""

from __future__ import annotations

import numpy as np
import torch

DUPLICATE_POLICIES = ("skip", "error")

# Two points count as duplicates when their squared distance is at most this many machine epsilons of the
# sum of their squared (centred) norms: below that the Gram-matrix distance is rounding noise.
_DUPLICATE_EPSILONS = 100.0


def as_features(x: torch.Tensor | np.ndarray, name: str = "x") -> torch.Tensor:
    """`x` as a tensor: a numpy array becomes one with the array's dtype (float64 stays float64, so the estimate
    equals the one of `torch.as_tensor(x)`), sharing its memory where it can; a tensor is returned as it is."""
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "fiub":  # floats, signed and unsigned integers, booleans
            raise ValueError(f"{name} must be a numeric array of shape (n, d); got dtype {x.dtype}")
        return torch.as_tensor(x if x.flags.writeable else x.copy())  # torch warns on read-only arrays
    return x


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype distances are accumulated in: float64 for float64 input, float32 for everything else."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def check_features(x: torch.Tensor, k: int, name: str = "x") -> None:
    """Raise ValueError unless `x` is an (n, d) batch with n > k >= 1; needs no copy from the device."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor or numpy array of shape (n, d); got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d) (flatten each sample first); got shape {tuple(x.shape)}")
    if x.is_complex():
        raise ValueError(f"{name} must be real; got dtype {x.dtype}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1; got {k!r}")
    n = x.shape[0]
    if k >= n:
        raise ValueError(f"k={k} nearest neighbours need a batch of more than k points; got n={n} (k < n required)")
    if x.shape[1] < 1:
        raise ValueError(f"{name} must have at least one feature; got shape {tuple(x.shape)}")


def check_finite(x: torch.Tensor, name: str = "x") -> None:
    """Raise ValueError if `x` holds NaN or infinity (one scalar copied from the device)."""
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise ValueError(f"{name} holds {bad} non-finite values (NaN or inf); LID needs finite features")


def check_result(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Return `values`, or raise ValueError if they are NaN: then x's squared norms overflow the float range."""
    if not bool(torch.isfinite(values).all()):
        raise ValueError(
            f"squared distances of x overflow {compute_dtype(x)} (largest |value| {float(x.abs().max()):.3g}); "
            "scale the features down"
        )
    return values


def check_duplicate_policy(duplicates: str) -> None:
    """Raise ValueError unless `duplicates` is a known duplicate policy."""
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be one of {list(DUPLICATE_POLICIES)}; got {duplicates!r}")


def neighbour_squared_distances(x: torch.Tensor, k: int, duplicates: str = "skip") -> torch.Tensor:
    """Squared distances from each point to its k nearest other points, ascending, shape (n, k).

    Unchecked hot path: call `check_features` first. Self is excluded by index. With duplicates="skip",
    neighbours are taken among the distinct positions of the batch: a point's own copies are not its
    neighbours and a repeated point counts once, so each point gets the k nearest other positions; entries
    are +inf where the batch has at most k distinct positions. With duplicates="error", any duplicate pair
    raises ValueError (which costs one scalar copy from the device).
    """
    dtype = compute_dtype(x)
    centred = x.to(dtype)
    centred = centred - centred.mean(dim=0, keepdim=True)
    gram = centred @ centred.T
    squared_norms = gram.diagonal()
    norm_sums = squared_norms[:, None] + squared_norms[None, :]
    squared = (norm_sums - 2.0 * gram).clamp_min_(0.0)
    duplicate = squared <= (_DUPLICATE_EPSILONS * torch.finfo(dtype).eps) * norm_sums
    duplicate.fill_diagonal_(False)
    if duplicates == "error":
        pairs = int(duplicate.sum()) // 2
        if pairs:
            raise ValueError(
                f"the batch holds {pairs} pairs of duplicate points (zero distance) and duplicates='error'; "
                "use duplicates='skip' to measure each point against its nearest distinct points"
            )
    # keep one point per position as a neighbour: a column that repeats an earlier point is nobody's neighbour
    repeats_earlier = torch.triu(duplicate, diagonal=1).any(dim=0)
    squared = squared.masked_fill_(duplicate | repeats_earlier[None, :], float("inf"))
    squared.fill_diagonal_(float("inf"))
    nearest = torch.topk(squared, k, dim=1, largest=False, sorted=True).values
    # non-finite features, or squared norms beyond the float range, must not pass for distances: make them NaN
    return torch.where(torch.isfinite(squared_norms).all(), nearest, float("nan"))


def nearest_neighbour_distances(x: torch.Tensor | np.ndarray, k: int, duplicates: str = "skip") -> torch.Tensor:
    """Distances from each row of `x` (n, d; a tensor or numpy array) to its k nearest other rows, ascending,
    shape (n, k).

    Validated entry point: raises ValueError for a wrong shape, k >= n, non-finite input or an unknown
    duplicate policy. Entries are +inf where a point has fewer than k distinct neighbours (see
    `neighbour_squared_distances`).
    """
    x = as_features(x)
    check_features(x, k)
    check_duplicate_policy(duplicates)
    check_finite(x)
    return check_result(neighbour_squared_distances(x, k, duplicates), x).sqrt()
