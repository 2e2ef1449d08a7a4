"""Context managers that let code use a model for a while and give it back exactly as it was."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


def batchnorm_layers(net: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """BatchNorm layers of `net` that keep running statistics."""
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@contextmanager
def preserved_state(net: nn.Module) -> Iterator[None]:
    """Restore BatchNorm buffers and momenta and every module's train/eval mode on exit."""
    layers = batchnorm_layers(net)
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone(), m.momentum)
             for m in layers]
    modes = {m: m.training for m in net.modules()}
    try:
        yield
    finally:
        for m, (mean, var, count, momentum) in zip(layers, saved, strict=True):
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(count)
            m.momentum = momentum
        for m, mode in modes.items():
            m.training = mode
