"""A split decision as a function: which point of a sub-supernet to split, into which groups, and the evidence.

`decide_split` measures the criterion (`SplitConfig.criterion`) on the candidate points, groups each point's
ops by min-cut, picks the point by the edge score (with the bootstrap behind it when the criterion measures
batches) and returns the `SplitRecord` the partition tree stores. `few_shot_split` is Few-shot NAS's rule: one
group per op of a fixed point. `candidate_points` says which points a node may split.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from naslid.partition.criteria import (
    CRITERIA,
    Batch,
    BatchesForPoint,
    SplitConfig,
    edge_similarity_samples,
    mean_over_batches,
)
from naslid.partition.mincut import choose_edge, partition_ops
from naslid.partition.reliability import choose_edge_with_reliability
from naslid.partition.tree import SplitRecord
from naslid.spaces import SubSpace, point_matters


def candidate_points(subspace: SubSpace, root: SubSpace) -> list[int]:
    """Points of `subspace` not yet split on the way from `root` (DESIGN: 'every edge not yet split') where the
    choice changes the network; once every point has been split, the points that still hold more than one op."""
    splittable = [p for p in subspace.splittable_edges() if point_matters(subspace, p)]
    fresh = [p for p in splittable if subspace.allowed[p] == root.allowed[p]]
    return fresh or splittable


def few_shot_split(subspace: SubSpace, point: int) -> SplitRecord:
    """Few-shot NAS's split: one child per op of `point`, nothing measured."""
    return SplitRecord(edge=point, groups=[[op] for op in subspace.allowed[point]], criterion="few-shot",
                       edge_scores={}, similarities={}, point_name=subspace.point_name(point))


def decide_split(net: nn.Module, subspace: SubSpace, batches: Sequence[Batch] | BatchesForPoint, cfg: SplitConfig,
                 points: Sequence[int], progress: bool = False) -> SplitRecord:
    """Measure `cfg.criterion` on `points` of `subspace` with `net` (left as it was) and choose the split.

    `batches` as `edge_similarity_samples` takes them; `cfg.seed` seeds the measurement paths and the bootstrap.
    The record holds every point's score and similarity matrix, the seconds the measurement took and, on CUDA, its
    peak memory above what was allocated before.
    """
    device = next(net.parameters()).device
    with _peak_memory(device) as peak:
        start = time.perf_counter()
        samples = edge_similarity_samples(net, subspace, batches, cfg, edges=points, progress=progress)
        seconds = time.perf_counter() - start
    matrices = {point: mean_over_batches(s) for point, s in samples.items()}
    partitions = {point: partition_ops(m, subspace.allowed[point]) for point, m in matrices.items()}
    names = {point: subspace.point_name(point) for point in matrices}
    reliability = None
    # resamples the measured batches (no new forward pass); a criterion that measures nothing has no spread
    if cfg.reliability_resamples and CRITERIA[cfg.criterion].measures:
        best, bootstrap = choose_edge_with_reliability(
            samples, {p: subspace.allowed[p] for p in samples}, cfg.edge_score,
            resamples=cfg.reliability_resamples, seed=cfg.seed % (2**32))
        scores = {point: _finite_or_none(bootstrap.edges[point].score) for point in partitions}
        reliability = bootstrap.to_json(names)
    else:
        scores = {point: p.score(cfg.edge_score) for point, p in partitions.items()}
        best = choose_edge(partitions, cfg.edge_score)
    return SplitRecord(
        edge=best, groups=[list(g) for g in partitions[best].groups], criterion=cfg.criterion,
        edge_scores={names[p]: s for p, s in scores.items()},
        similarities={names[p]: {"ops": list(subspace.allowed[p]), "matrix": m.tolist()} for p, m in matrices.items()},
        seconds=seconds, peak_memory_bytes=peak.get("bytes"), point_name=names[best], reliability=reliability,
    )


@contextmanager
def _peak_memory(device: torch.device) -> Iterator[dict[str, int | None]]:
    """On CUDA, the peak allocation inside the block above the allocation before it (`bytes`); None elsewhere."""
    result: dict[str, int | None] = {"bytes": None}
    if device.type != "cuda":
        yield result
        return
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    baseline = torch.cuda.memory_allocated(device)
    yield result
    result["bytes"] = torch.cuda.max_memory_allocated(device) - baseline


def _finite_or_none(value: float | None) -> float | None:
    """A score for JSON: infinite or undefined ones (a zero bootstrap spread) as None."""
    return value if value is not None and math.isfinite(value) else None

