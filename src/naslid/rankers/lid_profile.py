"""The layer-wise LID profile as a ranking signal: one forward pass, one LID per probed layer, one named feature.

NAS-LID measures these profiles to decide splits; its thesis is that well-performing networks have arch-shaped
profiles (the LID rises over the first layers, then falls). A feature turns a profile into a score (`FEATURES`:
its mean, its peak, its fall from the peak to the last layer, ...); ``-name`` negates one. `lid-init` profiles
the architecture's path through the context's freshly initialised supernet (training-free); `lid-supernet`
(registered by `naslid.runs.rank`) profiles it with the weights its leaf of a trained run holds. The default
feature of each was chosen on a development subset only (`dev1000` of benchmarks/training_free.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from naslid.hooks import first_tensor, per_sample, watching_outputs
from naslid.lid import MLE
from naslid.partition.criteria import lid_profile, probed_layers
from naslid.rankers.base import Ranker, ScoringContext, register_ranker
from naslid.spaces import ChoiceArch

FEATURES: dict[str, tuple[str, Callable[[np.ndarray], float]]] = {
    "mean": ("the mean LID over the probed layers", lambda v: float(v.mean())),
    "peak": ("the largest LID of a probed layer", lambda v: float(v.max())),
    "first": ("the LID of the first probed layer", lambda v: float(v[0])),
    "last": ("the LID of the last probed layer", lambda v: float(v[-1])),
    "rise": ("the peak minus the first layer's LID", lambda v: float(v.max() - v[0])),
    "fall": ("the peak minus the last layer's LID (the fall after the peak)", lambda v: float(v.max() - v[-1])),
    "arch": ("rise + fall: how far the peak stands above both ends (the arch shape)",
             lambda v: float(2 * v.max() - v[0] - v[-1])),
    "peak-position": ("where the peak is, from 0 (first layer) to 1 (last)",
                      lambda v: float(np.argmax(v) / max(len(v) - 1, 1))),
    "slope": ("the least-squares slope of the LID over layer depth from 0 to 1",
              lambda v: float(np.polyfit(np.linspace(0, 1, len(v)), v, 1)[0]) if len(v) > 1 else 0.0),
}


def profile_feature(profile: np.ndarray | list[float], feature: str) -> float:
    """The value of `feature` (a name of `FEATURES`, or ``-name`` for its negative) on one LID profile."""
    check_feature(feature)
    sign, name = (-1.0, feature[1:]) if feature.startswith("-") else (1.0, feature)
    values = np.asarray(profile, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"an LID profile is a non-empty list of numbers; got shape {values.shape}")
    return sign * FEATURES[name][1](values)


def check_feature(feature: str) -> None:
    name = feature[1:] if isinstance(feature, str) and feature.startswith("-") else feature
    if name not in FEATURES:
        raise ValueError(f"feature={feature!r}; expected one of {', '.join(FEATURES)} (or -NAME for its negative)")


@dataclass(frozen=True)
class LIDInit(Ranker):
    """The LID profile of the architecture's freshly initialised network on a fixed batch, reduced to a feature.

    The profile is NAS-LID's: the MLE over the k nearest neighbours inside the batch (self excluded), averaged
    over the batch, at the output of every probed layer (NB201: the 15 cells and 2 reduction blocks), BatchNorm
    on batch statistics. No published proxy uses it (`../shared/RANKING-ANCHORS.md`); this one is ours.
    """

    name: ClassVar[str] = "lid-init"
    definition: ClassVar[str] = ("a feature of the layer-wise LID profile (MLE, k nearest neighbours in the batch) of "
                                 "the freshly initialised network (ours)")
    # chosen on the development subset (benchmarks/training_free.py, dev1000: first 0.519, last 0.494, mean 0.491,
    # peak 0.487, rise 0.432, arch 0.353, fall -0.200; params 0.576)
    feature: str = "first"
    batch_size: int = 64
    k: int = 20

    def __post_init__(self) -> None:
        check_feature(self.feature)
        for name, low in (("batch_size", 3), ("k", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}={value!r}; expected an integer >= {low}")
        if self.k >= self.batch_size:
            raise ValueError(f"k={self.k} needs a batch larger than k; got batch_size={self.batch_size}")

    def profile(self, arch: ChoiceArch, context: ScoringContext) -> np.ndarray:
        """The architecture's LID per probed layer."""
        return self.profile_of(self.network(arch, context), arch, context)

    def profile_of(self, net: torch.nn.Module, arch: ChoiceArch, context: ScoringContext) -> np.ndarray:
        images, _ = context.batch(self.batch_size)
        with torch.no_grad():
            return lid_profile(net, arch, images, self.k).double().cpu().numpy()

    def score(self, arch: ChoiceArch, context: ScoringContext) -> float:
        if self.feature.lstrip("-") == "first":  # one layer: the forward stops after it
            return profile_feature([self.first_layer_lid(arch, context)], self.feature)
        return profile_feature(self.profile(arch, context), self.feature)

    def network(self, arch: ChoiceArch, context: ScoringContext) -> torch.nn.Module:
        return context.network_for(arch)

    def first_layer_lid(self, arch: ChoiceArch, context: ScoringContext) -> float:
        """The LID of the first probed layer alone; the rest of the forward pass is never run."""
        net = self.network(arch, context)
        images, _ = context.batch(self.batch_size)
        first = probed_layers(net)[0]
        captured: list[torch.Tensor] = []

        def stop(key: object, output: object) -> None:
            captured.append(MLE(k=self.k).estimate(per_sample(first_tensor(output))))
            raise _FirstLayerDone

        with torch.no_grad(), watching_outputs([(0, first)], stop):
            try:
                net(images, arch)
            except _FirstLayerDone:
                pass
        value = float(captured[0])
        if not np.isfinite(value):
            raise ValueError(f"the LID of the first probed layer of {arch} is not finite")
        return value


class _FirstLayerDone(Exception):
    """Raised from the first probed layer's hook to end a forward pass that has given all it is asked for."""


register_ranker(LIDInit)
