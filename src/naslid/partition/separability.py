"""How well a split criterion tells the ops of an edge apart (the paper's separability, figure 3)."""

from __future__ import annotations

import numpy as np


def separability(similarity: np.ndarray) -> float:
    """Coefficient of variation of the off-diagonal similarities: their standard deviation over their mean.

    Dividing by the mean puts criteria with different similarity scales (LID distances, gradient cosines)
    on one axis; higher means the criterion spreads the ops further apart.
    """
    matrix = np.asarray(similarity, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 2:
        raise ValueError(f"separability needs a square matrix of at least 2 ops, got shape {matrix.shape}")
    off_diagonal = matrix[~np.eye(matrix.shape[0], dtype=bool)]
    scale = np.abs(off_diagonal).mean()
    if scale == 0:
        return 0.0
    return float(off_diagonal.std() / scale)
