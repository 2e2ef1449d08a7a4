"""The OFA-MobileNetV3 search space (Cai et al., ICLR 2020): elastic depth, kernel size and expansion.

Layout checked against mit-han-lab/once-for-all at f03b267
(`ofa/imagenet_classification/elastic_nn/networks/ofa_mbv3.py`, `OFAMobileNetV3` with `ks_list=[3, 5, 7]`,
`expand_ratio_list=[3, 4, 6]`, `depth_list=[2, 3, 4]`, as `ofa/model_zoo.py` builds
`ofa_mbv3_d234_e346_k357_w1.0`): five elastic stages of up to four inverted-residual blocks each. The
network around them (widths, strides, activations, SE) belongs to `naslid.nn.ofa`; the space only names
the choices.

Choice points, 25 in all, in depth order, stage by stage: `stageS.depth` (``d2``, ``d3``, ``d4``: the
stage runs its first 2, 3 or 4 blocks), then `stageS.block0` ... `stageS.block3`, each a (kernel,
expansion) pair ``k{3,5,7}_e{3,4,6}`` (9 choices, kernel-major order).

String form (round-trips; every block is written, active or not)::

    d2:k3_e3,k5_e4,k7_e6,k3_e3|d4:...|d3:...|d2:...|d4:...

five ``|``-separated stages, each ``d<depth>:`` and four comma-separated block choices.

Inactive blocks. A block at or beyond its stage's depth does not run, so its choice does not change the
network. The space keeps it as an ordinary point anyway, so that every architecture is a tuple of 25 names
and `SubSpace` stays generic:

- `SubSpace.all()` and `size()` run over the product of the points: architectures that differ only in
  inactive blocks are listed and counted separately (the full space has 3^5 * 9^20 ~ 2.9e21 tuples);
  `distinct_size(subspace)` counts the networks (7371^5 ~ 2.2e19 for the full space, OFA's "2 x 10^19").
- Sampling is uniform per point, which is OFA's `sample_active_subnet`: per-block kernel and expansion and
  per-stage depth drawn independently and uniformly; the draws of inactive blocks are irrelevant. (So the
  distinct networks are not drawn uniformly: a d4 stage has 9^4 variants, a d2 stage 9^2, each drawn 1/3.)
- Duplicate detection uses `canonical_key`, the string form with inactive blocks' choices replaced by
  ``-`` (`INACTIVE`): equal keys mean the same network (and the same supernet path), so it is also the
  space's `network_key`, and a search scores each such network once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod

import numpy as np

from naslid.spaces.base import ChoiceArch, SubSpace, WholeSpaceMethods

NUM_STAGES = 5
MAX_DEPTH = 4  # blocks per elastic stage (OFA's max(depth_list))
DEPTHS: tuple[int, ...] = (2, 3, 4)  # OFA's depth_list
KERNEL_SIZES: tuple[int, ...] = (3, 5, 7)  # OFA's ks_list
EXPAND_RATIOS: tuple[int, ...] = (3, 4, 6)  # OFA's expand_ratio_list

DEPTH_CHOICES: tuple[str, ...] = tuple(f"d{d}" for d in DEPTHS)
BLOCK_CHOICES: tuple[str, ...] = tuple(f"k{k}_e{e}" for k in KERNEL_SIZES for e in EXPAND_RATIOS)
INACTIVE = "-"  # stands for an inactive block's choice in `canonical_key`

OFA_POINTS: tuple[str, ...] = tuple(
    name for stage in range(1, NUM_STAGES + 1)
    for name in (f"stage{stage}.depth", *(f"stage{stage}.block{b}" for b in range(MAX_DEPTH))))
OFA_CHOICES: tuple[tuple[str, ...], ...] = tuple(
    DEPTH_CHOICES if name.endswith(".depth") else BLOCK_CHOICES for name in OFA_POINTS)
_POINTS_PER_STAGE = 1 + MAX_DEPTH


def depth_point(stage: int) -> int:
    """Index of the depth point of stage `stage` (0-based)."""
    return stage * _POINTS_PER_STAGE


def block_point(stage: int, block: int) -> int:
    """Index of the (kernel, expansion) point of block `block` of stage `stage` (both 0-based)."""
    return stage * _POINTS_PER_STAGE + 1 + block


def parse_block_choice(name: str) -> tuple[int, int]:
    """(kernel size, expansion ratio) of a block choice such as ``'k5_e4'``."""
    if name not in BLOCK_CHOICES:
        raise ValueError(f"unknown OFA block choice {name!r}; expected one of {list(BLOCK_CHOICES)}")
    kernel, expand = name.split("_")
    return int(kernel[1:]), int(expand[1:])


@dataclass(frozen=True, order=True)
class OFAArch(ChoiceArch):
    """One OFA-MobileNetV3 architecture: 25 choice names, per stage a depth then four block choices."""

    def __post_init__(self) -> None:
        if not isinstance(self.ops, tuple) or len(self.ops) != len(OFA_POINTS):
            count = len(self.ops) if isinstance(self.ops, tuple | list) else type(self.ops).__name__
            raise ValueError(f"an OFA arch has {len(OFA_POINTS)} choices (per stage a depth and "
                             f"{MAX_DEPTH} blocks), got {count}")
        for point, (name, allowed) in enumerate(zip(self.ops, OFA_CHOICES, strict=True)):
            if name not in allowed:
                raise ValueError(f"unknown choice {name!r} at point {OFA_POINTS[point]}; "
                                 f"expected one of {list(allowed)}")

    def __str__(self) -> str:
        return format_arch(self)

    @property
    def depths(self) -> tuple[int, ...]:
        """Blocks run in each of the five stages."""
        return tuple(int(self.ops[depth_point(s)][1:]) for s in range(NUM_STAGES))

    def block(self, stage: int, block: int) -> tuple[int, int]:
        """(kernel size, expansion ratio) chosen for a block (whether or not it is active)."""
        return parse_block_choice(self.ops[block_point(stage, block)])

    def active_blocks(self) -> list[tuple[int, int, int, int]]:
        """(stage, block, kernel, expansion) of every block that runs, in depth order."""
        return [(s, b, *self.block(s, b)) for s, depth in enumerate(self.depths) for b in range(depth)]

    def is_active(self, point: int) -> bool:
        """Whether choice point `point` changes the network (depth points always do)."""
        stage, offset = divmod(point, _POINTS_PER_STAGE)
        return offset == 0 or offset - 1 < self.depths[stage]


def parse_arch(text: str) -> OFAArch:
    """Parse ``d2:k3_e3,k5_e4,k7_e6,k3_e3|...`` (five stages); raise ValueError naming the fault."""
    if not isinstance(text, str):
        raise ValueError(f"an OFA arch string must be a str, got {type(text).__name__}")
    stages = text.strip().split("|")
    if len(stages) != NUM_STAGES:
        raise ValueError(f"OFA arch string {text!r} has {len(stages)} stages separated by '|', expected "
                         f"{NUM_STAGES} (format d2:k3_e3,k5_e4,k7_e6,k3_e3|... )")
    ops: list[str] = []
    for stage, group in enumerate(stages, start=1):
        depth, sep, blocks = group.partition(":")
        if not sep:
            raise ValueError(f"stage {stage} {group!r} of {text!r} must look like 'd<depth>:<4 blocks>'")
        if depth not in DEPTH_CHOICES:
            raise ValueError(f"stage {stage} of {text!r} has depth {depth!r}; expected one of "
                             f"{list(DEPTH_CHOICES)}")
        names = blocks.split(",")
        if len(names) != MAX_DEPTH:
            raise ValueError(f"stage {stage} of {text!r} lists {len(names)} blocks, expected {MAX_DEPTH} "
                             f"(inactive blocks are written too)")
        for block, name in enumerate(names):
            if name not in BLOCK_CHOICES:
                raise ValueError(f"stage {stage} block {block} of {text!r} is {name!r}; expected one of "
                                 f"{list(BLOCK_CHOICES)}")
        ops += [depth, *names]
    return OFAArch(tuple(ops))


def format_arch(arch: OFAArch) -> str:
    """The string form of `arch` (every block written, active or not)."""
    return "|".join(
        f"{arch.ops[depth_point(s)]}:" + ",".join(arch.ops[block_point(s, b)] for b in range(MAX_DEPTH))
        for s in range(NUM_STAGES))


def canonical_key(arch: OFAArch) -> str:
    """The string form with inactive blocks' choices replaced by ``-``: equal for the same network."""
    ops = tuple(name if arch.is_active(point) else INACTIVE for point, name in enumerate(arch.ops))
    return "|".join(
        f"{ops[depth_point(s)]}:" + ",".join(ops[block_point(s, b)] for b in range(MAX_DEPTH))
        for s in range(NUM_STAGES))


def distinct_size(subspace: SubSpace) -> int:
    """Number of distinct networks in an OFA sub-space (architectures differing only in inactive blocks
    counted once), as opposed to `subspace.size()`, which counts choice tuples."""
    total = 1
    for stage in range(NUM_STAGES):
        counts = [len(subspace.allowed[block_point(stage, b)]) for b in range(MAX_DEPTH)]
        total *= sum(prod(counts[:int(d[1:])]) for d in subspace.allowed[depth_point(stage)])
    return total


class OFASpace(WholeSpaceMethods):
    """The OFA-MobileNetV3 space: 5 depth points (d2/d3/d4) and 20 block points (k3..7 x e3/4/6)."""

    name = "ofa"
    points: tuple[str, ...] = OFA_POINTS
    choices: tuple[tuple[str, ...], ...] = OFA_CHOICES
    num_stages = NUM_STAGES
    max_depth = MAX_DEPTH

    parse = staticmethod(parse_arch)
    format = staticmethod(format_arch)
    canonical_key = staticmethod(canonical_key)
    network_key = canonical_key  # inactive blocks do not run: one score serves every such arch
    distinct_size = staticmethod(distinct_size)
    depth_point = staticmethod(depth_point)
    block_point = staticmethod(block_point)

    @staticmethod
    def make_arch(ops: Sequence[str]) -> OFAArch:
        return OFAArch(tuple(ops))

    @staticmethod
    def can_activate(allowed: Sequence[Sequence[str]], point: int) -> bool:
        """Whether some architecture with the `allowed` choices runs point `point`'s block (a block point of a
        stage whose allowed depths all stop before it changes no network, so there is nothing to split)."""
        stage, offset = divmod(point, _POINTS_PER_STAGE)
        return offset == 0 or any(int(d[1:]) > offset - 1 for d in allowed[depth_point(stage)])

    @staticmethod
    def activate(arch: OFAArch, point: int, allowed: Sequence[Sequence[str]],
                 rng: np.random.Generator) -> OFAArch | None:
        """`arch`, or `arch` with its stage's depth redrawn uniformly among the `allowed` depths that run point
        `point`'s block, so that the candidates of `point` are compared where they change the network; None
        when no allowed depth runs it."""
        if arch.is_active(point):
            return arch
        stage, offset = divmod(point, _POINTS_PER_STAGE)
        depths = [d for d in allowed[depth_point(stage)] if int(d[1:]) > offset - 1]
        if not depths:
            return None
        return arch.replace(depth_point(stage), depths[int(rng.integers(len(depths)))])

    @staticmethod
    def uniform(depth: int, kernel: int, expand: int) -> OFAArch:
        """The architecture with the same depth in every stage and the same block everywhere
        (OFA's `set_active_subnet(ks=k, e=e, d=d)`), e.g. `uniform(4, 7, 6)` is the largest."""
        ops = []
        for _ in range(NUM_STAGES):
            ops += [f"d{depth}", *[f"k{kernel}_e{expand}"] * MAX_DEPTH]
        return OFAArch(tuple(ops))
