"""Min-cut partition of an edge's candidate ops into two groups from an op-by-op similarity matrix.

Small op sets (up to 12 ops) are bisected exhaustively: every balanced split (for NB201's 5 ops, all
ten 2-vs-3 groupings) is scored and the best kept. Larger sets use a Kernighan-Lin balanced bisection.
Neither ever returns an empty group, nor a single-op group unless the edge has only two or three ops
(where one is unavoidable).

Within an edge the grouping is always the one with the largest intra-group similarity. Which edge is split
is the edge score's job, and the published methods disagree on it. `EDGE_SCORES` is their registry (name ->
`EdgeScore`, each with its definition and source); `register_edge_score` adds one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from naslid.registry import register

EXHAUSTIVE_LIMIT = 12


@dataclass(frozen=True)
class OpPartition:
    """Two groups of op names, with the mean intra-group and cross-group similarity of the split."""

    groups: tuple[tuple[str, ...], tuple[str, ...]]
    intra: float
    cross: float
    cross_pairs: int = 0  # number of op pairs across the two groups

    def score(self, edge_score: str = "intra") -> float:
        """How strongly this edge asks to be split under `edge_score` (higher wins; see `EDGE_SCORES`)."""
        return _of_partition(edge_score)(self)


@dataclass(frozen=True)
class EdgeScore:
    """A rule for which point to split: higher wins. `of_partition` scores a point's best grouping. It is None
    only for the built-in "separation-z", which needs the per-batch similarity matrices and is computed by
    `naslid.partition.reliability`; a registered score must give `of_partition`."""

    name: str
    definition: str  # what it computes, and whose rule it is
    of_partition: Callable[[OpPartition], float] | None


EDGE_SCORES: dict[str, EdgeScore] = {}


def register_edge_score(score: EdgeScore, *, replace: bool = False) -> EdgeScore:
    """Add `score` to `EDGE_SCORES`: `SplitConfig.edge_score`, `--edge-score` and method variants accept it. A name
    registered already with another score is a ValueError unless `replace`."""
    if score.of_partition is None and score.name != "separation-z":
        raise ValueError(f"edge score {score.name!r} has no of_partition; only the built-in separation-z is "
                         "computed from the bootstrap (naslid.partition.reliability)")
    register(EDGE_SCORES, score.name, score, replace=replace, kind="edge score")
    return score


def _of_partition(name: str) -> Callable[[OpPartition], float]:
    of_partition = get_edge_score(name).of_partition
    if of_partition is None:
        raise ValueError(f"edge_score={name!r} needs the bootstrap over measurement batches: use "
                         f"naslid.partition.choose_edge_with_reliability")
    return of_partition


def get_edge_score(name: str) -> EdgeScore:
    try:
        return EDGE_SCORES[name]
    except KeyError:
        hint = " ('cross' was renamed: 'max-cross' or 'min-cross')" if name == "cross" else ""
        raise ValueError(f"edge_score={name!r}; expected one of {list(EDGE_SCORES)}{hint}") from None


for _score in (
    EdgeScore("intra", "the mean intra-group similarity of the point's best grouping (the NAS-LID paper's text)",
              lambda p: p.intra),
    EdgeScore("max-cross", "the sum of the best grouping's cross-group similarities, largest wins (the NAS-LID "
              "authors' released `mincut`: the sum over all op pairs minus the best grouping's intra sum)",
              lambda p: p.cross * p.cross_pairs),
    EdgeScore("min-cross", "the sum over cross-group pairs of the distance 1 - similarity, largest wins (GM-NAS's "
              "`mincut_split_201` with its default cosine distance of gradients): the point whose groups differ most",
              lambda p: (1.0 - p.cross) * p.cross_pairs),
    EdgeScore("gap", "mean intra minus mean cross similarity (ours: prefers points whose ops separate into groups)",
              lambda p: p.intra - p.cross),
    EdgeScore("separation-z", "the gap of the best grouping over its bootstrap standard deviation across the "
              "measurement batches (grouping fixed), largest wins (ours: prefers points whose ops separate "
              "reliably; naslid.partition.reliability)", None),
):
    register_edge_score(_score)


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
    _of_partition(edge_score)
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
