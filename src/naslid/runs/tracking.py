"""Ranking quality while training: proxy scores of a fixed set of architectures at the end of every N epochs.

A run that tracks ranking holds `tracking.json` (the architectures, the subset rule that chose them and N).
Each (sub-)supernet scores the tracked architectures it owns after its epochs and stores the scores in its
checkpoint's history, so they survive resumes and worker processes and are inherited by child sub-supernets.
`ranking_curve` gathers them from every node of the tree: at each epoch, each architecture is scored by the
node that owned it then, and Kendall tau-b and Spearman against the ground truth follow.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from naslid.atomic import write_json
from naslid.bench import Benchmark, kendall_tau_b, select_subset, spearman
from naslid.search import ProxyConfig, ProxyEvaluator
from naslid.spaces import NB201Arch, format_arch, parse_arch

TRACKING_SCHEMA = "naslid.tracking/1"

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Tracking:
    """Which architectures are scored while training, and how often."""

    subset: str  # the subset spec that chose them, e.g. "random100"
    rule: str  # how the subset was drawn, in words
    archs: tuple[NB201Arch, ...]
    every: int = 1  # score after every `every`-th epoch (and the last epoch of each training call)

    def __post_init__(self) -> None:
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"tracking every={self.every!r}; expected a whole number of epochs >= 1")
        if not self.archs:
            raise ValueError(f"tracking subset {self.subset!r} holds no architecture")

    def to_json(self) -> dict:
        return {"schema": TRACKING_SCHEMA, "subset": self.subset, "rule": self.rule, "every": self.every,
                "archs": [format_arch(arch) for arch in self.archs]}

    @classmethod
    def from_json(cls, data: dict, source: str = "tracking data") -> Tracking:
        if not isinstance(data, dict) or data.get("schema") != TRACKING_SCHEMA:
            raise ValueError(f"{source} is not {TRACKING_SCHEMA} JSON")
        return cls(subset=str(data["subset"]), rule=str(data["rule"]), every=int(data["every"]),
                   archs=tuple(parse_arch(text) for text in data["archs"]))

    def save(self, path: Path) -> None:
        write_json(path, self.to_json(), indent=1)

    @classmethod
    def load(cls, path: Path) -> Tracking:
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from error
        return cls.from_json(data, str(path))


def select_tracking(benchmark: Benchmark, spec: str, every: int = 1, seed: int = 0,
                    column: str | None = None) -> Tracking:
    """The architectures of subset `spec` (e.g. "random100", "top1%") of `benchmark`, tracked every `every` epochs."""
    truth = benchmark.ground_truth(column)
    subset = select_subset(spec, truth.values, benchmark.index_of, seed=seed)
    return Tracking(subset=subset.name, rule=subset.rule, archs=tuple(subset.archs), every=every)


class EpochScorer:
    """`on_epoch_end` callback of training: proxy scores (%) of the tracked architectures a node owns.

    `offset` turns the node's own epoch count into the run's epoch (a leaf restarted from scratch counts
    from 0 again); `last_epoch` is scored whatever `every` says, so each training call ends with scores.
    """

    def __init__(self, archs: Sequence[NB201Arch], every: int, evaluation: Sequence[Batch],
                 calibration: Sequence[torch.Tensor], proxy: ProxyConfig, offset: int = 0,
                 last_epoch: int | None = None) -> None:
        self.archs = list(archs)
        self.every, self.offset, self.last_epoch = every, offset, last_epoch
        self.evaluation, self.calibration, self.proxy = evaluation, calibration, proxy

    def __call__(self, net: nn.Module, state) -> dict | None:
        epoch = self.offset + state.epoch
        if epoch % self.every and state.epoch != self.last_epoch:
            return None
        start = time.perf_counter()
        evaluator = ProxyEvaluator(lambda arch: net, self.evaluation, self.calibration, self.proxy)
        scores = {format_arch(arch): 100.0 * evaluator(arch) for arch in self.archs}
        return {"tracked": {"epoch": epoch, "scores": scores, "seconds": time.perf_counter() - start}}


def tracked_scores(histories: Sequence[Sequence[dict]]) -> dict[int, dict[NB201Arch, float]]:
    """Scores per run epoch and architecture, merged from the training histories of every node."""
    merged: dict[int, dict[NB201Arch, float]] = {}
    for history in histories:
        for entry in history:
            tracked = entry.get("tracked")
            if not tracked:
                continue
            scores = merged.setdefault(int(tracked["epoch"]), {})
            for text, value in tracked["scores"].items():
                scores[parse_arch(text)] = float(value)
    return merged


def ranking_curve(scores_by_epoch: Mapping[int, Mapping[NB201Arch, float]], archs: Sequence[NB201Arch],
                  truth: Mapping[NB201Arch, float]) -> list[dict]:
    """Kendall tau-b and Spearman of the tracked architectures at every epoch where all of them were scored."""
    curve = []
    for epoch in sorted(scores_by_epoch):
        scores = scores_by_epoch[epoch]
        if not all(arch in scores for arch in archs):
            continue
        proxy = [scores[arch] for arch in archs]
        values = [truth[arch] for arch in archs]
        curve.append({"epoch": epoch, "n": len(archs), "kendall_tau_b": kendall_tau_b(proxy, values),
                      "spearman": spearman(proxy, values)})
    return curve


def tracking_overhead(histories: Sequence[Sequence[dict]]) -> dict[str, float]:
    """Seconds spent scoring vs training over every epoch of the run (inherited copies of an ancestor's
    entries counted once): the share is the tracking cost relative to training, whatever `every` is."""
    scoring = training = 0.0
    scorings = 0
    seen: set[tuple] = set()
    for history in histories:
        for entry in history:
            tracked = entry.get("tracked")
            key = (int(entry["epoch"]), float(entry["seconds"]), float(tracked["seconds"]) if tracked else None)
            if key in seen:
                continue
            seen.add(key)
            training += float(entry["seconds"])
            if tracked:
                scoring += float(tracked["seconds"])
                scorings += 1
    return {"scoring_seconds": scoring, "training_seconds": training, "scorings": scorings,
            "share_of_training": scoring / training if training else float("nan")}
