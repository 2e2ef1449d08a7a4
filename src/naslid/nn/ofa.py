"""The OFA-MobileNetV3 weight-sharing supernet: elastic kernel, expansion and depth on shared weights.

Layout and elastic ops follow mit-han-lab/once-for-all at f03b267 (read there:
`ofa/imagenet_classification/elastic_nn/networks/ofa_mbv3.py`, `.../elastic_nn/modules/dynamic_layers.py`
(`DynamicMBConvLayer`), `.../modules/dynamic_op.py` (`DynamicSeparableConv2d` with
`KERNEL_TRANSFORM_MODE = 1`, `DynamicBatchNorm2d`, `DynamicSE`), `ofa/utils/pytorch_modules.py`
(`make_divisible`, `SEModule`, `Hswish`, `Hsigmoid`)):

- stem: 3x3 conv stride 2, BN, h-swish, 16 channels; a fixed first block (3x3 depthwise, e1, ReLU, 16,
  identity shortcut); five elastic stages of up to 4 MBConv blocks with widths (24, 40, 80, 112, 160),
  strides (2, 2, 2, 1, 2), activations (relu, relu, h-swish, h-swish, h-swish), SE (no, yes, no, yes, yes);
  a 1x1 final expand to 960 (BN, h-swish), global pooling, a 1x1 feature mix to 1280 (no BN, h-swish),
  dropout and the classifier. Widths are `make_divisible(width * width_mult, 8)` as OFA computes them.
- each block position holds ONE block at the largest kernel (7) and expansion (6). A kernel of 5 is the
  centre 5x5 of the 7x7 depthwise kernel passed through the block's learned 25x25 matrix (`transform_7to5`);
  3 is the centre 3x3 of that through a 9x9 matrix (`transform_5to3`), both initialised to the identity.
  Expansion e uses the first `mid = make_divisible(in * e, 8)` channels of the expand, depthwise, SE and
  project weights and of the BNs (running statistics included), and SE squeezes to
  `make_divisible(mid // 4, 8)`. Depth d runs the first d blocks of a stage.

Single path. Each shared weight is stored as separately trainable pieces cut at the expansion boundaries
(channels [0, mid3), [mid3, mid4), [mid4, mid6); the 7x7 depthwise kernel as its centre 5x5 and its outer
ring), assembled on each forward. A step therefore leaves the pieces it did not use with a `None` gradient,
so SGD's weight decay and momentum skip them, exactly as for whole blocks beyond the sampled depth.
BN running statistics are updated through views of their first `mid` channels, so unused channels keep
theirs. State shared by every choice that runs a block: the first `mid3` channels (all expansions use
them), the centre 5x5 kernel (all kernel sizes), the 7to5 matrix (kernels 3 and 5), the projection BN and
each BN's `num_batches_tracked`. (OFA itself keeps whole tensors, so its weight decay moves unused slices;
a state dict of this module is therefore not OFA's checkpoint layout.)

Probes: the first block and the 20 block positions (21 outputs); an inactive block is an identity that
still fires its hook, so every architecture, whatever its depths, gives a profile of the same length.
Export: `arch_spec(arch, config)` is the `naslid.nn.mobilenet.MobileNetSpec` of the active path,
`extract(arch)` that `MobileNet` with the supernet's active weights (same outputs in eval mode), and
`arch_costs(arch, resolution, config)` its analytic MACs and parameters. The extraction lives here because
it reads the weight layout above.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import torch
from torch import nn
from torch.nn import functional as F

from naslid.nn.mobilenet import MobileNet, MobileNetSpec
from naslid.nn.supernet import WIDTH_MULT_FLAG
from naslid.spaces.ofa import (
    DEPTHS,
    EXPAND_RATIOS,
    MAX_DEPTH,
    OFAArch,
    OFASpace,
    parse_arch,
)

STEM_WIDTH = 16
FIRST_BLOCK_WIDTH = 16
STAGE_WIDTHS = (24, 40, 80, 112, 160)
STAGE_STRIDES = (2, 2, 2, 1, 2)
STAGE_ACTIVATIONS = ("relu", "relu", "hard_swish", "hard_swish", "hard_swish")
STAGE_SE = (False, True, False, True, True)
FINAL_EXPAND_WIDTH = 960  # 6 x 160
FEATURE_MIX_WIDTH = 1280
MAX_KERNEL = 7
_ACTIVATIONS = {"relu": F.relu, "hard_swish": F.hardswish}


def make_divisible(value: float, divisor: int = 8) -> int:
    """OFA's (and TF MobileNet's) channel rounding: nearest multiple of `divisor`, never 10% below `value`."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


@dataclass(frozen=True)
class OFAConfig:
    """Shape of the OFA-MobileNetV3 supernet; defaults are OFA's `ofa_mbv3_d234_e346_k357_w1.0` on ImageNet."""

    # OFA publishes 1.0 and 1.2; any positive number works
    width_mult: float = field(default=1.0, metadata=WIDTH_MULT_FLAG)
    num_classes: int = 1000
    in_channels: int = 3
    small_input: bool = False  # stem stride 1 instead of 2 (32x32 CIFAR-sized inputs)
    dropout: float = 0.1  # before the classifier; OFAMobileNetV3's default dropout_rate
    bn_momentum: float = 0.1  # OFA's bn_param
    bn_eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("num_classes", "in_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}; expected an integer >= 1")
        if isinstance(self.width_mult, bool) or not isinstance(self.width_mult, int | float) or not (
                0 < self.width_mult < math.inf):
            raise ValueError(f"width_mult={self.width_mult!r}; expected a positive finite number (OFA: 1.0, 1.2)")
        if not isinstance(self.small_input, bool):
            raise ValueError(f"small_input={self.small_input!r}; expected True or False")
        for name, low, high in (("dropout", 0.0, 1.0), ("bn_momentum", 0.0, 1.0), ("bn_eps", 0.0, 1.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value < high:
                raise ValueError(f"{name}={value!r}; expected a number in [{low:g}, {high:g})")

    def to_dict(self) -> dict:
        return asdict(self)

    def width(self, base: int) -> int:
        """A base width scaled by `width_mult` as OFA does."""
        return make_divisible(base * self.width_mult)

    @property
    def stage_widths(self) -> tuple[int, ...]:
        return tuple(self.width(w) for w in STAGE_WIDTHS)

    def block_in_channels(self, stage: int, block: int) -> int:
        """Input channels of a block position (the previous stage's width for a stage's first block)."""
        if block > 0:
            return self.stage_widths[stage]
        return self.stage_widths[stage - 1] if stage > 0 else self.width(FIRST_BLOCK_WIDTH)


def _he_fout(*shape: int) -> torch.Tensor:
    """OFA's `init_model('he_fout')` for a conv weight [out, in/groups, k, k]: normal(0, sqrt(2 / (k*k*out)))."""
    fan_out = shape[0] * shape[2] * shape[3]
    return torch.randn(*shape) * math.sqrt(2.0 / fan_out)


class _Pieces(nn.Module):
    """A weight kept as separately trainable pieces on a grid of row ranges x column ranges.

    `take(rows, cols)` assembles the first `rows` row ranges and `cols` column ranges; the pieces outside
    are not used, so they get no gradient. Empty pieces (equal bounds) are not stored.
    """

    def __init__(self, full: torch.Tensor, row_bounds: tuple[int, ...], col_bounds: tuple[int, ...] | None = None):
        super().__init__()
        self.row_bounds, self.col_bounds = row_bounds, col_bounds
        self.keys: list[list[str | None]] = []
        for i in range(len(row_bounds) - 1):
            row = []
            for j in range(len(col_bounds) - 1 if col_bounds else 1):
                piece = full[row_bounds[i]:row_bounds[i + 1]]
                if col_bounds:
                    piece = piece[:, col_bounds[j]:col_bounds[j + 1]]
                key = f"p{i}{j}" if col_bounds else f"p{i}"
                if piece.numel():
                    self.register_parameter(key, nn.Parameter(piece.clone()))
                row.append(key if piece.numel() else None)
            self.keys.append(row)

    def take(self, rows: int, cols: int = 1) -> torch.Tensor:
        parts = []
        for row in self.keys[:rows]:
            pieces = [getattr(self, key) for key in row[:cols] if key is not None]
            if pieces:
                parts.append(torch.cat(pieces, 1) if len(pieces) > 1 else pieces[0])
        return torch.cat(parts, 0) if len(parts) > 1 else parts[0]

    def full(self) -> torch.Tensor:
        return self.take(len(self.keys), len(self.keys[0]))


class ElasticBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm over the first channels of its input (OFA's `DynamicBatchNorm2d`), affine pieces per range.

    A `_BatchNorm` (affine=False, the affine weight and bias live in `scale` and `shift`), so
    `naslid.nn.state.preserved_state` and BN recalibration treat it as any other BN. Running statistics are
    updated through views of their first channels: channels the input lacks keep their statistics.
    """

    def __init__(self, bounds: tuple[int, ...], eps: float, momentum: float) -> None:
        super().__init__(bounds[-1], eps=eps, momentum=momentum, affine=False)
        self.bounds = bounds
        self.scale = _Pieces(torch.ones(bounds[-1]), bounds)
        self.shift = _Pieces(torch.zeros(bounds[-1]), bounds)

    def forward(self, x: torch.Tensor, ranges: int | None = None) -> torch.Tensor:  # type: ignore[override]
        ranges = len(self.bounds) - 1 if ranges is None else ranges
        channels = self.bounds[ranges]
        assert x.shape[1] == channels, (x.shape, channels)
        factor = 0.0
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        use_batch = self.training or self.running_mean is None
        return F.batch_norm(x, self.running_mean[:channels], self.running_var[:channels], self.scale.take(ranges),
                            self.shift.take(ranges), use_batch, factor, self.eps)


class ElasticMBConv(nn.Module):
    """One block position: an MBConv at kernel 7 and expansion 6 whose smaller kernels and expansions share
    its weights (see the module docstring). `forward(x, kernel, expand)`; `kernel=None` skips the block."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, activation: str, use_se: bool,
                 bn_eps: float = 1e-5, bn_momentum: float = 0.1) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.activation, self.use_se = activation, use_se
        mids = tuple(make_divisible(round(in_channels * e)) for e in EXPAND_RATIOS)
        self.mid_bounds = (0, *mids)
        self.se_bounds = (0, *(make_divisible(m // 4) for m in mids))
        mid, bn = mids[-1], {"eps": bn_eps, "momentum": bn_momentum}
        self.expand_weight = _Pieces(_he_fout(mid, in_channels, 1, 1), self.mid_bounds, (0, in_channels))
        self.expand_bn = ElasticBatchNorm2d(self.mid_bounds, **bn)
        kernel = _he_fout(mid, 1, MAX_KERNEL, MAX_KERNEL)
        ring = torch.ones(MAX_KERNEL, MAX_KERNEL, dtype=torch.bool)
        ring[1:-1, 1:-1] = False
        self.depthwise_centre = _Pieces(kernel[:, :, 1:-1, 1:-1].reshape(mid, 1, 25), self.mid_bounds, (0, 1))
        self.depthwise_ring = _Pieces(kernel.reshape(mid, 1, 49)[:, :, ring.flatten()], self.mid_bounds, (0, 1))
        # position in cat([centre (25), ring (24)]) of each of the 49 entries of the 7x7 kernel
        order = torch.empty(49, dtype=torch.long)
        order[~ring.flatten()] = torch.arange(25)
        order[ring.flatten()] = 25 + torch.arange(24)
        self.register_buffer("_kernel_order", order, persistent=False)
        self.transform_7to5 = nn.Parameter(torch.eye(25))  # OFA's "7to5_matrix"
        self.transform_5to3 = nn.Parameter(torch.eye(9))  # OFA's "5to3_matrix"
        self.depthwise_bn = ElasticBatchNorm2d(self.mid_bounds, **bn)
        if use_se:
            squeeze = self.se_bounds[-1]
            self.se_reduce_weight = _Pieces(_he_fout(squeeze, mid, 1, 1), self.se_bounds, self.mid_bounds)
            self.se_reduce_bias = _Pieces(torch.zeros(squeeze), self.se_bounds)
            self.se_expand_weight = _Pieces(_he_fout(mid, squeeze, 1, 1), self.mid_bounds, self.se_bounds)
            self.se_expand_bias = _Pieces(torch.zeros(mid), self.mid_bounds)
        self.project_weight = _Pieces(_he_fout(out_channels, mid, 1, 1), (0, out_channels), self.mid_bounds)
        self.project_bn = nn.BatchNorm2d(out_channels, **bn)
        self.has_skip = stride == 1 and in_channels == out_channels

    def mid_channels(self, expand: int) -> int:
        return self.mid_bounds[EXPAND_RATIOS.index(expand) + 1]

    def depthwise_kernel(self, kernel: int, ranges: int) -> torch.Tensor:
        """The [mid, 1, k, k] depthwise kernel: the 7x7, or its centre through OFA's transform matrices."""
        centre = self.depthwise_centre.take(ranges)
        mid = centre.shape[0]
        if kernel == MAX_KERNEL:
            full = torch.cat([centre, self.depthwise_ring.take(ranges)], 2)
            return full[:, :, self._kernel_order].view(mid, 1, MAX_KERNEL, MAX_KERNEL)
        five = F.linear(centre.reshape(mid, 25), self.transform_7to5).view(mid, 1, 5, 5)
        if kernel == 5:
            return five
        if kernel != 3:
            raise ValueError(f"kernel={kernel}; expected 3, 5 or 7")
        return F.linear(five[:, :, 1:4, 1:4].reshape(mid, 9), self.transform_5to3).view(mid, 1, 3, 3)

    def block_weights(self, kernel: int, expand: int) -> dict[str, torch.Tensor]:
        """The active weights of (kernel, expand), shaped as a standalone MBConv's (for `extract`)."""
        ranges = EXPAND_RATIOS.index(expand) + 1
        weights = {"expand": self.expand_weight.take(ranges), "depthwise": self.depthwise_kernel(kernel, ranges),
                   "project": self.project_weight.take(1, ranges)}
        if self.use_se:
            weights.update(se_reduce=self.se_reduce_weight.take(ranges, ranges),
                           se_reduce_bias=self.se_reduce_bias.take(ranges),
                           se_expand=self.se_expand_weight.take(ranges, ranges),
                           se_expand_bias=self.se_expand_bias.take(ranges))
        return weights

    def forward(self, x: torch.Tensor, kernel: int | None = None, expand: int | None = None) -> torch.Tensor:
        if kernel is None:  # inactive (beyond the stage's depth): an identity, so probes still fire
            return x
        ranges = EXPAND_RATIOS.index(expand) + 1
        act = _ACTIVATIONS[self.activation]
        w = self.block_weights(kernel, expand)
        out = act(self.expand_bn(F.conv2d(x, w["expand"]), ranges))
        mid = out.shape[1]
        out = F.conv2d(out, w["depthwise"], None, self.stride, kernel // 2, 1, mid)
        out = act(self.depthwise_bn(out, ranges))
        if self.use_se:
            scale = F.relu(F.conv2d(out.mean((2, 3), keepdim=True), w["se_reduce"], w["se_reduce_bias"]))
            out = out * F.hardsigmoid(F.conv2d(scale, w["se_expand"], w["se_expand_bias"]))
        out = self.project_bn(F.conv2d(out, w["project"]))
        return out + x if self.has_skip else out


class _ConvBNAct(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, activation: nn.Module | None,
                 groups: int = 1, bn_eps: float = 1e-5, bn_momentum: float = 0.1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=bn_eps, momentum=bn_momentum)
        self.act = activation or nn.Identity()


class FirstBlock(nn.Module):
    """OFA-MobileNetV3's fixed first block: 3x3 depthwise BN ReLU, 1x1 project BN, identity shortcut."""

    def __init__(self, channels: int, out_channels: int, bn_eps: float, bn_momentum: float) -> None:
        super().__init__()
        bn = {"bn_eps": bn_eps, "bn_momentum": bn_momentum}
        self.depthwise = _ConvBNAct(channels, channels, 3, 1, nn.ReLU(), groups=channels, **bn)
        self.project = _ConvBNAct(channels, out_channels, 1, 1, None, **bn)
        self.has_skip = channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(x))
        return out + x if self.has_skip else out


class OFASuperNet(nn.Module):
    """The OFA-MobileNetV3 supernet: `stem`, `first_block`, `blocks` (20 positions, stage-major), `final_expand`,
    `feature_mix`, `classifier`. `forward(x, arch)` runs only the blocks and weight pieces `arch` names."""

    space = OFASpace()

    def __init__(self, width_mult: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
                 small_input: bool = False, dropout: float = 0.1, config: OFAConfig | None = None) -> None:
        super().__init__()
        config = config or OFAConfig(width_mult, num_classes, in_channels, small_input, dropout)
        self.config = config
        bn = {"bn_eps": config.bn_eps, "bn_momentum": config.bn_momentum}
        stem, first = config.width(STEM_WIDTH), config.width(FIRST_BLOCK_WIDTH)
        self.stem = _ConvBNAct(config.in_channels, stem, 3, 1 if config.small_input else 2, nn.Hardswish(), **bn)
        self.first_block = FirstBlock(stem, first, **bn)
        blocks = []
        for stage, width in enumerate(config.stage_widths):
            for block in range(MAX_DEPTH):
                blocks.append(ElasticMBConv(
                    config.block_in_channels(stage, block), width, STAGE_STRIDES[stage] if block == 0 else 1,
                    STAGE_ACTIVATIONS[stage], STAGE_SE[stage], bn_eps=config.bn_eps, bn_momentum=config.bn_momentum))
        self.blocks = nn.ModuleList(blocks)
        final, mix = config.width(FINAL_EXPAND_WIDTH), config.width(FEATURE_MIX_WIDTH)
        self.final_expand = _ConvBNAct(config.stage_widths[-1], final, 1, 1, nn.Hardswish(), **bn)
        self.feature_mix = nn.Sequential(nn.Conv2d(final, mix, 1, bias=False), nn.Hardswish())
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(mix, config.num_classes)
        for module in (self.stem, self.first_block, self.final_expand, self.feature_mix):
            for layer in module.modules():
                if isinstance(layer, nn.Conv2d):
                    layer.weight.data.copy_(_he_fout(*layer.weight.shape))
        nn.init.zeros_(self.classifier.bias)

    @staticmethod
    def _block_choices(arch: OFAArch) -> list[tuple[int | None, int | None]]:
        """(kernel, expand) per block position, (None, None) where the block is inactive."""
        choices = []
        for stage, depth in enumerate(arch.depths):
            for block in range(MAX_DEPTH):
                choices.append(arch.block(stage, block) if block < depth else (None, None))
        return choices

    def _features(self, x: torch.Tensor, arch: OFAArch, keep: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if not isinstance(arch, OFAArch):
            raise ValueError(f"the OFA supernet runs an OFAArch, got {type(arch).__name__}")
        features = []
        x = self.first_block(self.stem(x))
        if keep:
            features.append(x)
        for block, (kernel, expand) in zip(self.blocks, self._block_choices(arch), strict=True):
            x = block(x, kernel, expand)
            if keep:
                features.append(x)
        return x, features

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.feature_mix(F.adaptive_avg_pool2d(self.final_expand(x), 1))
        return self.classifier(self.dropout(torch.flatten(x, 1)))

    def forward(self, x: torch.Tensor, arch: OFAArch) -> torch.Tensor:
        return self._head(self._features(x, arch, keep=False)[0])

    def forward_features(self, x: torch.Tensor, arch: OFAArch) -> list[torch.Tensor]:
        """The 21 probed outputs (first block, then the 20 block positions; an inactive one repeats its input)."""
        return self._features(x, arch, keep=True)[1]

    # the supernet contract (naslid.nn.supernet.SuperNet)
    def probed_layers(self) -> list[nn.Module]:
        """The first block and the 20 block positions (21 layers). An inactive block runs as an identity, so its
        hook fires with its input: every architecture gives a 21-long profile, also across depth choices."""
        return [self.first_block, *self.blocks]

    def choice_parameters(self, point: int) -> list[str]:
        """A block point: all of that block position's parameters (shared by its 9 choices). A depth point:
        the parameters of the stage's blocks beyond depth 2 (those that d3/d4 add)."""
        if not 0 <= point < len(self.space.points):
            raise ValueError(f"point {point} out of range 0..{len(self.space.points) - 1}")
        stage, offset = divmod(point, MAX_DEPTH + 1)
        if offset == 0:
            positions = [stage * MAX_DEPTH + b for b in range(min(DEPTHS), MAX_DEPTH)]
        else:
            positions = [stage * MAX_DEPTH + offset - 1]
        prefixes = tuple(f"blocks.{p}." for p in positions)
        return [name for name, _ in self.named_parameters() if name.startswith(prefixes)]

    def body_parameters(self) -> list[str]:
        """The 20 elastic block positions' parameters (stem, first block and head excluded)."""
        return [name for name, _ in self.named_parameters() if name.startswith("blocks.")]

    def gradient_reference_parameters(self) -> list[str]:
        """Every parameter (stem, first block, blocks, final expand, feature mix, classifier): GM-NAS's OFA code
        (skhu101/GM-NAS `once-for-all-GM/elastic_nn/networks/ofa_mbv3.py`, `get_split_gradients`) takes the first
        conv, every block but the split one, the final expand and feature mix layers and the classifier; the split
        point's own parameters are left out by the criterion."""
        return [name for name, _ in self.named_parameters()]

    def extract(self, arch: OFAArch) -> MobileNet:
        return extract_network(self, arch)

    def arch_spec(self, arch: OFAArch) -> MobileNetSpec:
        return arch_spec(arch, self.config)

    def arch_costs(self, arch: OFAArch, resolution: int = 224) -> dict[str, float]:
        return arch_costs(arch, resolution, self.config)


def arch_spec(arch: OFAArch, config: OFAConfig | None = None) -> MobileNetSpec:
    """The standalone network of `arch` as a `MobileNetSpec`: timm block strings such as
    ``ir_r1_k5_s2_e4_c40_se0.25_nre`` (timm's MobileNetV3 convention: h-swish by default, ``nre`` for ReLU).

    Inactive blocks are left out; channels are final (`width_mult` applied).
    """
    config = config or OFAConfig()
    if not isinstance(arch, OFAArch):
        raise ValueError(f"arch_spec takes an OFAArch, got {type(arch).__name__}")
    first = config.width(FIRST_BLOCK_WIDTH)
    stages = [(f"ds_r1_k3_s1_c{first}_nre",)]
    for stage, width in enumerate(config.stage_widths):
        blocks = []
        for block in range(arch.depths[stage]):
            kernel, expand = arch.block(stage, block)
            stride = STAGE_STRIDES[stage] if block == 0 else 1
            text = f"ir_r1_k{kernel}_s{stride}_e{expand}_c{width}"
            text += "_se0.25" if STAGE_SE[stage] else ""
            text += "_nre" if STAGE_ACTIVATIONS[stage] == "relu" else ""
            blocks.append(text)
        stages.append(tuple(blocks))
    return MobileNetSpec(
        stem_channels=config.width(STEM_WIDTH), stages=tuple(stages), num_classes=config.num_classes,
        in_channels=config.in_channels, stem_kernel=3, stem_stride=1 if config.small_input else 2,
        stem_activation="hard_swish", activation="hard_swish", final_expand_channels=config.width(FINAL_EXPAND_WIDTH),
        feature_mix_channels=config.width(FEATURE_MIX_WIDTH), feature_mix_bias=False, head_activation="hard_swish",
        dropout=config.dropout, bn_eps=config.bn_eps, bn_momentum=config.bn_momentum)


def arch_costs(arch: OFAArch, resolution: int = 224, config: OFAConfig | None = None) -> dict[str, float]:
    """Analytic cost of `arch`'s standalone network: {"mflops": MACs / 1e6, "params_m": parameters / 1e6}.

    MACs count convolutions and linear layers only (`naslid.nn.count_flops`'s convention, which is also
    OFA's `count_flops_given_config` in `ofa/nas/efficiency_predictor/latency_lookup_table.py`). Cached per
    distinct network, since the EA asks for thousands.
    """
    if not isinstance(arch, OFAArch):
        raise ValueError(f"arch_costs takes an OFAArch, got {type(arch).__name__}")
    return dict(_costs(OFASpace.canonical_key(_canonical_arch(arch)), resolution, config or OFAConfig()))


def _canonical_arch(arch: OFAArch) -> OFAArch:
    """`arch` with inactive blocks set to the first choice, so that equal networks share a cache entry."""
    ops = tuple(name if arch.is_active(point) else OFASpace.choices[point][0] for point, name in enumerate(arch.ops))
    return OFAArch(ops)


@lru_cache(maxsize=65536)
def _costs(key: str, resolution: int, config: OFAConfig) -> tuple[tuple[str, float], ...]:
    spec = arch_spec(parse_arch(key.replace("-", "k3_e3")), config)
    return (("mflops", spec.macs(resolution) / 1e6), ("params_m", spec.parameters() / 1e6))


def _copy_bn(target: nn.BatchNorm2d, source: nn.BatchNorm2d, ranges: int | None = None) -> None:
    if isinstance(source, ElasticBatchNorm2d):
        channels = source.bounds[ranges]
        target.weight.copy_(source.scale.take(ranges))
        target.bias.copy_(source.shift.take(ranges))
        target.running_mean.copy_(source.running_mean[:channels])
        target.running_var.copy_(source.running_var[:channels])
        target.num_batches_tracked.copy_(source.num_batches_tracked)
    else:
        target.load_state_dict(source.state_dict())


@torch.no_grad()
def extract_network(supernet: OFASuperNet, arch: OFAArch) -> MobileNet:
    """A standalone `MobileNet` for `arch` holding copies of the supernet's active weights: the transformed
    depthwise kernels, the first `mid` channels, BN statistics included; same outputs in eval mode."""
    network = MobileNet(arch_spec(arch, supernet.config))
    network.stem.load_state_dict(supernet.stem.state_dict())
    first = network.stages[0][0]
    first.depthwise.load_state_dict(supernet.first_block.depthwise.state_dict())
    first.project.load_state_dict(supernet.first_block.project.state_dict())
    for stage, depth in enumerate(arch.depths):
        for block in range(depth):
            source: ElasticMBConv = supernet.blocks[stage * MAX_DEPTH + block]
            target = network.stages[stage + 1][block]
            kernel, expand = arch.block(stage, block)
            ranges = EXPAND_RATIOS.index(expand) + 1
            weights = source.block_weights(kernel, expand)
            target.expand.conv.weight.copy_(weights["expand"])
            _copy_bn(target.expand.bn, source.expand_bn, ranges)
            target.depthwise.conv.weight.copy_(weights["depthwise"])
            _copy_bn(target.depthwise.bn, source.depthwise_bn, ranges)
            if source.use_se:
                target.se.conv_reduce.weight.copy_(weights["se_reduce"])
                target.se.conv_reduce.bias.copy_(weights["se_reduce_bias"])
                target.se.conv_expand.weight.copy_(weights["se_expand"])
                target.se.conv_expand.bias.copy_(weights["se_expand_bias"])
            target.project.conv.weight.copy_(weights["project"])
            _copy_bn(target.project.bn, source.project_bn)
    network.final_expand.load_state_dict(supernet.final_expand.state_dict())
    network.feature_mix[0].weight.copy_(supernet.feature_mix[0].weight)
    network.classifier.load_state_dict(supernet.classifier.state_dict())
    return network.to(next(supernet.parameters()).device)
