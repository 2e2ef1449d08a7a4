"""What the algorithm rooms ask of a weight-sharing supernet, whatever its search space.

Training, splitting, proxy evaluation, search and export only use this: a single-path `forward(x, arch)`;
the modules whose outputs make the layer-wise LID profile (the same number for every architecture);
which parameters belong to the candidates of a choice point and which form the body (the gradient
criterion compares the gradients of the shared body, or optionally of `gradient_reference_parameters()`,
the scope GM-NAS's code takes in that space, which defaults to the body); and `extract(arch)`, a standalone
network with the inherited weights. `SUPERNETS` maps a space's name to its network config class and supernet
class.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from naslid.options import flag, number
from naslid.spaces import ChoiceArch, SearchSpace

# the flag of the MobileNet spaces' width multiplier (ProxylessConfig.width_mult, OFAConfig.width_mult)
WIDTH_MULT_FLAG = flag("--width-mult", parse=number(0, above=True),
                       help="MobileNet spaces: width multiplier (1.0; OFA also 1.2)")


@runtime_checkable
class SuperNet(Protocol):
    """The supernet contract (see the module docstring); `config.to_dict()` rebuilds it."""

    space: SearchSpace
    config: Any

    def __call__(self, x: torch.Tensor, arch: ChoiceArch) -> torch.Tensor: ...

    def probed_layers(self) -> list[nn.Module]:
        """Modules whose outputs give the LID profile, in depth order; hooks on them fire once per forward
        for every architecture (an inactive block must still fire, e.g. as an identity)."""
        ...

    def choice_parameters(self, point: int) -> list[str]:
        """Names of the parameters that belong to the candidates of choice point `point`."""
        ...

    def body_parameters(self) -> list[str]:
        """Names of the parameters between the stem and the head (GM-NAS compares gradients of these)."""
        ...

    def extract(self, arch: ChoiceArch) -> nn.Module:
        """A standalone network for `arch` holding copies of the supernet's weights for its path."""
        ...

    def arch_costs(self, arch: ChoiceArch, resolution: int) -> dict[str, float]:
        """``mflops`` (multiply-accumulates, millions) and ``params_m`` of `arch` at square inputs of `resolution`."""
        ...


SUPERNETS: dict[str, tuple[type, type]] = {}


def register_supernet(space_name: str, config_class: type, supernet_class: type) -> None:
    """Make `supernet_class(config=config_class(...))` the supernet of space `space_name`."""
    SUPERNETS[space_name] = (config_class, supernet_class)


def network_config_class(space_name: str) -> type:
    """The network configuration dataclass of space `space_name`."""
    if space_name not in SUPERNETS:
        raise ValueError(f"no supernet for search space {space_name!r}; known: {sorted(SUPERNETS)} (a space of your "
                         "own: register it in a module and pass --import MODULE, or install it as a naslid.spaces "
                         "entry point; docs/own-space.md)")
    return SUPERNETS[space_name][0]


def build_supernet_for(space_name: str, config: Any) -> nn.Module:
    """A freshly initialised supernet of space `space_name` with network configuration `config`."""
    config_class = network_config_class(space_name)
    if not isinstance(config, config_class):
        raise ValueError(f"space {space_name!r} takes a {config_class.__name__}, got {type(config).__name__}")
    return SUPERNETS[space_name][1](config=config)
