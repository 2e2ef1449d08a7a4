"""Measure a model without changing it: a context manager that sets a mode and restores everything after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

MODES = ("eval", "train", "keep")


def check_mode(mode: str) -> None:
    """Raise ValueError unless `mode` is one of MODES."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}; got {mode!r}")


@contextmanager
def measuring(model: nn.Module, mode: str = "eval") -> Iterator[nn.Module]:
    """Run the body under no-grad with `model` in `mode`, then restore modes and buffers exactly.

    mode='eval' (default) uses BatchNorm running statistics and disables dropout; mode='train' uses batch
    statistics (as the NAS-LID reference code does), and the running statistics it updates are put back
    afterwards; mode='keep' leaves each module's mode as found. Every buffer (BatchNorm running mean,
    variance and batch count included) and every module's train/eval flag are restored on exit, even
    when the body raises. Parameters are not touched: no gradient is computed.
    """
    check_mode(mode)
    modes = [(module, module.training) for module in model.modules()]
    buffers = {name: buffer.detach().clone() for name, buffer in model.named_buffers()}
    try:
        if mode == "eval":
            model.eval()
        elif mode == "train":
            model.train()
        with torch.no_grad():
            yield model
    finally:
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                if name in buffers:  # by name: also restores a buffer the body replaced instead of updating
                    buffer.copy_(buffers[name])
        for module, training in modes:
            module.training = training
