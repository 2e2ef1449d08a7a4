"""The OFA-MobileNetV3 supernet: config, single path, probes, extraction, analytic costs, SPOS smoke test."""

import time

import numpy as np
import pytest
import torch

from naslid.nn import OFAConfig, OFASuperNet, build_supernet_for, count_flops, count_parameters, preserved_state
from naslid.nn.ofa import ElasticBatchNorm2d, arch_costs, arch_spec
from naslid.spaces import SubSpace, get_space
from naslid.spaces.ofa import block_point, depth_point
from naslid.train import TrainConfig, train_supernet

SPACE = get_space("ofa")
TINY = OFAConfig(width_mult=0.25, num_classes=10, small_input=True, dropout=0.0)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _net(config=TINY, seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return OFASuperNet(config=config)


def _images(n=4, size=32, seed=0):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("changes, fragment", [
    ({"width_mult": 0}, "width_mult=0"), ({"width_mult": float("nan")}, "width_mult=nan"),
    ({"num_classes": 0}, "num_classes=0"), ({"dropout": 1.0}, "dropout=1.0"), ({"small_input": 1}, "small_input=1"),
])
def test_config_rejects_bad_values_in_one_line(changes, fragment):
    with pytest.raises(ValueError, match=fragment) as error:
        OFAConfig(**changes)
    assert "\n" not in str(error.value)


def test_config_round_trips_and_builds_through_the_registry():
    config = OFAConfig(**TINY.to_dict())
    assert config == TINY
    net = build_supernet_for("ofa", config)
    assert isinstance(net, OFASuperNet) and net.config == TINY and net.space.name == "ofa"
    # OFA's make_divisible widths at width_mult 1.2 (ofa_mbv3_d234_e346_k357_w1.2)
    wide = OFAConfig(width_mult=1.2)
    assert wide.stage_widths == (32, 48, 96, 136, 192) and wide.width(960) == 1152 and wide.width(1280) == 1536
    assert wide.width(16) == 24


def test_forward_gives_logits_and_21_probed_outputs_for_every_depth():
    net = _net().eval()
    x = _images()
    for arch in (SPACE.uniform(2, 3, 3), SPACE.uniform(4, 7, 6), SPACE.sample(np.random.default_rng(2))):
        assert net(x, arch).shape == (4, 10)
        fired = []
        handles = [m.register_forward_hook(lambda m, i, o, fired=fired: fired.append(o.shape))
                   for m in net.probed_layers()]
        try:
            net(x, arch)
        finally:
            for handle in handles:
                handle.remove()
        assert len(fired) == len(net.probed_layers()) == 21
        assert len(net.forward_features(x, arch)) == 21
    with pytest.raises(ValueError, match="OFAArch"):
        net(x, get_space("nb201").sample(np.random.default_rng(0)))


def test_parameter_groups_for_the_criteria():
    net = _net()
    body = set(net.body_parameters())
    assert body and all(name.startswith("blocks.") for name in body)
    assert not any(name.startswith(("stem.", "first_block.", "final_expand.", "classifier.")) for name in body)
    block = net.choice_parameters(block_point(1, 2))
    assert block and all(name.startswith("blocks.6.") for name in block)
    assert "blocks.6.transform_7to5" in block
    depth = net.choice_parameters(depth_point(1))
    assert {name.split(".")[1] for name in depth} == {"6", "7"}  # stage 2's blocks beyond depth 2
    covered = set().union(*(net.choice_parameters(block_point(s, b)) for s in range(5) for b in range(4)))
    assert covered == body
    with pytest.raises(ValueError, match="out of range"):
        net.choice_parameters(25)


def _changed(before, after, names):
    return [name for name in names if not torch.equal(before[name], after[name])]


def test_a_step_changes_only_the_weights_and_statistics_of_the_path():
    """SGD with momentum and weight decay, as SPOS trains: first a step on the largest arch (every piece gets
    a momentum buffer), then a step on a small arch. The second step must leave unused pieces, unused BN
    channels and inactive blocks exactly as they were: their gradients are None, so SGD skips them.

    Shared between choices of a block (and so allowed to move): the first mid3 channels, the centre 5x5
    kernel, the 7to5 matrix (kernels 3 and 5), the projection BN and each BN's num_batches_tracked.
    """
    net = _net().train()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    x, labels = _images(8), torch.arange(8) % 10

    def step(arch):
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x, arch), labels).backward()
        optimizer.step()

    step(SPACE.uniform(4, 7, 6))
    small = SPACE.uniform(4, 7, 6).replace(depth_point(0), "d2").replace(block_point(1, 0), "k3_e3")
    small = small.replace(block_point(1, 1), "k5_e4")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    step(small)
    after = net.state_dict()
    grads = {name: p.grad for name, p in net.named_parameters()}

    # stage 1 at depth 2: blocks 2 and 3 untouched, BN statistics included
    inactive = [k for k in before if k.startswith(("blocks.2.", "blocks.3."))]
    assert inactive and not _changed(before, after, inactive)
    assert all(grads[k] is None for k in grads if k.startswith(("blocks.2.", "blocks.3.")))
    # block 4 (stage 2, block 0) at k3_e3: only the first expansion range and the transformed centre
    b = net.blocks[4]
    mid3 = b.mid_bounds[1]
    for name in ("expand_weight.p10", "expand_weight.p20", "depthwise_centre.p10", "depthwise_ring.p00",
                 "expand_bn.scale.p1", "se_reduce_weight.p01", "se_expand_weight.p10", "project_weight.p02"):
        assert grads[f"blocks.4.{name}"] is None, name
        assert torch.equal(before[f"blocks.4.{name}"], after[f"blocks.4.{name}"]), name
    for name in ("expand_weight.p00", "depthwise_centre.p00", "transform_7to5", "transform_5to3", "project_weight.p00"):
        assert grads[f"blocks.4.{name}"] is not None, name
    for bn in ("expand_bn", "depthwise_bn"):
        mean_before, mean_after = before[f"blocks.4.{bn}.running_mean"], after[f"blocks.4.{bn}.running_mean"]
        assert torch.equal(mean_before[mid3:], mean_after[mid3:])
        assert not torch.equal(mean_before[:mid3], mean_after[:mid3])
        assert isinstance(getattr(b, bn), ElasticBatchNorm2d)
    # block 5 at k5_e4: the 5to3 matrix and the ring are unused, the second range is used
    assert grads["blocks.5.transform_5to3"] is None and grads["blocks.5.depthwise_ring.p10"] is None
    assert grads["blocks.5.transform_7to5"] is not None and grads["blocks.5.expand_weight.p10"] is not None
    # k7 blocks use the ring and no transform matrix
    assert grads["blocks.8.transform_7to5"] is None and grads["blocks.8.depthwise_ring.p20"] is not None


def test_preserved_state_restores_elastic_batchnorm_statistics():
    net = _net().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with preserved_state(net):
        net(_images(), SPACE.uniform(4, 7, 6))
    assert not _changed(before, net.state_dict(), before)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_supernet_to_standalone_gives_identical_outputs(seed):
    net = _net(seed=seed).train()
    rng = np.random.default_rng(seed)
    for _ in range(2):  # move the BN statistics away from their initial values
        net(_images(8, seed=seed + 10), SPACE.sample(rng))
    net.eval()
    x = _images(seed=seed)
    for arch in (SPACE.sample(rng), SPACE.uniform(2, 3, 3), SPACE.uniform(4, 5, 4)):
        standalone = net.extract(arch).eval()
        with torch.no_grad():
            torch.testing.assert_close(standalone(x), net(x, arch))
        assert count_parameters(standalone) == arch_spec(arch, net.config).parameters()


def test_macs_grow_with_kernel_expansion_and_depth():
    def mflops(arch):
        return arch_costs(arch)["mflops"]

    assert mflops(SPACE.uniform(2, 3, 3)) < mflops(SPACE.uniform(3, 3, 3)) < mflops(SPACE.uniform(4, 3, 3))
    assert mflops(SPACE.uniform(4, 3, 3)) < mflops(SPACE.uniform(4, 5, 3)) < mflops(SPACE.uniform(4, 7, 3))
    assert mflops(SPACE.uniform(4, 7, 3)) < mflops(SPACE.uniform(4, 7, 4)) < mflops(SPACE.uniform(4, 7, 6))
    arch = SPACE.sample(np.random.default_rng(3)).replace(depth_point(2), "d3")
    for point in (block_point(2, 0), block_point(2, 2)):
        ordered = [mflops(arch.replace(point, f"k{k}_e{e}")) for e in (3, 4, 6) for k in (3, 5, 7)]
        assert ordered == sorted(ordered) and len(set(ordered)) == 9
    # an inactive block's choice changes nothing
    assert mflops(arch.replace(block_point(2, 3), "k7_e6")) == mflops(arch.replace(block_point(2, 3), "k3_e3"))
    assert arch_costs(arch, 160)["mflops"] < arch_costs(arch, 224)["mflops"]


@pytest.mark.parametrize("config, resolution", [(TINY, 32), (OFAConfig(), 64), (OFAConfig(width_mult=1.2), 40)])
def test_analytic_macs_equal_hook_counts_on_the_standalone_network(config, resolution):
    arch = SPACE.sample(np.random.default_rng(resolution))
    standalone = _net(config).extract(arch)
    costs = arch_costs(arch, resolution, config)
    assert costs["mflops"] * 1e6 == pytest.approx(count_flops(standalone, (3, resolution, resolution)), abs=0.5)
    assert costs["params_m"] * 1e6 == pytest.approx(count_parameters(standalone), abs=0.5)


# Published: the OFA model zoo (mit-han-lab/once-for-all README.md, "ofa-note8-31" = note8_lat@31ms_top1@72.8_
# finetune@25: 4.6M params, 101M MACs; "ofa-note8-22" = note8_lat@22ms_top1@70.4_finetune@25: 4.3M, 67M), both
# subnets of ofa_mbv3_d234_e346_k357_w1.0. Their resolutions (152, 140) are the `image_size` of the zoo's
# run.config (github.com/han-cai/files, ofa/ofa_specialized/note8_lat-{31,22}ms_.../run.config); their
# ks/e/d are MMRazor's conversion of the same nets (open-mmlab/mmrazor, configs/nas/mmcls/onceforall/
# OFA_SUBNET_NOTE8_LAT{31,22}.yaml, `expand_ratio`/`kernel_size`/`depth` per block). OFA counts MACs of convs
# and linears only (`count_flops_given_config`), the convention of `arch_costs`. (MMRazor's own 105.4/70.9
# MFLOPs use mmcv's counter, which also counts BN and activations, so they are not compared.)
@pytest.mark.parametrize("text, resolution, mmacs, params_m", [
    ("d2:k5_e3,k3_e3,k3_e3,k3_e3|d2:k5_e4,k5_e3,k3_e3,k3_e3|d3:k3_e4,k3_e4,k5_e4,k3_e4|"
     "d3:k3_e4,k5_e3,k7_e4,k3_e3|d4:k3_e6,k3_e3,k5_e3,k5_e3", 152, 101, 4.6),
    ("d2:k3_e3,k3_e3,k3_e3,k3_e3|d2:k5_e3,k5_e3,k3_e3,k3_e3|d2:k7_e4,k3_e3,k3_e3,k3_e3|"
     "d2:k5_e3,k3_e4,k3_e3,k3_e3|d2:k3_e6,k7_e6,k3_e3,k3_e6", 140, 67, 4.3),
])
def test_costs_match_the_ofa_model_zoo(text, resolution, mmacs, params_m):
    costs = arch_costs(SPACE.parse(text), resolution)
    assert round(costs["mflops"]) == mmacs
    assert round(costs["params_m"], 1) == params_m


def test_arch_spec_uses_timm_block_strings():
    arch = SPACE.uniform(2, 5, 4)
    spec = arch_spec(arch)
    assert spec.stages[0] == ("ds_r1_k3_s1_c16_nre",)
    assert spec.stages[2] == ("ir_r1_k5_s2_e4_c40_se0.25_nre", "ir_r1_k5_s1_e4_c40_se0.25_nre")
    assert spec.stages[3][0] == "ir_r1_k5_s2_e4_c80" and spec.stages[5][0] == "ir_r1_k5_s2_e4_c160_se0.25"
    assert spec.stem_stride == 2 and spec.final_expand_channels == 960 and spec.feature_mix_channels == 1280
    assert arch_spec(arch, TINY).stem_stride == 1


class _RandomLoader:
    def __init__(self, steps, batch_size=8):
        self.steps, self.batch_size = steps, batch_size

    def __len__(self):
        return self.steps

    def epoch(self, index):
        generator = torch.Generator().manual_seed(index)
        for _ in range(self.steps):
            yield (torch.randn(self.batch_size, 3, 32, 32, generator=generator),
                   torch.randint(0, 10, (self.batch_size,), generator=generator))


def test_spos_training_smoke():
    start = time.perf_counter()
    net = _net()
    state = train_supernet(net, SubSpace(None, get_space("ofa")), _RandomLoader(3), TrainConfig(epochs=1, seed=0))
    assert state.step == 3 and np.isfinite(state.history[-1]["loss"])
    assert time.perf_counter() - start < 10
