"""Split criteria: symmetric matrices of the right shape, and measuring leaves the model untouched."""

import numpy as np
import pytest
import torch
from helpers import NB201_ALL, tiny_nb201_and_batches

from naslid.partition.criteria import CRITERIA, SplitConfig, edge_similarities, lid_profile, similarity_matrix
from naslid.spaces import NB201_OPS, NB201Arch


def _net_and_batches(seed=0, batches=2, n=24):
    return tiny_nb201_and_batches(seed, batches, n)


def _snapshot(net):
    return {k: v.clone() for k, v in net.state_dict().items()}, {m: m.training for m in net.modules()}


@pytest.mark.parametrize("criterion", sorted(CRITERIA))
def test_criterion_gives_symmetric_matrix_per_edge(criterion):
    net, batches = _net_and_batches()
    subspace = NB201_ALL.split(2, [["none", "skip_connect"], ["nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]])[1]
    cfg = SplitConfig(criterion=criterion, batches=len(batches), batch_size=24, k=5)
    matrices = edge_similarities(net, subspace, batches, cfg)
    assert sorted(matrices) == [0, 1, 2, 3, 4, 5]
    for edge, matrix in matrices.items():
        size = len(subspace.allowed[edge])
        assert matrix.shape == (size, size)
        assert np.allclose(matrix, matrix.T)
        assert np.isfinite(matrix).all()
        assert np.allclose(np.diag(matrix), 1.0)


@pytest.mark.parametrize("criterion", ["lid", "gradient"])
@pytest.mark.parametrize("bn_mode", ["batch", "eval"])
def test_measuring_leaves_model_bit_identical(criterion, bn_mode):
    net, batches = _net_and_batches(seed=1)
    net.train()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(batches[0][0], NB201Arch(("nor_conv_3x3",) * 6)).sum().backward()
    optimizer.step()
    grads_before = {n: None if p.grad is None else p.grad.clone() for n, p in net.named_parameters()}
    optimizer_before = str(optimizer.state_dict())
    weights, modes = _snapshot(net)
    cfg = SplitConfig(criterion=criterion, batches=2, batch_size=24, k=5, bn_mode=bn_mode)
    edge_similarities(net, NB201_ALL, batches, cfg, edges=[0, 3])
    after, modes_after = _snapshot(net)
    assert all(torch.equal(weights[k], after[k]) for k in weights)
    assert modes == modes_after
    assert str(optimizer.state_dict()) == optimizer_before
    for name, param in net.named_parameters():
        before = grads_before[name]
        assert (before is None and param.grad is None) or torch.equal(before, param.grad)


def test_lid_profile_has_one_value_per_block_and_is_finite():
    net, batches = _net_and_batches(n=32)
    profile = lid_profile(net.eval(), NB201Arch(("nor_conv_3x3",) * 6), batches[0][0], k=10)
    assert profile.shape == (len(net.cells),) and torch.isfinite(profile).all() and (profile > 0).all()


def test_lid_similarity_separates_ops_that_differ():
    net, batches = _net_and_batches(n=32)
    cfg = SplitConfig(criterion="lid", batches=2, batch_size=32, k=10)
    matrix = edge_similarities(net, NB201_ALL, batches, cfg, edges=[5])[5]
    off = matrix[~np.eye(5, dtype=bool)]
    assert off.min() < 1.0 and off.max() <= 1.0  # profiles differ between ops on the output edge


def test_similarity_kinds():
    vectors = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 2.0, 1.0]])
    cosine = similarity_matrix(vectors, "cosine")
    pearson = similarity_matrix(vectors, "pearson")
    euclidean = similarity_matrix(vectors, "euclidean")
    assert cosine[0, 1] == pytest.approx(1.0) and pearson[0, 2] == pytest.approx(-1.0)
    assert euclidean[0, 1] == pytest.approx(1 / (1 + np.sqrt(14)))
    with pytest.raises(ValueError, match="similarity"):
        similarity_matrix(vectors, "manhattan")


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="criterion"):
        SplitConfig(criterion="fisher")
    with pytest.raises(ValueError, match="k=128"):
        SplitConfig(k=128, batch_size=128)
    with pytest.raises(ValueError, match="bn_mode"):
        SplitConfig(bn_mode="frozen")
    assert len(NB201_OPS) == 5


@pytest.mark.parametrize("scope", ["cells", "all"])
def test_gradient_criterion_compares_the_named_parameters_only(scope):
    # GM-NAS compares gradients of the cells' parameters (other edges and reduction blocks), not stem or head
    net, batches = _net_and_batches(seed=2, batches=1)
    edge, ops = 1, list(NB201_OPS)
    cfg = SplitConfig(criterion="gradient", batches=1, batch_size=24, k=5, gradient_parameters=scope)
    measured = edge_similarities(net, NB201_ALL, batches, cfg, edges=[edge])[edge]
    path = NB201_ALL.sample(np.random.default_rng(cfg.seed))  # the criterion's shared path for the batch
    net.train()
    names = [n for n, _ in net.named_parameters() if f".edges.{edge}." not in n
             and (scope == "all" or n.startswith("cells."))]
    assert any(n.startswith("stem") for n in names) == (scope == "all")
    params = dict(net.named_parameters())
    vectors = []
    for op in ops:
        loss = torch.nn.functional.cross_entropy(net(batches[0][0], path.replace(edge, op)), batches[0][1])
        grads = torch.autograd.grad(loss, [params[n] for n in names], allow_unused=True)
        vectors.append(torch.cat([(g if g is not None else torch.zeros_like(params[n])).reshape(-1)
                                  for g, n in zip(grads, names, strict=True)]))
    expected = similarity_matrix(torch.stack(vectors), "cosine").numpy()
    assert np.allclose(measured, expected, atol=1e-6)
    with pytest.raises(ValueError, match="gradient_parameters"):
        SplitConfig(gradient_parameters="head")


def test_gradient_scope_follows_gm_nas_per_space():
    # GM-NAS's get_split_gradients: NB201 the cells; ProxylessNAS and OFA the whole network, stem and head included
    from naslid.nn import build_supernet_for, network_config_class
    from naslid.partition.criteria import gradient_scope

    assert SplitConfig().gradient_parameters == "reference"
    nb201 = build_supernet_for("nb201", network_config_class("nb201")(channels=4, cells_per_stage=1))
    assert gradient_scope(nb201, "reference") == gradient_scope(nb201, "cells") == nb201.body_parameters()
    for space in ("proxyless", "ofa"):
        net = build_supernet_for(space, network_config_class(space)(width_mult=0.25, num_classes=10, small_input=True))
        reference = gradient_scope(net, "reference")
        assert reference == [name for name, _ in net.named_parameters()] == gradient_scope(net, "all")
        assert any(n.startswith("stem.") for n in reference) and any(n.startswith("classifier.") for n in reference)
        assert gradient_scope(net, "body") == gradient_scope(net, "cells") == net.body_parameters()
        assert not any(n.startswith(("stem.", "classifier.")) for n in net.body_parameters())
