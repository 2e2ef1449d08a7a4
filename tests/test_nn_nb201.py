"""NB201 supernet and standalone networks: shapes, single path, weight transfer, costs."""

import numpy as np
import pytest
import torch

from naslid.nn import OPS, NB201Network, NB201SuperNet, count_flops, count_parameters, create_op, extract_network
from naslid.spaces import NB201_OPS, NB201Arch, NB201Space

SMALLEST = NB201Arch(("none",) * 6)
LARGEST = NB201Arch(("nor_conv_3x3",) * 6)


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_keeps_shape_and_is_finite(name):
    op = create_op(name, 8)
    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    y = op(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    if name != "none":
        y.sum().backward()
        assert x.grad is not None


def test_unknown_op_is_a_value_error():
    with pytest.raises(ValueError, match="unknown op"):
        create_op("sep_conv_3x3", 8)


@pytest.mark.parametrize("num_classes, small, large", [(10, 73_306, 1_531_546), (100, 79_156, 1_537_396)])
def test_parameter_counts_match_nas_bench_201(num_classes, small, large):
    assert count_parameters(NB201Network(SMALLEST, num_classes=num_classes)) == small
    assert count_parameters(NB201Network(LARGEST, num_classes=num_classes)) == large


def test_flops_match_nas_bench_201_range():
    assert round(count_flops(NB201Network(SMALLEST), (3, 32, 32)) / 1e6, 2) == 7.78
    assert round(count_flops(NB201Network(LARGEST), (3, 32, 32)) / 1e6, 2) == 220.12


def test_supernet_forward_and_17_features():
    torch.manual_seed(0)
    net = NB201SuperNet(channels=8, cells_per_stage=2, num_classes=7)
    x = torch.randn(3, 3, 16, 16)
    rng = np.random.default_rng(0)
    for _ in range(4):
        arch = NB201Space().sample(rng)
        assert net(x, arch).shape == (3, 7)
    full = NB201SuperNet()
    features = full.forward_features(torch.randn(2, 3, 32, 32), LARGEST)
    assert len(features) == 17 == len(full.layer_names)
    shapes = [tuple(f.shape) for f in features]
    assert shapes[:5] == [(2, 16, 32, 32)] * 5
    assert shapes[5] == (2, 32, 16, 16) and shapes[11] == (2, 64, 8, 8) and shapes[16] == (2, 64, 8, 8)
    assert full.layer_names[5] == "reduction1"


def test_single_path_leaves_other_ops_without_gradient():
    torch.manual_seed(0)
    net = NB201SuperNet(channels=4, cells_per_stage=1)
    arch = NB201Arch(("nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none", "skip_connect"))
    net.zero_grad(set_to_none=True)
    net(torch.randn(2, 3, 8, 8), arch).sum().backward()
    for name, param in net.named_parameters():
        if ".edges." in name:
            edge, op = int(name.split(".edges.")[1].split(".")[0]), name.split(".edges.")[1].split(".")[1]
            assert (param.grad is not None) == (arch.ops[edge] == op), name
        else:
            assert param.grad is not None, name


def test_off_path_batchnorm_statistics_do_not_move():
    net = NB201SuperNet(channels=4, cells_per_stage=1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    net(torch.randn(4, 3, 8, 8), NB201Arch(("skip_connect",) * 6))
    after = net.state_dict()
    moved = [k for k in before if "running_mean" in k and not torch.equal(before[k], after[k])]
    assert moved and all(".edges." not in k for k in moved)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_supernet_to_standalone_gives_identical_outputs(seed):
    torch.manual_seed(seed)
    net = NB201SuperNet(channels=8, cells_per_stage=2)
    net.train()
    arch = NB201Space().sample(np.random.default_rng(seed))
    for _ in range(2):  # move BN statistics off their initial values
        net(torch.randn(8, 3, 16, 16), arch)
    net.eval()
    standalone = extract_network(net, arch).eval()
    x = torch.randn(5, 3, 16, 16)
    assert torch.equal(net(x, arch), standalone(x))
    for a, b in zip(net.forward_features(x, arch), standalone.forward_features(x), strict=True):
        assert torch.equal(a, b)
    assert set(standalone.state_dict()) <= set(net.state_dict())


def test_supernet_holds_every_op_on_every_edge():
    net = NB201SuperNet(channels=4, cells_per_stage=1)
    cell = net.cells[0]
    for edge in cell.edges:
        assert sorted(edge.keys()) == sorted(op for op in NB201_OPS if op != "none")
