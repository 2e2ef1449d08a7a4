"""The ProxylessNAS supernet: config, single-path semantics, probes, extraction, costs, SPOS training."""

import math

import numpy as np
import pytest
import torch

from naslid.nn import (
    SUPERNETS,
    MobileNet,
    ProxylessConfig,
    ProxylessSuperNet,
    SuperNet,
    build_supernet_for,
    count_flops,
    count_parameters,
    network_config_class,
)
from naslid.spaces import ChoiceArch, SubSpace, get_space
from naslid.spaces.proxyless import PROXYLESS_MBCONVS, PROXYLESS_POINTS
from naslid.train import TrainConfig, train_supernet

SPACE = get_space("proxyless")
# ProxylessNAS-Mobile: layer choices from osmr/imgclsmob `pytorch/pytorchcv/models/proxylessnas.py`
# (`get_proxylessnas(version="mobile")`, units with residual 0 are `zero`); its first stage is 32 wide, not 24
MOBILE = ("k5_e3-k3_e3-zero-zero-k7_e3-k3_e3-k5_e3-k5_e3-k7_e6-k5_e3-k5_e3-k5_e3-k5_e6-k5_e3-k5_e3-k5_e3-"
          "k7_e6-k7_e6-k7_e3-k7_e3-k7_e6")
MOBILE_WIDTHS = (32, 40, 80, 96, 192, 320)


def _config(**changes) -> ProxylessConfig:
    base = {"width_mult": 0.25, "num_classes": 10, "small_input": True, "feature_mix_channels": 32}
    return ProxylessConfig(**{**base, **changes})


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def tiny():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return ProxylessSuperNet(config=_config())


def _archs(count: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    zeros = SPACE.make_arch(tuple("k3_e6" if name.endswith("block0") else "zero" for name in PROXYLESS_POINTS))
    return [zeros, SPACE.parse(MOBILE)] + [SPACE.sample(rng) for _ in range(count)]


def test_config_validation_and_round_trip():
    config = _config(stage_widths=[8, 16, 24, 32, 40, 48])
    assert config.stage_widths == (8, 16, 24, 32, 40, 48)
    assert ProxylessConfig(**config.to_dict()) == config
    assert network_config_class("proxyless") is ProxylessConfig and SUPERNETS["proxyless"][1] is ProxylessSuperNet
    # the source's width rule: make_divisible(w * 0.25, 8); feature mix unscaled below 1.0
    assert ProxylessConfig(width_mult=0.25).widths == (8, 16, 24, 24, 48, 80)
    assert ProxylessConfig(width_mult=1.4).head_channels == 1792
    for bad, message in [({"width_mult": 0}, "width_mult"), ({"width_mult": math.nan}, "width_mult"),
                         ({"num_classes": 0}, "num_classes"), ({"small_input": 1}, "small_input"),
                         ({"dropout": 1.0}, "dropout"), ({"stage_widths": (24, 40)}, "stage_widths"),
                         ({"stage_widths": 24}, "stage_widths"), ({"bn_eps": 0}, "bn_eps"),
                         ({"bn_momentum": "0.1"}, "bn_momentum")]:
        with pytest.raises(ValueError, match=message):
            ProxylessConfig(**bad)


def test_contract_and_registry(tiny):
    assert isinstance(tiny, SuperNet)
    assert isinstance(build_supernet_for("proxyless", _config()), ProxylessSuperNet)
    with pytest.raises(ValueError, match="ProxylessConfig"):
        build_supernet_for("proxyless", object())
    body = set(tiny.body_parameters())
    per_point = [tiny.choice_parameters(point) for point in range(len(PROXYLESS_POINTS))]
    assert all(names for names in per_point)
    assert set().union(*per_point) == body
    assert not any(name.startswith(("stem.", "first_block.", "final_expand.", "classifier.")) for name in body)
    assert all(name.startswith("layers.13.candidates.") for name in per_point[13])
    assert {name.split(".")[3] for name in per_point[13]} == set(PROXYLESS_MBCONVS)
    with pytest.raises(ValueError, match="21 layer choices"):
        tiny(torch.zeros(1, 3, 32, 32), ChoiceArch(("k3_e3",)))
    with pytest.raises(ValueError, match="not a candidate"):
        tiny(torch.zeros(1, 3, 32, 32), ChoiceArch(("k9_e3",) * 21))
    with pytest.raises(ValueError, match="not a candidate"):
        tiny(torch.zeros(1, 3, 32, 32), ChoiceArch(("zero",) * 21))


def test_probed_layers_fire_once_each_even_for_zero(tiny):
    layers = tiny.probed_layers()
    assert len(layers) == 22
    seen = []
    handles = [layer.register_forward_hook(lambda m, i, o, k=k: seen.append((k, tuple(o.shape))))
               for k, layer in enumerate(layers)]
    try:
        arch = _archs(0)[0]
        with torch.no_grad():
            tiny.eval()(torch.randn(2, 3, 32, 32), arch)
            features = tiny.forward_features(torch.randn(2, 3, 32, 32), arch)
    finally:
        tiny.train()
        for handle in handles:
            handle.remove()
    assert [k for k, _ in seen] == list(range(22)) * 2
    assert [tuple(f.shape) for f in features] == [shape for _, shape in seen[22:]]
    assert seen[0][1] == (2, 8, 32, 32) and seen[-1][1] == (2, 80, 4, 4)


def test_extract_matches_supernet_path(tiny):
    x = torch.randn(2, 3, 16, 16)
    rng = np.random.default_rng(5)
    with torch.no_grad():
        for _ in range(2):  # move BN statistics away from their initial values
            tiny.train()(torch.randn(4, 3, 16, 16), SPACE.sample(rng))
    tiny.eval()
    try:
        for arch in _archs(2):
            network = tiny.extract(arch)
            assert isinstance(network, MobileNet)
            network.eval()
            with torch.no_grad():
                torch.testing.assert_close(network(x), tiny(x, arch))
            spec = tiny.arch_spec(arch)
            assert network.spec == spec
            assert sum(len(stage) for stage in spec.stages) == 1 + sum(op != "zero" for op in arch.ops)
    finally:
        tiny.train()


def test_training_step_changes_only_the_path(tiny):
    net = ProxylessSuperNet(config=_config())
    arch = SPACE.parse("-".join(["k5_e3", "zero", "k3_e6", "k7_e6"] * 5 + ["k3_e3"]))
    before = {name: value.clone() for name, value in net.state_dict().items()}
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    optimizer.zero_grad(set_to_none=True)
    net.train()
    torch.nn.functional.cross_entropy(net(torch.randn(2, 3, 16, 16), arch), torch.tensor([0, 1])).backward()
    optimizer.step()
    on_path = ("stem.", "first_block.", "final_expand.", "classifier.") + tuple(
        f"layers.{point}.candidates.{choice}." for point, choice in enumerate(arch.ops) if choice != "zero")
    for name, value in net.state_dict().items():
        changed = not torch.equal(value, before[name])
        if name.endswith("num_batches_tracked") or not name.startswith(on_path):
            assert changed == name.startswith(on_path), name
        elif "running" in name or (name.endswith(".weight") and ".conv." in name):
            assert changed, name
    for name, parameter in net.named_parameters():
        assert (parameter.grad is not None) == name.startswith(on_path), name


def test_costs_equal_hook_counts_and_spec(tiny):
    for arch in _archs(1, seed=3):
        costs = tiny.arch_costs(arch)
        spec = tiny.arch_spec(arch)
        assert costs["mflops"] * 1e6 == pytest.approx(count_flops(tiny, (3, 32, 32), arch), abs=1e-3)
        assert costs["mflops"] * 1e6 == pytest.approx(spec.macs(32), abs=1e-3)
        assert costs["params_m"] * 1e6 == pytest.approx(count_parameters(tiny.extract(arch)), abs=1e-3)
        assert costs["params_m"] * 1e6 == pytest.approx(spec.parameters(), abs=1e-3)
    arch = _archs(0)[1]
    assert tiny.arch_costs(arch, 24)["mflops"] * 1e6 == pytest.approx(count_flops(tiny, (3, 24, 24), arch), abs=1e-3)


def test_flops_monotone_in_kernel_expansion_and_zero(tiny):
    rng = np.random.default_rng(11)
    for _ in range(3):
        arch = SPACE.sample(rng)
        for point in (0, 5, 13, 20):
            mflops = {choice: tiny.arch_costs(arch.replace(point, choice))["mflops"]
                      for choice in SPACE.choices[point]}
            for expansion in (3, 6):
                assert mflops[f"k3_e{expansion}"] < mflops[f"k5_e{expansion}"] < mflops[f"k7_e{expansion}"]
            for kernel in (3, 5, 7):
                assert mflops[f"k{kernel}_e3"] < mflops[f"k{kernel}_e6"]
            if "zero" in mflops:
                assert mflops["zero"] < min(value for choice, value in mflops.items() if choice != "zero")


def test_proxylessnas_mobile_published_figures():
    # Published: 4,080,512 parameters (osmr/imgclsmob `proxylessnas.py` `_test`: `weight_count == 4080512` for
    # proxylessnas_mobile; the paper's 4.1M) and 320.4M MACs at 224x224 ("Total FLOPs: 320.4M" in
    # mit-han-lab/proxylessnas `logs/imagenet_mobile_log.txt`; its counter sums conv and linear MACs, as
    # count_flops does). Exact for both; the search space's default first-stage width is 24, Mobile's is 32.
    net = ProxylessSuperNet(config=ProxylessConfig(stage_widths=MOBILE_WIDTHS))
    costs = net.arch_costs(SPACE.parse(MOBILE), 224)
    assert costs["params_m"] == pytest.approx(4.080512, abs=1e-9)
    assert round(costs["mflops"], 1) == 320.4
    # the same net in the default space widths (24 in stage 1) is a little cheaper
    default = ProxylessSuperNet(config=_config(width_mult=1.0, small_input=False, feature_mix_channels=1280,
                                               num_classes=1000))
    assert default.arch_costs(SPACE.parse(MOBILE), 224)["mflops"] < costs["mflops"]


class _RandomLoader:
    """Three batches of random 32x32 images, the same for every epoch."""

    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(0)
        self.batches = [(torch.randn(4, 3, 32, 32, generator=generator), torch.randint(0, 10, (4,),
                                                                                        generator=generator))
                        for _ in range(3)]

    def __len__(self) -> int:
        return len(self.batches)

    def epoch(self, index: int):
        return iter(self.batches)


def test_spos_training_smoke():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = ProxylessSuperNet(config=_config())
    cfg = TrainConfig(epochs=1, batch_size=4, learning_rate=0.05, precision="fp32", channels_last=False, seed=2)
    state = train_supernet(net, SubSpace(None, SPACE), _RandomLoader(), cfg)
    assert state.step == 3 and state.epoch == 1
    assert math.isfinite(state.history[-1]["loss"])
