"""Model cost as NAS-Bench-201 reports it: parameters and FLOPs (multiply-accumulates of convs and linears)."""

from __future__ import annotations

import torch
from torch import nn

from naslid.hooks import watching_outputs


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def count_flops(module: nn.Module, input_shape: tuple[int, ...], *args: object) -> int:
    """Multiply-accumulates of one forward pass of a single input of `input_shape` (C, H, W).

    Counts Conv2d and Linear layers only, the convention that reproduces NAS-Bench-201's cost table
    (7.78 M to 220.12 M on 32x32 CIFAR inputs). Extra `args` are passed to `forward` (e.g. an arch).
    """
    total = 0

    def count(layer: nn.Module, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(layer, nn.Conv2d):
            kernel = layer.kernel_size[0] * layer.kernel_size[1] * layer.in_channels // layer.groups
            total += output[0].numel() * kernel
        else:
            total += layer.in_features * layer.out_features

    counted = [(layer, layer) for layer in module.modules() if isinstance(layer, nn.Conv2d | nn.Linear)]
    was_training = module.training
    device = next(module.parameters()).device
    try:
        module.eval()
        with torch.no_grad(), watching_outputs(counted, count):
            module(torch.zeros(1, *input_shape, device=device), *args)
    finally:
        module.train(was_training)
    return total
