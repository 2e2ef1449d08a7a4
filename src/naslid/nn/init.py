"""Weight initialisation schemes for freshly built networks, named by what they compute.

"default" keeps PyTorch's initialisation (what every naslid network gets when built). "kaiming-normal" is the
rule the NAS-LID authors' NB201 supernet got from hyperbox when their code was released (Dec 2022):
hyperbox hyperbox/networks/base_nas_network.py (BaseNASNetwork.init_weights), from commit 139ed7c (2021-11)
until e84c39a (2023-04) replaced it with `pass`; NAS-LID's `NASBench201Network.__init__` calls it. For every
module: a convolution's weight ~ `kaiming_normal_` with its defaults (fan_in, gain sqrt(2), i.e.
std = sqrt(2 / fan_in)), its bias (if any) untouched; a BatchNorm's affine weight 1 and bias 0 (running
statistics untouched); a Linear's weight ~ `kaiming_normal_` (std sqrt(2 / fan_in)) and its bias 0.
Parameters that do not belong to such modules (e.g. weights held as raw `nn.Parameter`) keep their values.
"""

from __future__ import annotations

import math

import torch
from torch import nn

INIT_SCHEMES = ("default", "kaiming-normal")


def initialise_weights(net: nn.Module, scheme: str, generator_seed: int | None = None) -> None:
    """Re-initialise `net`'s weights in place by `scheme` (see the module docstring); "default" changes nothing.

    Draws come from a private CPU generator seeded with `generator_seed`, or, when it is None, from torch's
    global CPU generator in module order (as hyperbox does): then the caller seeds it under
    `torch.random.fork_rng`, as `naslid.runs.partition.build_supernet` builds the network, so the global RNG
    is left as it was. Values are drawn on the CPU and copied, so a seed gives the same weights on any device.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init scheme {scheme!r}; expected one of {list(INIT_SCHEMES)}")
    if scheme == "default":
        return
    generator = None if generator_seed is None else torch.Generator(device="cpu").manual_seed(generator_seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.modules.conv._ConvNd):
                _kaiming_normal_(module.weight, generator)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                if module.weight is not None:  # affine=False has no weight or bias (hyperbox assumes affine)
                    module.weight.fill_(1.0)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.Linear):
                _kaiming_normal_(module.weight, generator)
                if module.bias is not None:
                    module.bias.zero_()


def _kaiming_normal_(weight: torch.Tensor, generator: torch.Generator | None) -> None:
    """`nn.init.kaiming_normal_(weight)` with its defaults (a=0, fan_in, leaky_relu: std sqrt(2 / fan_in)),
    drawn on the CPU (bit-identical to it on a CPU tensor with the same generator state)."""
    fan_in = weight[0].numel()  # input channels (per group) x kernel elements, as torch computes fan_in
    std = math.sqrt(2.0) / math.sqrt(fan_in)
    values = torch.empty(weight.shape, dtype=weight.dtype).normal_(0.0, std, generator=generator)
    weight.copy_(values)
