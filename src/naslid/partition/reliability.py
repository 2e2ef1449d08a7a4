"""How sure a split decision is: a bootstrap over its measurement batches (no new forward passes).

Each resample draws the batches with replacement, averages each point's per-batch similarity matrices
(`criteria.edge_similarity_samples`) over the draw, and decides the split again (`mincut.partition_ops`, then the
edge score). Per point it reports how often the point would be split (`chosen_share`), how often its best grouping
on the full average comes back (`grouping_recurrence`), and how much its score moves (`score_std`).

It also computes the ``separation-z`` edge score: the gap (mean intra minus mean cross similarity) of a point's
best grouping on the full average, over the bootstrap standard deviation of that gap with the grouping held fixed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from naslid.partition.criteria import mean_over_batches
from naslid.partition.mincut import (
    EXHAUSTIVE_LIMIT,
    OpPartition,
    candidate_bisections,
    choose_edge,
    get_edge_score,
    partition_ops,
)

SEPARATION_Z = "separation-z"
_BOOTSTRAP_METHOD = "bootstrap over measurement batches"


@dataclass(frozen=True)
class EdgeReliability:
    """One candidate point of a split decision under the bootstrap."""

    batches: int  # per-batch matrices the point was measured on
    groups: tuple[tuple[str, ...], tuple[str, ...]]  # its best grouping on the full average
    score: float  # its edge score on the full average ("separation-z": `separation_z`)
    score_std: float  # std over resamples of the score of each resample's best grouping ("separation-z": the gap's)
    chosen_share: float  # fraction of resamples in which this point is the one split
    grouping_recurrence: float  # fraction of resamples whose best grouping equals `groups` (as unordered sets)
    separation: float  # mean intra minus mean cross similarity of `groups` on the full average
    separation_std: float  # its std over resamples, `groups` held fixed

    @property
    def separation_z(self) -> float:
        """`separation` over `separation_std` (infinite when the gap does not move at all)."""
        return _ratio(self.separation, self.separation_std)


@dataclass
class SplitReliability:
    """The bootstrap of one split decision: the point chosen on the full average and every point's reliability."""

    edge_score: str
    resamples: int
    seed: int
    paired: bool  # every resample drew the same batch indices for every point
    chosen: int  # index of the point split on the full average under `edge_score`
    edges: dict[int, EdgeReliability]  # point index -> its reliability

    def to_json(self, names: Mapping[int, str] | None = None) -> dict:
        """Plain JSON; points are keyed by `names[index]` (default: the index as a string), each entry holds its
        index. Non-finite numbers are written as null."""
        def key(edge: int) -> str:
            return str(names[edge]) if names is not None else str(edge)

        return {
            "method": _BOOTSTRAP_METHOD, "edge_score": self.edge_score, "resamples": self.resamples,
            "seed": self.seed, "paired": self.paired, "chosen": key(self.chosen), "chosen_index": self.chosen,
            "edges": {key(edge): {
                "index": edge, "batches": item.batches, "groups": [list(group) for group in item.groups],
                "score": _finite_or_none(item.score), "score_std": item.score_std,
                "chosen_share": item.chosen_share, "grouping_recurrence": item.grouping_recurrence,
                "separation": item.separation, "separation_std": item.separation_std,
                "separation_z": _finite_or_none(item.separation_z),
            } for edge, item in sorted(self.edges.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping) -> SplitReliability:
        try:
            edge_score = str(data["edge_score"])
            edges = {}
            for entry in data["edges"].values():
                separation, separation_std = float(entry["separation"]), float(entry["separation_std"])
                score = entry["score"]
                if score is None:  # written as null: not finite
                    score = _ratio(separation, separation_std) if edge_score == SEPARATION_Z else math.nan
                first, second = entry["groups"]
                edges[int(entry["index"])] = EdgeReliability(
                    batches=int(entry["batches"]), groups=(tuple(first), tuple(second)), score=float(score),
                    score_std=float(entry["score_std"]), chosen_share=float(entry["chosen_share"]),
                    grouping_recurrence=float(entry["grouping_recurrence"]), separation=separation,
                    separation_std=separation_std,
                )
            return cls(edge_score=edge_score, resamples=int(data["resamples"]), seed=int(data["seed"]),
                       paired=bool(data["paired"]), chosen=int(data["chosen_index"]), edges=edges)
        except KeyError as error:
            raise ValueError(f"split reliability lacks the entry {error.args[0]!r}") from None


def split_reliability(samples: Mapping[int, np.ndarray], ops: Mapping[int, Sequence[str]], edge_score: str,
                      resamples: int = 200, seed: int = 0) -> SplitReliability:
    """Bootstrap a split decision over its measurement batches.

    Parameters
    ----------
    samples : point index -> per-batch similarity matrices (batches x ops x ops), as `edge_similarity_samples`
        returns them.
    ops : point index -> its op names, in the matrices' row order.
    edge_score : one of `EDGE_SCORES` ("separation-z" included).
    resamples : bootstrap resamples (at least 2).
    seed : seeds the resampling (numpy's default generator).

    When every point has the same number of batches, each resample draws one set of batch indices for all points:
    with the default measurement (`SplitConfig.measurement_batches="shared"`, `measurement_paths="per-batch"`),
    batch i of every point was measured on the same images and random path, so the comparison between points stays
    paired (with per-point batches and per-batch paths, batch i of every point still shares its path). When the
    counts differ, each point's own batches are resampled independently. Under "separation-z", a resample's choice is
    the largest gap of each point's best grouping on that resample over the point's bootstrap std (from the
    full run): the z denominator is a fixed scale, not bootstrapped again.
    """
    _check(samples, ops, edge_score, resamples, seed)
    edges = sorted(samples)
    stacks = {edge: np.asarray(samples[edge], dtype=np.float64) for edge in edges}
    counts_by_edge = {edge: stacks[edge].shape[0] for edge in edges}
    paired = len(set(counts_by_edge.values())) == 1
    if edge_score == SEPARATION_Z:
        single = [edge for edge in edges if counts_by_edge[edge] < 2]
        if single:
            raise ValueError(f"edge_score='separation-z' needs at least 2 measurement batches per point; points "
                             f"{single} have 1 (the 'random' criterion has no batches)")

    full = {edge: partition_ops(mean_over_batches(stacks[edge]), ops[edge]) for edge in edges}
    rng = np.random.default_rng(seed)
    if paired:
        shared = _draw_counts(rng, counts_by_edge[edges[0]], resamples)
        draws = dict.fromkeys(edges, shared)
    else:
        draws = {edge: _draw_counts(rng, counts_by_edge[edge], resamples) for edge in edges}
    # each resample's average matrix, flattened: resamples x (ops * ops)
    averages = {edge: draws[edge] @ stacks[edge].reshape(counts_by_edge[edge], -1) / counts_by_edge[edge]
                for edge in edges}

    separation = {edge: full[edge].intra - full[edge].cross for edge in edges}
    separation_std = {}
    for edge in edges:
        intra, cross = _pair_weights(full[edge].groups, list(ops[edge]))
        separation_std[edge] = float(np.std(averages[edge] @ (intra - cross), ddof=1))
    resampled = {edge: _best_partitions(averages[edge], list(ops[edge])) for edge in edges}

    per_resample_score = "gap" if edge_score == SEPARATION_Z else edge_score
    chosen_counts = dict.fromkeys(edges, 0)
    for r in range(resamples):
        partitions = {edge: resampled[edge][r] for edge in edges}
        if edge_score == SEPARATION_Z:  # each resample's own best gap over the point's (fixed) bootstrap scale
            z = {edge: _ratio(partitions[edge].score("gap"), separation_std[edge]) for edge in edges}
            chosen_counts[_highest(z)] += 1
        else:
            chosen_counts[choose_edge(partitions, edge_score)] += 1

    if edge_score == SEPARATION_Z:
        scores = {edge: _ratio(separation[edge], separation_std[edge]) for edge in edges}
        chosen = _highest(scores)
    else:
        scores = {edge: full[edge].score(edge_score) for edge in edges}
        chosen = choose_edge(full, edge_score)
    report = {}
    for edge in edges:
        target = _grouping_key(full[edge].groups)
        recurring = sum(_grouping_key(p.groups) == target for p in resampled[edge])
        report[edge] = EdgeReliability(
            batches=counts_by_edge[edge], groups=full[edge].groups, score=float(scores[edge]),
            score_std=float(np.std([p.score(per_resample_score) for p in resampled[edge]], ddof=1)),
            chosen_share=chosen_counts[edge] / resamples, grouping_recurrence=recurring / resamples,
            separation=float(separation[edge]), separation_std=separation_std[edge],
        )
    return SplitReliability(edge_score=edge_score, resamples=resamples, seed=seed, paired=paired, chosen=chosen,
                            edges=report)


def choose_edge_with_reliability(samples: Mapping[int, np.ndarray], ops: Mapping[int, Sequence[str]],
                                 edge_score: str, resamples: int = 200,
                                 seed: int = 0) -> tuple[int, SplitReliability]:
    """The point to split under any edge score, and the decision's bootstrap (`split_reliability`).

    For every score but "separation-z" the point is `choose_edge` on the batch-averaged matrices, as without the
    bootstrap; for "separation-z" it is the largest z, ties to the lowest index.
    """
    reliability = split_reliability(samples, ops, edge_score, resamples, seed)
    return reliability.chosen, reliability


def _check(samples: Mapping[int, np.ndarray], ops: Mapping[int, Sequence[str]], edge_score: str, resamples: int,
           seed: int) -> None:
    get_edge_score(edge_score)
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 2:
        raise ValueError(f"resamples={resamples!r}; expected an integer >= 2")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r}; expected an integer >= 0")
    if not samples:
        raise ValueError("no candidate point to choose from")
    for edge, stack in samples.items():
        if edge not in ops:
            raise ValueError(f"point {edge} has similarity samples but no op names; ops are given for {sorted(ops)}")
        shape = np.shape(stack)
        size = len(ops[edge])
        if len(shape) != 3 or shape[0] < 1 or shape[1:] != (size, size):
            raise ValueError(f"point {edge}: samples must be (batches x {size} x {size}) for ops {list(ops[edge])}; "
                             f"got shape {shape}")
        if not np.isfinite(stack).all():
            raise ValueError(f"point {edge}: similarity samples hold NaN or infinite values")


def _draw_counts(rng: np.random.Generator, batches: int, resamples: int) -> np.ndarray:
    """How often each batch is drawn in each resample (resamples x batches)."""
    indices = rng.integers(0, batches, size=(resamples, batches))
    counts = np.zeros((resamples, batches))
    np.add.at(counts, (np.arange(resamples)[:, None], indices), 1.0)
    return counts


def _pair_weights(groups: Sequence[Sequence[str]], ops: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Weights over a flattened (ops x ops) matrix giving the mean intra-group and the mean cross-group similarity
    of its symmetric part (each pair (i, j) counts half from [i, j], half from [j, i])."""
    n = len(ops)
    position = {op: i for i, op in enumerate(ops)}
    members = [[position[op] for op in group] for group in groups]
    intra_pairs = [pair for group in members for pair in itertools.combinations(group, 2)]
    cross_pairs = [(i, j) for i in members[0] for j in members[1]]
    weights = []
    for pairs in (intra_pairs, cross_pairs):
        weight = np.zeros((n, n))
        for i, j in pairs:
            weight[i, j] += 0.5 / len(pairs)
            weight[j, i] += 0.5 / len(pairs)
        weights.append(weight.reshape(-1))
    return weights[0], weights[1]


def _best_partitions(averages: np.ndarray, ops: list[str]) -> list[OpPartition]:
    """`partition_ops` of every row of `averages` (resamples x flattened matrix); exhaustive sets in one pass."""
    n = len(ops)
    if n > EXHAUSTIVE_LIMIT:
        return [partition_ops(row.reshape(n, n), ops) for row in averages]
    candidates = candidate_bisections(n)
    groups = []
    intra_weights, cross_weights = [], []
    for first in candidates:
        second = [i for i in range(n) if i not in first]
        groups.append((tuple(ops[i] for i in sorted(first)), tuple(ops[i] for i in second)))
        intra, cross = _pair_weights(groups[-1], ops)
        intra_weights.append(intra)
        cross_weights.append(cross)
    intra = averages @ np.array(intra_weights).T  # resamples x candidates
    cross = averages @ np.array(cross_weights).T
    best = np.zeros(len(averages), dtype=int)
    for c in range(1, len(candidates)):  # partition_ops' rule: a later split must beat the best by 1e-12
        better = intra[:, c] > intra[np.arange(len(averages)), best] + 1e-12
        best[better] = c
    cross_pairs = (n // 2) * (n - n // 2)
    return [OpPartition(groups=groups[c], intra=float(intra[r, c]), cross=float(cross[r, c]),
                        cross_pairs=cross_pairs) for r, c in enumerate(best)]


def _grouping_key(groups: Sequence[Sequence[str]]) -> frozenset[frozenset[str]]:
    return frozenset(frozenset(group) for group in groups)


def _highest(scores: Mapping[int, float]) -> int:
    """The point with the highest score; ties go to the lowest index (as `choose_edge`)."""
    return max(scores, key=lambda edge: (scores[edge], -edge))


def _ratio(separation: float, spread: float) -> float:
    """separation / spread; a spread of (numerically) zero gives +-inf, or 0 when the separation is 0 too."""
    if spread > 1e-12 * max(1.0, abs(separation)):
        return separation / spread
    if separation == 0:
        return 0.0
    return math.copysign(math.inf, separation)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
