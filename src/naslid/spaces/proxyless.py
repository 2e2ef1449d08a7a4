"""The ProxylessNAS search space: one choice point per searchable MBConv layer, choices named like ``k5_e3``.

The macro layout is ProxylessNAS's ImageNet search space, checked in mit-han-lab/proxylessnas
`search/imagenet_arch_search.py` (defaults `width_stages 24,40,80,96,192,320`, `n_cell_stages 4,4,4,4,4,1`,
`stride_stages 2,2,2,1,2,1`, candidates `3x3_MBConv3 ... 7x7_MBConv6`) and
`search/models/super_nets/super_proxyless.py` (first conv 32 stride 2, a fixed `3x3_MBConv1` block to 16,
`Zero` added to a layer's candidates exactly when its stride is 1 and its input width equals its output
width, feature mix 1280, classifier). With these widths that is every block but the first of a stage.

An architecture is one choice per layer, 21 in all; its string joins them with ``-`` in depth order, e.g.
``k5_e3-k3_e3-zero-zero-k7_e3-...``. `zero` skips the layer (its output is its input). Where `zero`s sit
inside a stage changes the supernet path (each position has its own weights) but not the standalone network;
the canonical key is the string itself, so such architectures are kept apart.
Widths, width multiplier and the small-input option belong to the network (`naslid.nn.ProxylessConfig`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from naslid.spaces.base import ChoiceArch, WholeSpaceMethods

PROXYLESS_WIDTHS: tuple[int, ...] = (24, 40, 80, 96, 192, 320)
PROXYLESS_DEPTHS: tuple[int, ...] = (4, 4, 4, 4, 4, 1)
PROXYLESS_STRIDES: tuple[int, ...] = (2, 2, 2, 1, 2, 1)
# (kernel, expansion) of each MBConv candidate, named `k{kernel}_e{expansion}`, in ProxylessNAS's order
PROXYLESS_MBCONVS: tuple[str, ...] = ("k3_e3", "k3_e6", "k5_e3", "k5_e6", "k7_e3", "k7_e6")
ZERO = "zero"
SEPARATOR = "-"


def _points() -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    names, choices = [], []
    for stage, depth in enumerate(PROXYLESS_DEPTHS, start=1):
        for block in range(depth):
            names.append(f"stage{stage}.block{block}")
            # every block but a stage's first keeps stride 1 and its width, so ProxylessNAS adds `Zero`
            choices.append(PROXYLESS_MBCONVS + ((ZERO,) if block > 0 else ()))
    return tuple(names), tuple(choices)


PROXYLESS_POINTS, PROXYLESS_CHOICES = _points()


def parse_choice(choice: str) -> tuple[int, int] | None:
    """(kernel, expansion) of an MBConv choice name such as ``k5_e3``; None for ``zero``."""
    if choice == ZERO:
        return None
    if choice not in PROXYLESS_MBCONVS:
        raise ValueError(f"unknown ProxylessNAS choice {choice!r}; expected one of {list(PROXYLESS_MBCONVS)} or "
                         f"{ZERO!r}")
    kernel, expansion = choice.split("_")
    return int(kernel[1:]), int(expansion[1:])


@dataclass(frozen=True, order=True)
class ProxylessArch(ChoiceArch):
    """One ProxylessNAS architecture: a choice name per searchable layer (see `PROXYLESS_POINTS`)."""

    def __post_init__(self) -> None:
        if not isinstance(self.ops, tuple):
            object.__setattr__(self, "ops", tuple(self.ops))
        if len(self.ops) != len(PROXYLESS_POINTS):
            raise ValueError(f"a ProxylessNAS arch has {len(PROXYLESS_POINTS)} layer choices, got {len(self.ops)}")
        for point, choice in enumerate(self.ops):
            if choice not in PROXYLESS_CHOICES[point]:
                hint = " (the first block of a stage changes shape, so it cannot be zero)" if choice == ZERO else ""
                raise ValueError(f"choice {choice!r} is not allowed at layer {PROXYLESS_POINTS[point]}{hint}; "
                                 f"expected one of {list(PROXYLESS_CHOICES[point])}")

    def __str__(self) -> str:
        return format_proxyless_arch(self)


def parse_proxyless_arch(text: str) -> ProxylessArch:
    """Parse ``k5_e3-k3_e3-zero-...`` (21 choices joined by '-'); ValueError names the fault."""
    if not isinstance(text, str):
        raise ValueError(f"a ProxylessNAS arch string must be a str, got {type(text).__name__}")
    choices = text.strip().split(SEPARATOR)
    if len(choices) != len(PROXYLESS_POINTS):
        raise ValueError(f"ProxylessNAS arch string {text!r} has {len(choices)} choices separated by "
                         f"{SEPARATOR!r}, expected {len(PROXYLESS_POINTS)} (one per layer, e.g. 'k3_e6')")
    return ProxylessArch(tuple(choices))


def format_proxyless_arch(arch: ChoiceArch) -> str:
    """The string form of `arch`: its choices joined by '-'."""
    return SEPARATOR.join(arch.ops)


class ProxylessSpace(WholeSpaceMethods):
    """ProxylessNAS's space: 21 layers, 6 MBConv choices each plus `zero` on the 15 non-first blocks."""

    name = "proxyless"
    points: tuple[str, ...] = PROXYLESS_POINTS
    choices: tuple[tuple[str, ...], ...] = PROXYLESS_CHOICES
    widths = PROXYLESS_WIDTHS
    depths = PROXYLESS_DEPTHS
    strides = PROXYLESS_STRIDES

    parse = staticmethod(parse_proxyless_arch)
    format = staticmethod(format_proxyless_arch)

    @staticmethod
    def canonical_key(arch: ChoiceArch) -> str:
        return format_proxyless_arch(arch)

    @staticmethod
    def make_arch(ops: Sequence[str]) -> ProxylessArch:
        return ProxylessArch(tuple(ops))

    @staticmethod
    def point_position(point: int) -> tuple[int, int]:
        """(stage index 0..5, block index within the stage) of choice point `point`."""
        stage, block = PROXYLESS_POINTS[point].split(".")
        return int(stage[len("stage"):]) - 1, int(block[len("block"):])
