"""A standalone MobileNet (V2/V3, ProxylessNAS, OFA style) built from a JSON spec of timm-style block strings.

This module depends on torch only (no other naslid module), so exported architectures load anywhere.

Block strings follow timm's `_decode_block_str` (checked in huggingface/pytorch-image-models,
`timm/models/_efficientnet_builder.py`, and the blocks in `_efficientnet_blocks.py`): ``type_opt_opt...``
where the leading token is the block type and the options may come in any order:

- ``ir``: InvertedResidual (MBConv): 1x1 expand conv BN act, kxk depthwise conv BN act, optional SE,
  1x1 project conv BN (no act), identity shortcut when stride 1, in == out and not ``noskip``. As in timm,
  the expand conv is built for every ``e``, including ``e1`` (mid = ``make_divisible(in * e, 8)``); an
  MBConv1 without expansion (ProxylessNAS's first block, MobileNetV3's first block) is a ``ds`` block.
- ``ds``: DepthwiseSeparable: kxk depthwise conv BN act, optional SE, 1x1 pointwise conv BN (no act),
  identity shortcut when stride 1, in == out and not ``noskip``. timm ignores ``e`` for ``ds``; here only
  ``e1`` is accepted (and dropped when formatting), so a string never says something the network ignores.
- ``r`` repeat (the stride applies to the first repeat only, as timm's builder does), ``k`` depthwise
  kernel (odd), ``s`` stride, ``e`` expansion ratio, ``c`` output channels, ``se`` squeeze-excite ratio,
  ``n`` activation override (``nre`` relu, ``nr6`` relu6, ``nhs`` hard-swish, ``nsw`` swish, ``nmi`` mish),
  ``noskip`` (no shortcut). Unlike timm, unknown options raise `ValueError` instead of being ignored, and
  timm's rarer options (``a``/``p`` kernel sizes, ``cc``, ``gs``, ``d``, ``skip``) are not supported.

SE follows MobileNetV3 (timm's `_gen_mobilenet_v3` and OFA's `SEModule`): squeeze channels
``make_divisible(mid * ratio, 8)`` of the depthwise output's channels, 1x1 conv (bias) ReLU, 1x1 conv (bias),
hard-sigmoid gate. Convolutions have no bias except SE's and the optional feature-mix layer's when asked.

The head: optional ``final_expand_channels`` (1x1 conv BN act before pooling: MobileNetV2's and
ProxylessNAS's 1280 "feature mix", OFA-MobileNetV3's 960 "final expand"), global average pooling,
optional ``feature_mix_channels`` (1x1 conv act after pooling, no BN: OFA-MobileNetV3's 1280), dropout,
linear classifier (with bias).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

import torch
from torch import nn
from torch.nn import functional as F

MOBILENET_SPEC_SCHEMA = "naslid.mobilenet_spec/1"

# spec activation names -> modules; block strings use timm's codes (ACTIVATION_CODES)
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "relu6": nn.ReLU6, "hard_swish": nn.Hardswish, "swish": nn.SiLU, "mish": nn.Mish,
}
ACTIVATION_CODES: dict[str, str] = {"re": "relu", "r6": "relu6", "hs": "hard_swish", "sw": "swish", "mi": "mish"}
_CODE_OF_ACTIVATION = {name: code for code, name in ACTIVATION_CODES.items()}
BLOCK_TYPES = ("ir", "ds")


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round `value` to a multiple of `divisor`, never below `round_limit` of it (timm's, TF's MobileNet rule)."""
    min_value = min_value or divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < round_limit * value:
        new_value += divisor
    return new_value


@dataclass(frozen=True)
class BlockArgs:
    """One decoded block string (before repeats are expanded)."""

    block_type: str  # "ir" or "ds"
    kernel: int
    stride: int
    out_channels: int
    expand_ratio: float = 1.0
    repeat: int = 1
    se_ratio: float = 0.0
    activation: str | None = None  # None: the spec's default block activation
    noskip: bool = False

    def __post_init__(self) -> None:
        if self.block_type not in BLOCK_TYPES:
            raise ValueError(f"block type {self.block_type!r}; expected one of {list(BLOCK_TYPES)}")
        for name in ("kernel", "stride", "out_channels", "repeat"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}; expected an integer >= 1")
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel={self.kernel}; expected an odd kernel size (padding is kernel // 2)")
        if not (self.expand_ratio > 0 and math.isfinite(self.expand_ratio)):
            raise ValueError(f"expand_ratio={self.expand_ratio!r}; expected a number > 0")
        if self.block_type == "ds" and self.expand_ratio != 1:
            raise ValueError(f"a ds block has no expansion; got expand_ratio={self.expand_ratio!r} (use an ir block)")
        if not (0 <= self.se_ratio and math.isfinite(self.se_ratio)):
            raise ValueError(f"se_ratio={self.se_ratio!r}; expected a number >= 0 (0: no SE)")
        if self.activation is not None and self.activation not in ACTIVATIONS:
            raise ValueError(f"activation={self.activation!r}; expected one of {sorted(ACTIVATIONS)} or None")


def _number(text: str, option: str, block: str, kind: type) -> float | int:
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"option {option!r} of block string {block!r} needs a {kind.__name__} value") from None


def parse_block(text: str) -> BlockArgs:
    """Decode a timm-style block string such as ``ir_r2_k5_s2_e6_c40_se0.25_nhs``; ValueError names the fault."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"a block string must be a non-empty str, got {text!r}")
    block_type, *options = text.split("_")
    if block_type not in BLOCK_TYPES:
        raise ValueError(f"block string {text!r} starts with {block_type!r}; expected a block type in "
                         f"{list(BLOCK_TYPES)} (e.g. 'ir_r1_k3_s2_e6_c24')")
    values: dict[str, str] = {}
    activation = None
    noskip = False
    for option in options:
        if option == "noskip":
            noskip = True
        elif option.startswith("n"):  # timm checks activations before the numeric options
            if option[1:] not in ACTIVATION_CODES:
                raise ValueError(f"unknown activation {option!r} in {text!r}; expected one of "
                                 f"{['n' + code for code in ACTIVATION_CODES]}")
            activation = ACTIVATION_CODES[option[1:]]
        else:
            match = re.match(r"(\D*)(\d.*)", option)  # timm: the key is everything before the first digit
            key, value = match.groups() if match else (option, "")
            if key not in ("r", "k", "s", "e", "c", "se") or not value:
                raise ValueError(f"unknown option {option!r} in block string {text!r}; expected r, k, s, e, c, se "
                                 "followed by a number, n<activation> or noskip")
            if key in values:
                raise ValueError(f"option {key!r} appears twice in block string {text!r}")
            values[key] = value
    missing = [key for key in ("r", "k", "s", "c") + (("e",) if block_type == "ir" else ()) if key not in values]
    if missing:
        raise ValueError(f"block string {text!r} lacks option(s) {missing}")
    return BlockArgs(
        block_type=block_type,
        kernel=_number(values["k"], "k", text, int),
        stride=_number(values["s"], "s", text, int),
        out_channels=_number(values["c"], "c", text, int),
        expand_ratio=float(_number(values.get("e", "1"), "e", text, float)),
        repeat=_number(values["r"], "r", text, int),
        se_ratio=float(_number(values.get("se", "0"), "se", text, float)),
        activation=activation,
        noskip=noskip,
    )


def format_block(block: BlockArgs) -> str:
    """The canonical block string of `block` (order type, r, k, s, e, c, se, n, noskip); `parse_block` inverts it."""
    parts = [block.block_type, f"r{block.repeat}", f"k{block.kernel}", f"s{block.stride}"]
    if block.block_type == "ir":
        parts.append(f"e{block.expand_ratio:g}")
    parts.append(f"c{block.out_channels}")
    if block.se_ratio:
        parts.append(f"se{block.se_ratio:g}")
    if block.activation is not None:
        parts.append("n" + _CODE_OF_ACTIVATION[block.activation])
    if block.noskip:
        parts.append("noskip")
    return "_".join(parts)


@dataclass(frozen=True)
class LayerArgs:
    """One built block: a `BlockArgs` with its input channels, stride and activation resolved (repeats expanded)."""

    block_type: str
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    expand_ratio: float
    se_ratio: float
    activation: str
    noskip: bool

    @property
    def mid_channels(self) -> int:
        """Channels of the depthwise conv: the expanded width (timm: make_divisible(in * e)) or the input's."""
        if self.block_type == "ds":
            return self.in_channels
        return make_divisible(self.in_channels * self.expand_ratio)

    @property
    def se_channels(self) -> int:
        return make_divisible(self.mid_channels * self.se_ratio) if self.se_ratio else 0

    @property
    def has_skip(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels and not self.noskip


@dataclass(frozen=True)
class MobileNetSpec:
    """A whole MobileNet: stem, stages of block strings, head. JSON schema ``naslid.mobilenet_spec/1``.

    Channels are final (any width multiplier is already applied). `activation` is the blocks' default,
    overridden per block by an ``n`` option.
    """

    stem_channels: int
    stages: tuple[tuple[str, ...], ...]
    num_classes: int = 1000
    in_channels: int = 3
    stem_kernel: int = 3
    stem_stride: int = 2
    stem_activation: str = "relu"
    activation: str = "relu"
    final_expand_channels: int | None = None  # 1x1 conv BN act before pooling
    feature_mix_channels: int | None = None  # 1x1 conv act after pooling (no BN)
    feature_mix_bias: bool = False
    head_activation: str = "relu"
    dropout: float = 0.0
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1

    def __post_init__(self) -> None:
        if isinstance(self.stages, str | bytes) or not all(
                not isinstance(stage, str | bytes) for stage in self.stages):
            raise ValueError("stages must be a list of stages, each a list of block strings")
        object.__setattr__(self, "stages", tuple(tuple(stage) for stage in self.stages))
        for name in ("stem_channels", "num_classes", "in_channels", "stem_kernel", "stem_stride"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}; expected an integer >= 1")
        for name in ("final_expand_channels", "feature_mix_channels"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name}={value!r}; expected an integer >= 1 or None")
        if self.stem_kernel % 2 == 0:
            raise ValueError(f"stem_kernel={self.stem_kernel}; expected an odd kernel size")
        for name in ("stem_activation", "activation", "head_activation"):
            if getattr(self, name) not in ACTIVATIONS:
                raise ValueError(f"{name}={getattr(self, name)!r}; expected one of {sorted(ACTIVATIONS)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout!r}; expected a number in [0, 1)")
        if not self.stages or any(not stage for stage in self.stages):
            raise ValueError(f"a MobileNet needs at least one stage and one block per stage, got {self.stages}")
        for index, stage in enumerate(self.stages):
            for block in stage:
                try:
                    parse_block(block)
                except ValueError as error:
                    raise ValueError(f"stage {index}: {error}") from None

    def layers(self) -> list[list[LayerArgs]]:
        """Every block per stage with repeats expanded and input channels, strides and activations resolved."""
        channels = self.stem_channels
        stages = []
        for stage in self.stages:
            built = []
            for text in stage:
                block = parse_block(text)
                for repeat in range(block.repeat):
                    built.append(LayerArgs(
                        block.block_type, channels, block.out_channels, block.kernel,
                        block.stride if repeat == 0 else 1, block.expand_ratio, block.se_ratio,
                        block.activation or self.activation, block.noskip,
                    ))
                    channels = block.out_channels
            stages.append(built)
        return stages

    @property
    def last_block_channels(self) -> int:
        return self.layers()[-1][-1].out_channels

    def macs(self, resolution: int | tuple[int, int] = 224) -> int:
        """Multiply-accumulates of one image (Conv2d and Linear only: `naslid.nn.count_flops`'s convention)."""
        height, width = (resolution, resolution) if isinstance(resolution, int) else resolution
        height, width = conv_output_size(height, self.stem_stride), conv_output_size(width, self.stem_stride)
        total = height * width * self.in_channels * self.stem_channels * self.stem_kernel ** 2
        for stage in self.layers():
            for layer in stage:
                total += layer_macs(layer, height, width)
                height, width = conv_output_size(height, layer.stride), conv_output_size(width, layer.stride)
        channels = self.last_block_channels
        if self.final_expand_channels:
            total += height * width * channels * self.final_expand_channels
            channels = self.final_expand_channels
        if self.feature_mix_channels:
            total += channels * self.feature_mix_channels
            channels = self.feature_mix_channels
        return total + channels * self.num_classes

    def parameters(self) -> int:
        """Number of trainable parameters of `MobileNet(self)` (weights, biases, BN affine)."""
        total = self.in_channels * self.stem_channels * self.stem_kernel ** 2 + 2 * self.stem_channels
        total += sum(layer_parameters(layer) for stage in self.layers() for layer in stage)
        channels = self.last_block_channels
        if self.final_expand_channels:
            total += channels * self.final_expand_channels + 2 * self.final_expand_channels
            channels = self.final_expand_channels
        if self.feature_mix_channels:
            total += channels * self.feature_mix_channels + (self.feature_mix_channels if self.feature_mix_bias else 0)
            channels = self.feature_mix_channels
        return total + channels * self.num_classes + self.num_classes

    def to_json(self) -> dict:
        data = {"schema": MOBILENET_SPEC_SCHEMA, **asdict(self)}
        data["stages"] = [list(stage) for stage in self.stages]
        return data

    def dumps(self) -> str:
        return json.dumps(self.to_json())

    @classmethod
    def from_json(cls, data: Mapping | str) -> MobileNetSpec:
        """Read `to_json()`'s dict (or its JSON text); refuses other schemas and unknown keys."""
        if isinstance(data, str):
            data = json.loads(data)
        schema = data.get("schema", "") if isinstance(data, Mapping) else ""
        if not str(schema).startswith("naslid.mobilenet_spec/"):
            raise ValueError(f"not a naslid MobileNet spec (schema {schema!r})")
        if schema != MOBILENET_SPEC_SCHEMA:
            raise ValueError(f"unsupported MobileNet spec schema {schema!r}; this naslid reads "
                             f"{MOBILENET_SPEC_SCHEMA!r}")
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(data) - known - {"schema"})
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in MobileNet spec; expected {sorted(known)}")
        return cls(**{key: value for key, value in data.items() if key != "schema"})

    def replace(self, **changes: object) -> MobileNetSpec:
        return replace(self, **changes)


def layer_macs(layer: LayerArgs, height: int, width: int) -> int:
    """Multiply-accumulates of one block on a `height` x `width` input (Conv2d only, as `count_flops`)."""
    mid = layer.mid_channels
    total = height * width * layer.in_channels * mid if layer.block_type == "ir" else 0  # 1x1 expand
    height, width = conv_output_size(height, layer.stride), conv_output_size(width, layer.stride)
    total += height * width * mid * layer.kernel ** 2  # depthwise
    total += 2 * mid * layer.se_channels  # SE on the pooled 1x1 map
    return total + height * width * mid * layer.out_channels  # 1x1 project


def layer_parameters(layer: LayerArgs) -> int:
    """Trainable parameters of one block (conv weights, BN affine, SE biases)."""
    mid = layer.mid_channels
    total = layer.in_channels * mid + 2 * mid if layer.block_type == "ir" else 0
    total += mid * layer.kernel ** 2 + 2 * mid
    if layer.se_channels:
        total += 2 * mid * layer.se_channels + layer.se_channels + mid
    return total + mid * layer.out_channels + 2 * layer.out_channels


def conv_output_size(size: int, stride: int) -> int:
    """Output size of an odd-kernel conv with padding kernel // 2."""
    return (size - 1) // stride + 1


class ConvBNAct(nn.Sequential):
    """Conv (no bias) - BN - activation, with padding kernel // 2."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, activation: str | None,
                 groups: int = 1, bn_eps: float = 1e-5, bn_momentum: float = 0.1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=bn_eps, momentum=bn_momentum)
        self.act = ACTIVATIONS[activation]() if activation else nn.Identity()


class SqueezeExcite(nn.Module):
    """MobileNetV3's SE: average pool, 1x1 conv ReLU, 1x1 conv, hard-sigmoid gate."""

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, squeeze_channels, 1, bias=True)
        self.act = nn.ReLU()
        self.conv_expand = nn.Conv2d(squeeze_channels, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.conv_expand(self.act(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        return x * F.hardsigmoid(scale)


class MobileBlock(nn.Module):
    """An ``ir`` (MBConv) or ``ds`` block as `LayerArgs` describes it; see the module docstring."""

    def __init__(self, layer: LayerArgs, bn_eps: float = 1e-5, bn_momentum: float = 0.1) -> None:
        super().__init__()
        self.layer = layer
        mid, bn = layer.mid_channels, {"bn_eps": bn_eps, "bn_momentum": bn_momentum}
        self.expand = (ConvBNAct(layer.in_channels, mid, 1, 1, layer.activation, **bn)
                       if layer.block_type == "ir" else nn.Identity())
        self.depthwise = ConvBNAct(mid, mid, layer.kernel, layer.stride, layer.activation, groups=mid, **bn)
        self.se = SqueezeExcite(mid, layer.se_channels) if layer.se_channels else nn.Identity()
        self.project = ConvBNAct(mid, layer.out_channels, 1, 1, None, **bn)
        self.has_skip = layer.has_skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.depthwise(self.expand(x))))
        return out + x if self.has_skip else out


class MobileNet(nn.Module):
    """The network `spec` describes: `stem`, `stages` (a list of block sequences), head and `classifier`."""

    def __init__(self, spec: MobileNetSpec) -> None:
        super().__init__()
        self.spec = spec
        bn = {"bn_eps": spec.bn_eps, "bn_momentum": spec.bn_momentum}
        self.stem = ConvBNAct(spec.in_channels, spec.stem_channels, spec.stem_kernel, spec.stem_stride,
                              spec.stem_activation, **bn)
        self.stages = nn.ModuleList(nn.Sequential(*(MobileBlock(layer, **bn) for layer in stage))
                                    for stage in spec.layers())
        channels = spec.last_block_channels
        self.final_expand: nn.Module = nn.Identity()
        if spec.final_expand_channels:
            self.final_expand = ConvBNAct(channels, spec.final_expand_channels, 1, 1, spec.head_activation, **bn)
            channels = spec.final_expand_channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.feature_mix: nn.Module = nn.Identity()
        if spec.feature_mix_channels:
            self.feature_mix = nn.Sequential(
                nn.Conv2d(channels, spec.feature_mix_channels, 1, bias=spec.feature_mix_bias),
                ACTIVATIONS[spec.head_activation](),
            )
            channels = spec.feature_mix_channels
        self.dropout = nn.Dropout(spec.dropout)
        self.classifier = nn.Linear(channels, spec.num_classes)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of every block, in depth order."""
        outputs = []
        x = self.stem(x)
        for stage in self.stages:
            for block in stage:
                x = block(x)
                outputs.append(x)
        return outputs

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.feature_mix(self.pool(self.final_expand(x)))
        return self.classifier(self.dropout(torch.flatten(x, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.forward_head(x)
