"""The free floor: an architecture's parameter count and FLOPs, which need no data, no weights and no training.

Counted on the architecture's standalone network at the context's input resolution (the supernet contract's
`arch_costs`): parameters of every trainable tensor, FLOPs as multiply-accumulates of the convolutions and linear
layers, NAS-Bench-201's convention. NASLib reports both in millions for one input (``params`` and ``flops`` in
`naslib/predictors/utils/pruners/predictive.py`, `find_measures`); the ranking does not depend on the unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from naslid.rankers.base import Ranker, ScoringContext, register_ranker
from naslid.spaces import ChoiceArch


@dataclass(frozen=True)
class Params(Ranker):
    name: ClassVar[str] = "params"
    definition: ClassVar[str] = ("millions of trainable parameters of the architecture's standalone network (NASLib's "
                                 "`params` measure); more is predicted better")
    needs_images: ClassVar[bool] = False
    shares_isomorphic: ClassVar[bool] = False

    def score(self, arch: ChoiceArch, context: ScoringContext) -> float:
        return float(context.supernet.arch_costs(arch, context.resolution)["params_m"])


@dataclass(frozen=True)
class Flops(Ranker):
    name: ClassVar[str] = "flops"
    definition: ClassVar[str] = ("millions of multiply-accumulates of one input through the architecture's "
                                 "convolutions and linear layers at the context's resolution (NAS-Bench-201's FLOPs, "
                                 "NASLib's `flops` measure); more is predicted better")
    needs_images: ClassVar[bool] = False
    shares_isomorphic: ClassVar[bool] = False

    def score(self, arch: ChoiceArch, context: ScoringContext) -> float:
        return float(context.supernet.arch_costs(arch, context.resolution)["mflops"])


register_ranker(Params)
register_ranker(Flops)
