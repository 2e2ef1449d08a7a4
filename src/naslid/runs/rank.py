"""Ranking architectures with any ranker: the scoring context (a seeded fresh supernet and a fixed batch of real
images, or a trained run's leaves), the scores of a list of architectures, and the predictions file that
`naslid score` reads.

Two rankers need a trained run and are registered here: `proxy` (an architecture's proxy accuracy with its leaf's
weights, what `naslid search` and `naslid compare` rank by) and `lid-supernet` (its LID profile with those weights).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from naslid.atomic import write_json
from naslid.nn.state import preserved_state
from naslid.rankers import (
    RANKER_SCORES_SCHEMA,
    Aggregate,
    Ranker,
    ScoringContext,
    aggregate_ranks,
    checked_score,
    register_ranker,
)
from naslid.rankers.lid_profile import LIDInit
from naslid.runs.datasets import DataConfig, RunData, load_datasets, make_loader
from naslid.runs.evaluate import RunEvaluator
from naslid.runs.opened import OpenedRun
from naslid.spaces import ChoiceArch, SubSpace, get_space

# images in a ranking context's batch unless a ranker asks for more (NASWOT's 128 is the largest default)
CONTEXT_IMAGES = 128


def _channels_last(device: str) -> bool:
    return torch.device(device).type == "cpu"  # oneDNN's channels_last kernels are about twice as fast on the CPU


def ranking_batch(data: DataConfig, count: int, seed: int, device: str) -> tuple[torch.Tensor, torch.Tensor, str]:
    """`count` unaugmented training images of `data` (and labels), drawn with `seed`, normalised, on `device`."""
    train, _ = load_datasets(data)
    if count > len(train):
        raise ValueError(f"a ranking batch of {count} images asked for, but {data.dataset} has {len(train)} "
                         "training images")
    loader = make_loader(train, count, torch.device(device), _channels_last(device), data.workers, augment=None,
                         shuffle=True, drop_last=True, seed=seed)
    images, labels = next(iter(loader.epoch(0)))
    side = int(images.shape[-1])
    description = (f"{count} unaugmented {data.dataset} training images at {side}x{side}, drawn with seed {seed} "
                   f"({train.name})")
    return images, labels, description


def fresh_context(space: str, network: object, resolution: int, data: DataConfig | None, seed: int = 0,
                  device: str = "cpu", images: int = CONTEXT_IMAGES) -> ScoringContext:
    """A training-free scoring context: `space`'s supernet initialised from `seed`, and (with `data`) a batch of
    `images` real images drawn with the same seed."""
    if data is None:
        return ScoringContext(space, network, resolution, seed=seed, device=device)
    batch, labels, description = ranking_batch(data, images, seed, device)
    if batch.shape[-1] != resolution:
        raise ValueError(f"the data's images are {batch.shape[-1]} pixels a side, the network expects {resolution}")
    return ScoringContext(space, network, resolution, batch, labels, description, seed, device,
                          channels_last=_channels_last(device))


@dataclass(frozen=True)
class RunScoringContext(ScoringContext):
    """A trained run's context: each architecture's network is the leaf that owns it (loaded once, when needed)."""

    run: OpenedRun | None = None
    trained: bool = field(default=True, init=False)

    @cached_property
    def evaluator(self) -> RunEvaluator:
        return RunEvaluator(self.run)

    def trained_network_for(self, arch: ChoiceArch) -> nn.Module:
        return self.evaluator.owner(arch)

    def to_json(self) -> dict:
        return {**super().to_json(), "run": str(self.run.run_dir),
                "trained": "rankers that need a trained supernet score with the leaf that owns each architecture"}


def _split_batch(data: RunData, images: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    count = min(images, len(data.train))
    ((batch, labels),) = data.batches(1, count, seed=seed)
    side = int(batch.shape[-1])
    return batch, labels, f"{count} unaugmented training images of the run's split at {side}x{side}, seed {seed}"


def data_context(space: str, network: object, data: RunData, seed: int = 0, device: str = "cpu",
                 images: int = CONTEXT_IMAGES) -> ScoringContext:
    """A training-free context on a run's data (a comparison's): `images` unaugmented training images of its split,
    drawn with `seed`, and the supernet initialised from `seed`."""
    batch, labels, description = _split_batch(data, images, seed)
    return ScoringContext(space, network, int(batch.shape[-1]), batch, labels, description, seed, device,
                          channels_last=_channels_last(device))


def run_context(run: OpenedRun, seed: int = 0, images: int = CONTEXT_IMAGES) -> RunScoringContext:
    """The scoring context of a finished run: its leaves for the rankers that need them, the run's network freshly
    initialised from `seed` for the others, and `images` unaugmented training images of its split."""
    batch, labels, description = _split_batch(run.data, images, seed)
    device = str(run.device)
    return RunScoringContext(run.cfg.search_space, run.cfg.network, run.input_resolution(), batch, labels,
                             description, seed, device, channels_last=_channels_last(device), run=run)


@dataclass(frozen=True)
class ProxyAccuracy(Ranker):
    """The supernet's own ranking: an architecture's accuracy (%) with the weights of the leaf that owns it, on the
    run's held-out images, BN as the run's proxy settings say (what `naslid search` and `naslid compare` rank by)."""

    name: ClassVar[str] = "proxy"
    definition: ClassVar[str] = ("proxy accuracy (%) with the owning leaf's inherited weights on the run's held-out "
                                 "images (the trained supernet's ranking)")
    needs_images: ClassVar[bool] = False
    needs_run: ClassVar[bool] = True
    shares_isomorphic: ClassVar[bool] = False

    def score_many(self, archs: Sequence[ChoiceArch], context: ScoringContext,
                   progress: Callable[[int], None] | None = None) -> list[float]:
        self.check(context)
        scores = []
        for start in range(0, len(archs), 50):  # in chunks, each split over the run's job runner
            part = list(archs[start:start + 50])
            values = context.evaluator.evaluate_many(part)  # type: ignore[attr-defined]
            scores += [checked_score(self, arch, 100.0 * value) for arch, value in zip(part, values, strict=True)]
            if progress is not None:
                progress(len(part))
        return scores

    def score(self, arch: ChoiceArch, context: ScoringContext) -> float:
        return self.score_many([arch], context)[0]


@dataclass(frozen=True)
class LIDSupernet(LIDInit):
    """`lid-init`'s profile and feature, measured with the trained weights of the leaf that owns the architecture
    (BatchNorm on batch statistics; the leaf's buffers are restored)."""

    name: ClassVar[str] = "lid-supernet"
    definition: ClassVar[str] = ("a feature of the layer-wise LID profile of the architecture's path through its "
                                 "trained leaf (ours)")
    needs_run: ClassVar[bool] = True
    shares_isomorphic: ClassVar[bool] = False
    # chosen on the development subset (dev1000) with a `cpu`-preset SPOS supernet of seed 100, a seed the study
    # never reports: the profile's falling slope ranked it at tau 0.605 (benchmarks/results/cpu_study_develop.json)
    feature: str = "-slope"

    def network(self, arch: ChoiceArch, context: ScoringContext) -> nn.Module:
        return context.trained_network_for(arch)

    def profile_of(self, net: nn.Module, arch: ChoiceArch, context: ScoringContext) -> np.ndarray:
        with preserved_state(net):
            net.train()
            return super().profile_of(net, arch, context)

    def first_layer_lid(self, arch: ChoiceArch, context: ScoringContext) -> float:
        net = self.network(arch, context)
        with preserved_state(net):
            net.train()
            return super().first_layer_lid(arch, context)


register_ranker(ProxyAccuracy)
register_ranker(LIDSupernet)


def score_architectures(ranker: Ranker, archs: Sequence[ChoiceArch], context: ScoringContext, *,
                        share_isomorphic: bool = False, progress: bool = False) -> list[float]:
    """`ranker`'s scores of `archs`, in order. With `share_isomorphic`, architectures the space counts as one
    network (`canonical_key`: NB201's isomorphic cells) are scored once and share the score (not for rankers whose
    scores differ between them by definition: parameters and FLOPs count dead ops, and a trained run's leaves)."""
    archs = list(archs)
    if not archs:
        raise ValueError("no architecture to rank: the subset or list is empty")
    if share_isomorphic and isinstance(ranker, Aggregate) and not ranker.shares_isomorphic:
        # each member shares where it may (a cost counter scores every architecture, the others one per class)
        ranker.check(context)
        columns = [score_architectures(member, archs, context, share_isomorphic=True, progress=progress)
                   for member in ranker.members]
        return aggregate_ranks(columns, ranker.rule).tolist()
    share_isomorphic = share_isomorphic and ranker.shares_isomorphic
    unique = archs
    if share_isomorphic:
        key = context.space.canonical_key
        first: dict[str, ChoiceArch] = {}
        for arch in archs:
            first.setdefault(key(arch), arch)
        unique = list(first.values())
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(unique), desc=f"rank ({ranker.spelling})", unit="arch", dynamic_ncols=True)
    try:
        scores = ranker.score_many(unique, context, bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    if not share_isomorphic:
        return scores
    by_key = {context.space.canonical_key(arch): score for arch, score in zip(unique, scores, strict=True)}
    return [by_key[context.space.canonical_key(arch)] for arch in archs]


def ranker_scores_document(ranker: Ranker, archs: Sequence[ChoiceArch], scores: Sequence[float],
                           context: ScoringContext, seconds: float, share_isomorphic: bool = False) -> dict:
    """The predictions file of a ranking (`naslid.proxy_scores/1`, which `naslid score` reads): the scores by
    architecture string, and the protocol that produced them."""
    space = context.space
    return {
        "schema": RANKER_SCORES_SCHEMA,
        "protocol": {
            "proxy": f"ranker {ranker.spelling}: {ranker.definition}",
            "ranker": ranker.to_json(),
            "context": context.to_json(),
            "share_isomorphic": share_isomorphic,
            "architectures": len(archs),
            "seconds": round(seconds, 3),
            "higher_is_better": True,
        },
        "scores": {space.format(arch): float(score) for arch, score in zip(archs, scores, strict=True)},
    }


def rank_to_file(ranker: Ranker, archs: Sequence[ChoiceArch], context: ScoringContext, out: str | Path, *,
                 share_isomorphic: bool = False, progress: bool = False) -> tuple[list[float], dict]:
    """Score `archs` and write the predictions file to `out`; the scores and the written document."""
    tick = time.perf_counter()
    scores = score_architectures(ranker, archs, context, share_isomorphic=share_isomorphic, progress=progress)
    document = ranker_scores_document(ranker, archs, scores, context, time.perf_counter() - tick, share_isomorphic)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, document, indent=1, allow_nan=False, trailing_newline=True)
    return scores, document


@dataclass
class RankOutcome:
    """What `rank_space` produced: the scores, each subset's ranking against the benchmark (with the floor's,
    `params`, on the same subset), and the predictions file."""

    ranker: Ranker
    archs: list[ChoiceArch]
    scores: list[float]
    document: dict
    out: Path
    seconds: float
    rankings: list = field(default_factory=list)  # RankingResult per subset (NB201 with a benchmark)
    floor: list = field(default_factory=list)  # params' RankingResult per subset


def select_architectures(space_name: str, specs: Sequence[str], seed: int, benchmark: object | None = None,
                         column: str | None = None) -> tuple[list, list[ChoiceArch]]:
    """The subsets named by `specs` (bench.select_subset's spellings) and the union of their architectures.

    With ground truth (NB201 and a benchmark) any spelling works; otherwise ``all`` (a space of at most 100,000),
    ``random<N>`` (drawn with `seed`) and ``list:FILE`` (one architecture string per line).
    """
    from naslid.bench import select_subset

    if not specs:
        raise ValueError("no subset to rank: give --subset (all, random1000, top1%, list:FILE)")
    space = get_space(space_name)
    if benchmark is not None:
        truth = benchmark.ground_truth(column)
        subsets = [select_subset(spec, truth.values, benchmark.index_of, seed=seed) for spec in specs]
        archs = sorted({arch for subset in subsets for arch in subset.archs}, key=benchmark.index_of)
        return subsets, archs
    chosen: list[ChoiceArch] = []
    for spec in specs:
        chosen += _space_subset(space, spec.strip(), seed)
    return [], list(dict.fromkeys(chosen))


def _space_subset(space, spec: str, seed: int) -> list[ChoiceArch]:
    import re

    space = SubSpace(None, space)  # sampling and enumeration for any registered space
    size = space.size()
    if spec == "all":
        if size > 100_000:
            raise ValueError(f"the {space.space.name} space holds {size:.3g} architectures; rank a random<N> sample")
        return list(space.all())
    match = re.fullmatch(r"random(\d+)", spec)
    if match:
        rng = np.random.default_rng(seed)
        count = int(match.group(1))
        if count < 1:
            raise ValueError(f"subset {spec!r}: expected at least one architecture")
        seen: dict[str, ChoiceArch] = {}
        while len(seen) < min(count, size):
            arch = space.sample(rng)
            seen.setdefault(space.space.format(arch), arch)
        return list(seen.values())
    if spec.startswith("list:"):
        path = Path(spec[len("list:"):])
        if not path.is_file():
            raise FileNotFoundError(f"subset {spec!r}: {path} not found")
        lines = [line.strip() for line in path.read_text().splitlines()]
        archs = []
        for line in lines:
            if line and not line.startswith("#"):
                try:
                    archs.append(space.space.parse(line))
                except ValueError as error:
                    raise ValueError(f"subset {spec!r}: {error}") from None
        if not archs:
            raise ValueError(f"subset {spec!r}: {path} lists no architecture")
        return archs
    raise ValueError(f"subset {spec!r}: without ground truth for the {space.space.name} space, expected all, "
                     "random<N> or list:FILE")


def rank_space(ranker: str | Ranker, context: ScoringContext, subsets: list, archs: Sequence[ChoiceArch],
               out: str | Path, *, truth: object | None = None, share_isomorphic: bool = False,
               progress: bool = False) -> RankOutcome:
    """Score `archs` with `ranker` in `context`, write the predictions file to `out`, and rank each of `subsets`
    against `truth` (a bench GroundTruth) beside the floor (`params` on the same architectures)."""
    from naslid.bench import rank_metrics
    from naslid.rankers import get_ranker

    ranker = get_ranker(ranker)
    ranker.check(context)  # before any work
    tick = time.perf_counter()
    scores, document = rank_to_file(ranker, archs, context, out, share_isomorphic=share_isomorphic,
                                    progress=progress)
    outcome = RankOutcome(ranker, list(archs), scores, document, Path(out), time.perf_counter() - tick)
    if truth is not None and subsets:
        by_arch = dict(zip(archs, scores, strict=True))
        floor = get_ranker("params")
        floor_scores = dict(zip(archs, floor.score_many(list(archs), context), strict=True))
        for subset in subsets:
            outcome.rankings.append(rank_metrics(by_arch, truth, subset, proxy_description=ranker.spelling))
            outcome.floor.append(rank_metrics(floor_scores, truth, subset, proxy_description="params (the floor)"))
    return outcome
