"""The NB201 candidate ops, keyed by the op names that files store.

Each factory takes (channels, affine, track_running_stats) and returns a module mapping
N x C x H x W to the same shape (every NB201 cell op keeps resolution and width).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution without bias, BatchNorm: the NB201 `nor_conv_kxk` op and reduction-block branches."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels, affine=affine, track_running_stats=track_running_stats),
        )


class Zero(nn.Module):
    """The `none` op: a zero tensor of the input's shape (no parameters, never run on a single path)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


OpFactory = Callable[[int, bool, bool], nn.Module]

OPS: dict[str, OpFactory] = {
    "none": lambda channels, affine, track: Zero(),
    "skip_connect": lambda channels, affine, track: nn.Identity(),
    "nor_conv_1x1": lambda channels, affine, track: ReLUConvBN(channels, channels, 1, 1, affine, track),
    "nor_conv_3x3": lambda channels, affine, track: ReLUConvBN(channels, channels, 3, 1, affine, track),
    "avg_pool_3x3": lambda channels, affine, track: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
}


def create_op(name: str, channels: int, affine: bool = True, track_running_stats: bool = True) -> nn.Module:
    """Build the op called `name` for `channels` channels."""
    try:
        factory = OPS[name]
    except KeyError:
        raise ValueError(f"unknown op {name!r}; expected one of {sorted(OPS)}") from None
    return factory(channels, affine, track_running_stats)
