"""Min-cut partition of an edge's candidate ops into two groups from an op-by-op similarity matrix.

Small op sets (up to 12 ops) are bisected exhaustively: every balanced split (for NB201's 5 ops, all
ten 2-vs-3 groupings) is scored and the best kept. Larger sets use a Kernighan-Lin balanced bisection.
Neither ever returns an empty group, nor a single-op group unless the edge has only two or three ops
(where one is unavoidable).

Within an edge the grouping is always the one with the largest intra-group similarity. Which edge is split
is the edge score's job (`EDGE_SCORES`), and the published methods disagree on it:

- ``intra``: the mean intra-group similarity of the edge's best grouping (the NAS-LID paper's text).
- ``max-cross``: the sum of the cross-group similarities of that grouping, largest wins (the NAS-LID
  authors' released `mincut`: the sum over all op pairs minus the best grouping's intra sum).
- ``min-cross``: the sum over cross-group pairs of the distance ``1 - similarity``, largest wins (GM-NAS's
  `mincut_split_201` with its default cosine distance of gradients): the edge whose groups differ most.
- ``gap``: mean intra minus mean cross similarity (ours: prefers edges whose ops separate into groups).
- ``separation-z``: the gap of the edge's best grouping divided by its bootstrap standard deviation over the
  measurement batches (grouping fixed), largest wins: prefers edges whose ops separate reliably. A single
  partition cannot compute it; `naslid.partition.choose_edge_with_reliability` does (`partition.reliability`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

EDGE_SCORES = ("intra", "max-cross", "min-cross", "gap", "separation-z")
_BOOTSTRAP_EDGE_SCORES = ("separation-z",)  # need the per-batch matrices, not one averaged partition
EXHAUSTIVE_LIMIT = 12


@dataclass(frozen=True)
class OpPartition:
    """Two groups of op names, with the mean intra-group and cross-group similarity of the split."""

    groups: tuple[tuple[str, ...], tuple[str, ...]]
    intra: float
    cross: float
    cross_pairs: int = 0  # number of op pairs across the two groups

    def score(self, edge_score: str = "intra") -> float:
        """How strongly this edge asks to be split under `edge_score` (higher wins; see the module docstring)."""
        _check_edge_score(edge_score)
        _check_single_partition_score(edge_score)
        if edge_score == "intra":
            return self.intra
        if edge_score == "max-cross":
            return self.cross * self.cross_pairs
        if edge_score == "min-cross":
            return (1.0 - self.cross) * self.cross_pairs
        return self.intra - self.cross


def _check_edge_score(edge_score: str) -> None:
    if edge_score not in EDGE_SCORES:
        hint = " ('cross' was renamed: 'max-cross' or 'min-cross')" if edge_score == "cross" else ""
        raise ValueError(f"edge_score={edge_score!r}; expected one of {list(EDGE_SCORES)}{hint}")


def _check_single_partition_score(edge_score: str) -> None:
    if edge_score in _BOOTSTRAP_EDGE_SCORES:
        raise ValueError(f"edge_score={edge_score!r} needs the bootstrap over measurement batches: use "
                         f"naslid.partition.choose_edge_with_reliability")


def _check_matrix(similarity: np.ndarray, ops: Sequence[str]) -> np.ndarray:
    matrix = np.asarray(similarity, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"similarity must be a square matrix, got shape {matrix.shape}")
    if matrix.shape[0] != len(ops):
        raise ValueError(f"similarity is {matrix.shape[0]}x{matrix.shape[0]} but {len(ops)} ops were named: {ops}")
    if len(ops) < 2:
        raise ValueError(f"cannot split an edge with fewer than two ops: {list(ops)}")
    if not np.isfinite(matrix).all():
        raise ValueError("similarity matrix holds NaN or infinite values")
    return (matrix + matrix.T) / 2


def _evaluate(matrix: np.ndarray, first: Sequence[int], ops: Sequence[str]) -> OpPartition:
    n = len(ops)
    first_set = set(first)
    second = [i for i in range(n) if i not in first_set]
    intra_pairs = [(i, j) for group in (list(first), second) for i, j in itertools.combinations(group, 2)]
    cross_pairs = [(i, j) for i in first for j in second]
    intra = float(np.mean([matrix[i, j] for i, j in intra_pairs])) if intra_pairs else 0.0
    cross = float(np.mean([matrix[i, j] for i, j in cross_pairs]))
    groups = (tuple(ops[i] for i in sorted(first)), tuple(ops[i] for i in second))
    return OpPartition(groups=groups, intra=intra, cross=cross, cross_pairs=len(cross_pairs))


def candidate_bisections(n: int) -> list[tuple[int, ...]]:
    """First groups of every balanced bisection of n items (sizes n//2 and n - n//2), each counted once."""
    size = n // 2
    candidates = []
    for first in itertools.combinations(range(n), size):
        if 2 * size == n and 0 not in first:
            continue  # with equal halves, keep each split once: the half holding item 0 comes first
        candidates.append(first)
    return candidates


def partition_ops(similarity: np.ndarray, ops: Sequence[str]) -> OpPartition:
    """The balanced two-group split of `ops` with the largest mean intra-group similarity; ties go to the first
    split in enumeration order. (Every edge score compares edges by this grouping.)"""
    matrix = _check_matrix(similarity, ops)
    n = len(ops)
    if n > EXHAUSTIVE_LIMIT:
        return _kernighan_lin(matrix, ops)
    best: OpPartition | None = None
    for first in candidate_bisections(n):
        candidate = _evaluate(matrix, first, ops)
        if best is None or candidate.intra > best.intra + 1e-12:
            best = candidate
    assert best is not None
    return best


def choose_edge(partitions: Mapping[int, OpPartition], edge_score: str) -> int:
    """The edge to split: the highest `edge_score` among the edges' best groupings; ties go to the lowest index."""
    _check_edge_score(edge_score)
    _check_single_partition_score(edge_score)
    if not partitions:
        raise ValueError("no candidate edge to choose from")
    return max(partitions, key=lambda edge: (partitions[edge].score(edge_score), -edge))


def _kernighan_lin(matrix: np.ndarray, ops: Sequence[str]) -> OpPartition:
    """Balanced bisection maximising intra-group similarity (minimising the cut) for large op sets."""
    import networkx as nx

    graph = nx.Graph()
    shifted = matrix - matrix.min() + 1e-9  # KL needs non-negative affinities
    for i, j in itertools.combinations(range(len(ops)), 2):
        graph.add_edge(i, j, weight=float(shifted[i, j]))
    first, _ = nx.algorithms.community.kernighan_lin_bisection(graph, weight="weight", seed=0)
    return _evaluate(matrix, sorted(first), ops)
