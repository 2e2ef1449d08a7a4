"""A search space of your own, end to end: a chain of three blocks, each one of four candidate ops.

Importing this module registers the space ``chain`` and its supernet, so every naslid command can use it:

    naslid partition runs/chain --import examples/chain_space.py --space chain --dataset digits
    naslid search runs/chain --import examples/chain_space.py
    naslid export runs/chain --import examples/chain_space.py

(an installed package registers itself instead through an entry point: docs/own-space.md). The space answers
the questions the search and partition code ask (`naslid.spaces.SearchSpace`); the supernet follows
`naslid.nn.SuperNet`: a single-path forward, the layers whose outputs make the LID profile, which parameters
belong to which choice point, a standalone network per architecture, and its cost.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn

from naslid.nn import register_supernet
from naslid.spaces import ChoiceArch, register_space

POINTS = ("block0", "block1", "block2")
OPS = ("conv1x1", "conv3x3", "conv5x5", "skip")  # the candidates of every point, by name
KERNELS = {"conv1x1": 1, "conv3x3": 3, "conv5x5": 5}


@dataclass(frozen=True, order=True)
class ChainArch(ChoiceArch):
    """One op name per point; `ops` comes from ChoiceArch."""

    def __post_init__(self) -> None:
        if len(self.ops) != len(POINTS) or any(op not in OPS for op in self.ops):
            raise ValueError(f"not a chain architecture: {self.ops!r}; expected {len(POINTS)} of {OPS}")


class ChainSpace:
    """The space: its name, its choice points and each point's choices, and the text form of an architecture."""

    name = "chain"
    points = POINTS
    choices = tuple(OPS for _ in POINTS)

    def make_arch(self, ops) -> ChainArch:
        return ChainArch(tuple(ops))

    def parse(self, text: str) -> ChainArch:
        return ChainArch(tuple(text.split("-")))

    def format(self, arch: ChainArch) -> str:
        return "-".join(arch.ops)

    def canonical_key(self, arch: ChainArch) -> str:
        # architectures that compute the same function share a key (here every architecture is distinct)
        return self.format(arch)


@dataclass(frozen=True)
class ChainConfig:
    """The supernet's settings, saved in a run's config.json (`in_channels`/`num_classes` follow the data)."""

    channels: int = 8
    in_channels: int = 3
    num_classes: int = 10

    def to_dict(self) -> dict:
        return asdict(self)


def _candidate(op: str, channels: int) -> nn.Module:
    if op == "skip":
        return nn.Identity()
    kernel = KERNELS[op]
    return nn.Sequential(nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(channels), nn.ReLU())


class ChainBlock(nn.Module):
    """One choice point: every candidate, of which a forward runs the one the architecture names."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.candidates = nn.ModuleDict({op: _candidate(op, channels) for op in OPS})

    def forward(self, x: torch.Tensor, op: str) -> torch.Tensor:
        return self.candidates[op](x)


class ChainNetwork(nn.Module):
    """A standalone network of one architecture (what `extract` returns and `naslid export` saves)."""

    def __init__(self, stem: nn.Module, ops: list[nn.Module], head: nn.Module) -> None:
        super().__init__()
        self.stem, self.ops, self.head = stem, nn.Sequential(*ops), head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.ops(self.stem(x)).mean((2, 3)))


class ChainSuperNet(nn.Module):
    """The weight-sharing supernet of the chain space."""

    space = ChainSpace()

    def __init__(self, config: ChainConfig | None = None) -> None:
        super().__init__()
        self.config = config or ChainConfig()
        c = self.config.channels
        self.stem = nn.Sequential(nn.Conv2d(self.config.in_channels, c, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c), nn.ReLU())
        self.blocks = nn.ModuleList(ChainBlock(c) for _ in POINTS)
        self.head = nn.Linear(c, self.config.num_classes)

    def forward(self, x: torch.Tensor, arch: ChainArch) -> torch.Tensor:
        x = self.stem(x)
        for block, op in zip(self.blocks, arch.ops, strict=True):
            x = block(x, op)
        return self.head(x.mean((2, 3)))

    def probed_layers(self) -> list[nn.Module]:
        # the LID profile: the output of every block (each fires once per forward, whatever op it runs)
        return list(self.blocks)

    def choice_parameters(self, point: int) -> list[str]:
        return [name for name, _ in self.named_parameters() if name.startswith(f"blocks.{point}.")]

    def body_parameters(self) -> list[str]:
        return [name for name, _ in self.named_parameters() if name.startswith("blocks.")]

    def extract(self, arch: ChainArch) -> nn.Module:
        ops = [copy.deepcopy(block.candidates[op]) for block, op in zip(self.blocks, arch.ops, strict=True)]
        return ChainNetwork(copy.deepcopy(self.stem), ops, copy.deepcopy(self.head))

    def arch_costs(self, arch: ChainArch, resolution: int) -> dict[str, float]:
        c, pixels = self.config.channels, resolution * resolution
        macs = pixels * self.config.in_channels * c * 9 + c * self.config.num_classes
        params = self.config.in_channels * c * 9 + 2 * c + c * self.config.num_classes + self.config.num_classes
        for op in arch.ops:
            if op != "skip":
                macs += pixels * c * c * KERNELS[op] ** 2
                params += c * c * KERNELS[op] ** 2 + 2 * c
        return {"mflops": macs / 1e6, "params_m": params / 1e6}


register_space(ChainSpace.name, ChainSpace)
register_supernet(ChainSpace.name, ChainConfig, ChainSuperNet)

__all__ = ["ChainArch", "ChainConfig", "ChainSpace", "ChainSuperNet"]
