"""The standalone MobileNet: block strings, spec JSON, analytic costs against hook counts and published figures."""

import ast
from pathlib import Path

import pytest
import torch

from naslid.nn.cost import count_flops, count_parameters
from naslid.nn.mobilenet import (
    MOBILENET_SPEC_SCHEMA,
    BlockArgs,
    MobileNet,
    MobileNetSpec,
    format_block,
    make_divisible,
    parse_block,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _small_spec(**changes) -> MobileNetSpec:
    spec = MobileNetSpec(
        8,
        [["ds_r1_k3_s1_c8_se0.25_nre"], ["ir_r2_k3_s2_e4_c16_nre"],
         ["ir_r1_k5_s2_e3_c24_se0.25", "ir_r1_k7_s1_e6_c24"]],
        num_classes=5, activation="hard_swish", stem_activation="hard_swish", final_expand_channels=48,
        feature_mix_channels=64, feature_mix_bias=True, head_activation="hard_swish",
    )
    return spec.replace(**changes)


@pytest.mark.parametrize("text, expected", [
    ("ir_r1_k5_s2_e6_c40", BlockArgs("ir", 5, 2, 40, 6.0)),
    ("ir_r2_k3_s1_e4_c24_nre", BlockArgs("ir", 3, 1, 24, 4.0, repeat=2, activation="relu")),
    ("ir_r3_k5_s2_e3_c40_se0.25_nre", BlockArgs("ir", 5, 2, 40, 3.0, repeat=3, se_ratio=0.25, activation="relu")),
    ("ds_r1_k3_s1_c16", BlockArgs("ds", 3, 1, 16)),
    ("ir_r1_k3_s1_e2.5_c80_nhs", BlockArgs("ir", 3, 1, 80, 2.5, activation="hard_swish")),
    ("ir_r1_k3_s1_e6_c8_nr6_noskip", BlockArgs("ir", 3, 1, 8, 6.0, activation="relu6", noskip=True)),
])
def test_parse_block_known_answers_and_round_trip(text, expected):
    assert parse_block(text) == expected
    assert format_block(expected) == text
    assert parse_block(format_block(expected)) == expected


def test_parse_block_accepts_any_option_order_and_timm_ds_e1():
    # timm: "All args can exist in any order"; its MobileNetV3 defs write `ds_r1_k3_s1_e1_c16_nre`
    assert parse_block("ir_c40_e6_s2_k5_r1") == parse_block("ir_r1_k5_s2_e6_c40")
    assert format_block(parse_block("ds_r1_k3_s1_e1_c16_nre")) == "ds_r1_k3_s1_c16_nre"


@pytest.mark.parametrize("text, message", [
    ("xx_r1_k3_s1_e1_c16", "block type"),
    ("ir_r1_k3_s1_c16", "lacks option"),
    ("ir_r1_k3_s1_e6_c16_nzz", "unknown activation"),
    ("ir_r1_k3_s1_e6_c16_q4", "unknown option"),
    ("ir_r1_k4_s1_e6_c16", "odd"),
    ("ir_r1_k3_s1_e6_c16_k5", "twice"),
    ("ir_r1_kx_s1_e6_c16", "unknown option"),
    ("ir_r1_k3.5_s1_e6_c16", "needs a int"),
    ("ds_r1_k3_s1_e6_c16", "no expansion"),
    ("", "non-empty"),
])
def test_bad_block_strings_name_the_fault(text, message):
    with pytest.raises(ValueError, match=message):
        parse_block(text)


def test_make_divisible_matches_timm_rule():
    assert [make_divisible(v) for v in (6, 10, 20, 24, 4, 18, 22.5)] == [8, 16, 24, 24, 8, 24, 24]


def test_spec_json_round_trip_and_errors():
    spec = _small_spec()
    data = spec.to_json()
    assert data["schema"] == MOBILENET_SPEC_SCHEMA
    assert MobileNetSpec.from_json(data) == spec
    assert MobileNetSpec.from_json(spec.dumps()) == spec
    with pytest.raises(ValueError, match="unsupported"):
        MobileNetSpec.from_json({**data, "schema": "naslid.mobilenet_spec/9"})
    with pytest.raises(ValueError, match="not a naslid MobileNet spec"):
        MobileNetSpec.from_json({"stages": []})
    with pytest.raises(ValueError, match="unknown key"):
        MobileNetSpec.from_json({**data, "width": 3})
    with pytest.raises(ValueError, match="stage 1"):
        _small_spec(stages=[["ds_r1_k3_s1_c8"], ["ir_r1_k3_s1_c8"]])
    with pytest.raises(ValueError, match="activation"):
        _small_spec(head_activation="gelu")


def test_repeats_expand_with_stride_on_first_only():
    layers = _small_spec().layers()
    assert [len(stage) for stage in layers] == [1, 2, 2]
    assert [layer.stride for layer in layers[1]] == [2, 1]
    assert layers[1][1].in_channels == 16 and layers[1][1].has_skip
    assert layers[0][0].activation == "relu" and layers[2][1].activation == "hard_swish"


@pytest.mark.parametrize("resolution", [32, (40, 27)])
def test_analytic_costs_equal_hook_counts(resolution):
    spec = _small_spec()
    net = MobileNet(spec)
    shape = (3, resolution, resolution) if isinstance(resolution, int) else (3, *resolution)
    assert spec.macs(resolution) == count_flops(net, shape)
    assert spec.parameters() == count_parameters(net)
    assert net(torch.randn(2, *shape)).shape == (2, 5)
    assert len(net.forward_features(torch.randn(1, *shape))) == 5


def test_forward_backward_finite_and_skip_used():
    torch.manual_seed(0)
    net = MobileNet(_small_spec(dropout=0.2))
    out = net(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert all(p.grad is not None for p in net.parameters())
    blocks = [block for stage in net.stages for block in stage]
    assert [block.has_skip for block in blocks] == [True, False, True, False, True]


def proxylessnas_mobile_spec() -> MobileNetSpec:
    """ProxylessNAS-Mobile (Cai et al., ICLR 2019), written out from osmr/imgclsmob
    `pytorch/pytorchcv/models/proxylessnas.py` (`get_proxylessnas(version="mobile")`: kernels, expansions and
    residual flags per unit; units with residual 0 are the searched `zero` layers and are left out here)."""

    def ir(kernel: int, stride: int, expand: int, channels: int) -> str:
        return f"ir_r1_k{kernel}_s{stride}_e{expand}_c{channels}"

    stages = [
        ["ds_r1_k3_s1_c16"],
        [ir(5, 2, 3, 32), ir(3, 1, 3, 32)],
        [ir(7, 2, 3, 40), ir(3, 1, 3, 40), ir(5, 1, 3, 40), ir(5, 1, 3, 40)],
        [ir(7, 2, 6, 80), ir(5, 1, 3, 80), ir(5, 1, 3, 80), ir(5, 1, 3, 80)],
        [ir(5, 1, 6, 96), ir(5, 1, 3, 96), ir(5, 1, 3, 96), ir(5, 1, 3, 96)],
        [ir(7, 2, 6, 192), ir(7, 1, 6, 192), ir(7, 1, 3, 192), ir(7, 1, 3, 192)],
        [ir(7, 1, 6, 320)],
    ]
    return MobileNetSpec(32, stages, stem_activation="relu6", activation="relu6", head_activation="relu6",
                         final_expand_channels=1280, bn_eps=1e-3)


def test_proxylessnas_mobile_published_figures():
    # Published: 4,080,512 parameters (imgclsmob's `_test` asserts `weight_count == 4080512` for
    # proxylessnas_mobile; the paper's 4.08M) and "Total FLOPs: 320.4M" at 224x224
    # (mit-han-lab/proxylessnas `logs/imagenet_mobile_log.txt`; its counter sums conv and linear MACs).
    spec = proxylessnas_mobile_spec()
    assert spec.parameters() == 4_080_512
    assert round(spec.macs(224) / 1e6, 1) == 320.4


def test_mobilenet_module_imports_nothing_from_naslid():
    source = Path(__file__).parents[1] / "src" / "naslid" / "nn" / "mobilenet.py"
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ImportFrom):
            assert not (node.module or "").startswith("naslid"), node.module
        elif isinstance(node, ast.Import):
            assert not any(alias.name.startswith("naslid") for alias in node.names)
