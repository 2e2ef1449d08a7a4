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

import dataclasses
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from naslid.hooks import watching_outputs
from naslid.options import flag, number
from naslid.registry import check_name, register
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


_SUPERNET_MEMBERS = ("forward", "probed_layers", "choice_parameters", "body_parameters", "extract", "arch_costs")
_CHECK_RESOLUTION = 32  # the side of the images one checking forward sees (CIFAR-10's)


def register_supernet(space_name: str, config_class: type, supernet_class: type, *, replace: bool = False,
                      check: bool = True) -> None:
    """Make `supernet_class(config=config_class(...))` the supernet of space `space_name`.

    With `check` (the default) the pair is checked against the `SuperNet` contract now: every member present,
    and one forward of the default configuration (its `num_classes` changed, where it has one, to see that the
    network follows it) on two 32x32 images gives one row of `num_classes` logits per image, with every probed
    layer firing exactly once. The built-ins pass check=False (tests/test_space_contract.py checks them at their
    small sizes). A name registered already with another pair is a ValueError unless `replace`.
    """
    check_name(SUPERNETS, space_name, (config_class, supernet_class), replace=replace, kind="supernet of space")
    if check:
        check_supernet(space_name, config_class, supernet_class)
    register(SUPERNETS, space_name, (config_class, supernet_class), replace=replace, kind="supernet of space")


def check_supernet(space_name: str, config_class: type, supernet_class: type) -> None:
    """Build `supernet_class` with `config_class`'s defaults and run one forward; a ValueError names what breaks
    the `SuperNet` contract (docs/own-space.md)."""
    where = f"the supernet of space {space_name!r} ({supernet_class.__module__}.{supernet_class.__qualname__})"
    missing = [member for member in _SUPERNET_MEMBERS if not callable(getattr(supernet_class, member, None))]
    if missing:
        raise ValueError(f"{where} lacks {', '.join(missing)}; a supernet needs {', '.join(_SUPERNET_MEMBERS)} "
                         "(docs/own-space.md)")
    try:
        config = config_class()
        if dataclasses.is_dataclass(config) and "num_classes" in {f.name for f in dataclasses.fields(config)}:
            config = dataclasses.replace(config, num_classes=config.num_classes + 3)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = supernet_class(config=config)
    except Exception as error:
        raise ValueError(f"{where}: building it from {config_class.__qualname__}() failed "
                         f"({type(error).__name__}: {error})") from None
    space = getattr(net, "space", None)
    if space is None or getattr(space, "name", None) != space_name:
        raise ValueError(f"{where}: its `space` is {getattr(space, 'name', space)!r}; expected the {space_name!r} "
                         "space object")
    layers = list(net.probed_layers())
    if not layers or not all(isinstance(layer, nn.Module) for layer in layers):
        raise ValueError(f"{where}: probed_layers() gives {len(layers)} modules; expected at least one nn.Module "
                         "(the layers whose outputs make the LID profile)")
    if len({id(layer) for layer in layers}) != len(layers):
        raise ValueError(f"{where}: probed_layers() lists a module twice; expected distinct modules, in depth order")
    arch = space.make_arch(tuple(choices[0] for choices in space.choices))
    channels = getattr(config, "in_channels", 3)
    images = torch.randn(2, channels, _CHECK_RESOLUTION, _CHECK_RESOLUTION, generator=torch.Generator().manual_seed(0))
    fired: list[int] = []
    net.eval()
    try:
        with torch.no_grad(), watching_outputs(enumerate(layers), lambda index, _: fired.append(index)):
            logits = net(images, arch)
    except Exception as error:
        raise ValueError(f"{where}: a forward of 2 images of {channels}x{_CHECK_RESOLUTION}x{_CHECK_RESOLUTION} "
                         f"failed ({type(error).__name__}: {error})") from None
    classes = getattr(config, "num_classes", None)
    shape = tuple(getattr(logits, "shape", ()))
    if len(shape) != 2 or shape[0] != 2 or (classes is not None and shape[1] != classes):
        raise ValueError(f"{where}: a forward of 2 images gives shape {shape}; expected (2, {classes or 'classes'}), "
                         "one row of num_classes logits per image" + (f" (its config's num_classes={classes})"
                                                                      if classes is not None else ""))
    if sorted(fired) != list(range(len(layers))):
        raise ValueError(f"{where}: its {len(layers)} probed layers fired {len(fired)} times in one forward; each "
                         "must fire exactly once per forward, for every architecture")


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
