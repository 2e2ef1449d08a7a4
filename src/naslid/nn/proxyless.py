"""The ProxylessNAS weight-sharing supernet: every candidate MBConv of a layer is its own module.

Layout (mit-han-lab/proxylessnas `search/models/super_nets/super_proxyless.py`): `stem` (3x3 conv 32, stride 2,
BN ReLU6), `first_block` (fixed 3x3 MBConv1 to 16, a ``ds`` block), `layers` (one `ChoiceLayer` per choice
point of `naslid.spaces.ProxylessSpace`), `final_expand` (ProxylessNAS's 1x1 "feature mix" to 1280, BN
ReLU6, before pooling), pooling, dropout, `classifier`. Candidates, stem and head are the same module classes
`naslid.nn.mobilenet.MobileNet` uses, so `extract(arch)` copies weights module by module.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from naslid.nn.mobilenet import (
    ConvBNAct,
    LayerArgs,
    MobileBlock,
    MobileNet,
    MobileNetSpec,
    conv_output_size,
    layer_macs,
    layer_parameters,
    make_divisible,
)
from naslid.nn.supernet import WIDTH_MULT_FLAG
from naslid.spaces import ChoiceArch
from naslid.spaces.proxyless import PROXYLESS_WIDTHS, ZERO, ProxylessSpace, parse_choice

ACTIVATION = "relu6"  # ProxylessNAS uses ReLU6 in every conv layer


@dataclass(frozen=True)
class ProxylessConfig:
    """Shape of the ProxylessNAS network; defaults are ProxylessNAS's ImageNet search (`imagenet_arch_search.py`)."""

    # widths become make_divisible(width * width_mult, 8), as in the source
    width_mult: float = field(default=1.0, metadata=WIDTH_MULT_FLAG)
    num_classes: int = 1000
    in_channels: int = 3
    small_input: bool = False  # stride 1 in the stem and in the first stage (32x32 CIFAR images)
    dropout: float = 0.0
    stage_widths: tuple[int, ...] = PROXYLESS_WIDTHS  # before width_mult (ProxylessNAS-Mobile: 32, 40, ...)
    stem_channels: int = 32
    first_block_channels: int = 16
    feature_mix_channels: int = 1280  # not scaled unless width_mult > 1, as in the source
    bn_eps: float = 1e-3  # the source's bn_param (0.1, 1e-3)
    bn_momentum: float = 0.1

    def __post_init__(self) -> None:
        if isinstance(self.stage_widths, list):  # from JSON (`to_dict`)
            object.__setattr__(self, "stage_widths", tuple(self.stage_widths))
        for name in ("num_classes", "in_channels", "stem_channels", "first_block_channels", "feature_mix_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}; expected an integer >= 1")
        if (isinstance(self.width_mult, bool) or not isinstance(self.width_mult, int | float)
                or not 0 < self.width_mult < math.inf):
            raise ValueError(f"width_mult={self.width_mult!r}; expected a number > 0")
        if not isinstance(self.small_input, bool):
            raise ValueError(f"small_input={self.small_input!r}; expected True or False")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, int | float) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout={self.dropout!r}; expected a number in [0, 1)")
        if (not isinstance(self.stage_widths, tuple) or len(self.stage_widths) != len(PROXYLESS_WIDTHS)
                or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in self.stage_widths)):
            raise ValueError(f"stage_widths={self.stage_widths!r}; expected {len(PROXYLESS_WIDTHS)} integers >= 1")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (self.bn_eps, self.bn_momentum)) \
                or not 0 < self.bn_eps < 1 or not 0 < self.bn_momentum <= 1:
            raise ValueError(f"bn_eps={self.bn_eps!r}, bn_momentum={self.bn_momentum!r}; expected numbers in (0, 1)")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["stage_widths"] = list(self.stage_widths)
        return data

    def scaled(self, channels: int) -> int:
        return make_divisible(channels * self.width_mult, 8)

    @property
    def widths(self) -> tuple[int, ...]:
        """Stage widths after the width multiplier."""
        return tuple(self.scaled(width) for width in self.stage_widths)

    @property
    def strides(self) -> tuple[int, ...]:
        strides = ProxylessSpace.strides
        return (1, *strides[1:]) if self.small_input else strides

    @property
    def stem_stride(self) -> int:
        return 1 if self.small_input else 2

    @property
    def head_channels(self) -> int:
        return self.scaled(self.feature_mix_channels) if self.width_mult > 1.0 else self.feature_mix_channels


def _mbconv(choice: str, in_channels: int, out_channels: int, stride: int) -> LayerArgs:
    kernel, expansion = parse_choice(choice)
    return LayerArgs("ir", in_channels, out_channels, kernel, stride, float(expansion), 0.0, ACTIVATION, False)


class ChoiceLayer(nn.Module):
    """One searchable layer: a `MobileBlock` per MBConv choice; `forward(x, choice)` runs only that one.

    `zero` returns the input itself (ProxylessNAS's zero op plus its identity shortcut), so a forward hook on
    this module fires for every choice.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, choices: tuple[str, ...],
                 bn_eps: float, bn_momentum: float) -> None:
        super().__init__()
        self.choices = tuple(choices)
        self.candidates = nn.ModuleDict({
            choice: MobileBlock(_mbconv(choice, in_channels, out_channels, stride), bn_eps, bn_momentum)
            for choice in choices if choice != ZERO
        })

    def forward(self, x: torch.Tensor, choice: str) -> torch.Tensor:
        if choice not in self.choices:
            raise ValueError(f"choice {choice!r} is not a candidate of this layer; expected one of "
                             f"{list(self.choices)}")
        return x if choice == ZERO else self.candidates[choice](x)


class ProxylessSuperNet(nn.Module):
    """The single-path ProxylessNAS supernet (see the module docstring).

    `forward(x, arch)` runs only the candidates `arch` names, so off-path candidates get no gradient and
    no BatchNorm update (what SPOS training in `naslid.train` relies on).
    """

    space = ProxylessSpace()

    def __init__(self, config: ProxylessConfig | None = None) -> None:
        super().__init__()
        config = config or ProxylessConfig()
        self.config = config
        bn = {"bn_eps": config.bn_eps, "bn_momentum": config.bn_momentum}
        stem, first = config.scaled(config.stem_channels), config.scaled(config.first_block_channels)
        self.stem = ConvBNAct(config.in_channels, stem, 3, config.stem_stride, ACTIVATION, **bn)
        self.first_block = MobileBlock(LayerArgs("ds", stem, first, 3, 1, 1.0, 0.0, ACTIVATION, False), **bn)
        layers = []
        channels = first
        for point, choices in enumerate(self.space.choices):
            stage, block = self.space.point_position(point)
            width = config.widths[stage]
            stride = config.strides[stage] if block == 0 else 1
            layers.append(ChoiceLayer(channels, width, stride, choices, **bn))
            channels = width
        self.layers = nn.ModuleList(layers)
        self.final_expand = ConvBNAct(channels, config.head_channels, 1, 1, ACTIVATION, **bn)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.head_channels, config.num_classes)
        self._cost_cache: dict[int, tuple] = {}

    def _check(self, arch: ChoiceArch) -> None:
        if len(arch.ops) != len(self.layers):
            raise ValueError(f"a ProxylessNAS arch has {len(self.layers)} layer choices, got {len(arch.ops)}")

    def _features(self, x: torch.Tensor, arch: ChoiceArch, keep: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        self._check(arch)
        x = self.first_block(self.stem(x))
        features = [x] if keep else []
        for layer, choice in zip(self.layers, arch.ops, strict=True):
            x = layer(x, choice)
            if keep:
                features.append(x)
        return x, features

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(torch.flatten(self.pool(self.final_expand(x)), 1)))

    def forward(self, x: torch.Tensor, arch: ChoiceArch) -> torch.Tensor:
        return self._head(self._features(x, arch, keep=False)[0])

    def forward_features(self, x: torch.Tensor, arch: ChoiceArch) -> list[torch.Tensor]:
        """The 22 probed outputs (first block and the 21 searchable layers) of `arch`, in depth order."""
        return self._features(x, arch, keep=True)[1]

    # the supernet contract (naslid.nn.supernet.SuperNet)
    def probed_layers(self) -> list[nn.Module]:
        """The fixed first block and the 21 `ChoiceLayer`s (a `zero` layer's output is its input)."""
        return [self.first_block, *self.layers]

    def choice_parameters(self, point: int) -> list[str]:
        """The weights of every candidate of choice point `point`."""
        own = f"layers.{point}.candidates."
        return [name for name, _ in self.named_parameters() if name.startswith(own)]

    def body_parameters(self) -> list[str]:
        """The searchable layers' weights (not the stem, the fixed first block, the head or the classifier)."""
        return [name for name, _ in self.named_parameters() if name.startswith("layers.")]

    def gradient_reference_parameters(self) -> list[str]:
        """Every parameter (stem, first block, layers, final expand, classifier): GM-NAS's ProxylessNAS code
        (skhu101/GM-NAS `Proxylessnas-GM/search/models/super_nets/super_proxyless.py`, `get_split_gradients`)
        takes the first conv, every block, the feature mix layer and the classifier; the split layer's own
        candidates are left out by the criterion, and off-path candidates have no gradient there as here."""
        return [name for name, _ in self.named_parameters()]

    def arch_spec(self, arch: ChoiceArch) -> MobileNetSpec:
        """The standalone network of `arch` as a `MobileNetSpec` (`zero` layers left out)."""
        self._check(arch)
        config = self.config
        stages: list[list[str]] = [[f"ds_r1_k3_s1_c{config.scaled(config.first_block_channels)}"]]
        for point, choice in enumerate(arch.ops):
            stage, block = self.space.point_position(point)
            if block == 0:
                stages.append([])
            if choice == ZERO:
                continue
            kernel, expansion = parse_choice(choice)
            stride = config.strides[stage] if block == 0 else 1
            stages[-1].append(f"ir_r1_k{kernel}_s{stride}_e{expansion}_c{config.widths[stage]}")
        return MobileNetSpec(
            config.scaled(config.stem_channels), stages, num_classes=config.num_classes,
            in_channels=config.in_channels, stem_stride=config.stem_stride, stem_activation=ACTIVATION,
            activation=ACTIVATION, final_expand_channels=config.head_channels, head_activation=ACTIVATION,
            dropout=config.dropout, bn_eps=config.bn_eps, bn_momentum=config.bn_momentum,
        )

    def arch_costs(self, arch: ChoiceArch, resolution: int | None = None) -> dict[str, float]:
        """MACs (millions, `count_flops`'s convention) and parameters (millions) of `arch`'s standalone network.

        `resolution` defaults to 32 with `small_input` and 224 otherwise. Fast (a table lookup per layer):
        every layer's input size is fixed, since `zero` never sits where the shape changes. Equal to
        `arch_spec(arch).macs(resolution)` and `.parameters()`.
        """
        self._check(arch)
        base, table = self._cost_table(resolution or (32 if self.config.small_input else 224))
        macs, params = base
        for costs, choice in zip(table, arch.ops, strict=True):
            macs, params = macs + costs[choice][0], params + costs[choice][1]
        return {"mflops": macs / 1e6, "params_m": params / 1e6}

    def _cost_table(self, resolution: int) -> tuple[tuple[int, int], list[dict[str, tuple[int, int]]]]:
        """(MACs, params) outside the searchable layers, and per layer per choice; cached per resolution."""
        if resolution not in self._cost_cache:
            size = conv_output_size(resolution, self.config.stem_stride)  # the first block keeps the size
            table = []
            for layer in self.layers:
                costs = {ZERO: (0, 0)}
                for choice, block in layer.candidates.items():
                    costs[choice] = (layer_macs(block.layer, size, size), layer_parameters(block.layer))
                size = conv_output_size(size, next(iter(layer.candidates.values())).layer.stride)
                table.append(costs)
            reference = self.space.make_arch(tuple(choices[0] for choices in self.space.choices))
            spec = self.arch_spec(reference)
            chosen = [costs[choice] for costs, choice in zip(table, reference.ops, strict=True)]
            base = (spec.macs(resolution) - sum(c[0] for c in chosen), spec.parameters() - sum(c[1] for c in chosen))
            self._cost_cache[resolution] = (base, table)
        return self._cost_cache[resolution]

    def extract(self, arch: ChoiceArch) -> MobileNet:
        """A standalone `MobileNet` for `arch` holding copies of this supernet's weights and BN statistics."""
        network = MobileNet(self.arch_spec(arch))
        pairs = [(network.stem, self.stem), (network.stages[0][0], self.first_block),
                 (network.final_expand, self.final_expand), (network.classifier, self.classifier)]
        position = {stage: 0 for stage in range(1, len(network.stages))}
        for point, (layer, choice) in enumerate(zip(self.layers, arch.ops, strict=True)):
            if choice == ZERO:
                continue
            stage = self.space.point_position(point)[0] + 1
            pairs.append((network.stages[stage][position[stage]], layer.candidates[choice]))
            position[stage] += 1
        for target, source in pairs:
            target.load_state_dict({name: value.detach().clone() for name, value in source.state_dict().items()})
        return network.to(next(self.parameters()).device)
