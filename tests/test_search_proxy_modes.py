"""Proxy BN modes: recalibrated, running (as trained) and per-batch statistics, each exact and side-effect free."""

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from naslid.nn import NB201Config, batchnorm_layers, build_supernet_for
from naslid.search import ProxyConfig, ProxyEvaluator, accuracy, recalibrate_batchnorm
from naslid.spaces import NB201Arch

ARCHS = [NB201Arch(("nor_conv_3x3",) * 6),
         NB201Arch(("nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3"))]


def _trained_net_and_data(seed=0):
    """A small NB201 supernet whose running statistics differ from any evaluation batch's own."""
    torch.manual_seed(seed)
    net = build_supernet_for("nb201", NB201Config(channels=8, cells_per_stage=1, in_channels=1))
    generator = torch.Generator().manual_seed(seed)
    net.train()
    with torch.no_grad():
        for _ in range(3):  # move the running statistics away from their initial values
            net(2.0 * torch.randn(16, 1, 8, 8, generator=generator) + 1.0, ARCHS[0])
    images = torch.randn(40, 1, 8, 8, generator=generator)
    labels = torch.randint(0, 10, (40,), generator=generator)
    evaluation = [(images[:20], labels[:20]), (images[20:], labels[20:])]
    calibration = [torch.randn(16, 1, 8, 8, generator=generator) for _ in range(2)]
    return net, evaluation, calibration


def _snapshot(net):
    return {k: v.clone() for k, v in net.state_dict().items()}, [m.training for m in net.modules()]


def _assert_unchanged(net, snapshot):
    state, modes = snapshot
    after = net.state_dict()
    assert all(torch.equal(state[k], after[k]) for k in state)  # num_batches_tracked included
    assert modes == [m.training for m in net.modules()]


def _with_per_batch_statistics(net):
    """A copy whose BN layers compute F.batch_norm(training=True) on each input, never touching a buffer."""
    clone = copy.deepcopy(net).eval()
    for m in clone.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.forward = lambda x, m=m: F.batch_norm(x, None, None, m.weight, m.bias, True, 0.0, m.eps)
    return clone


@torch.no_grad()
def _predictions(net, arch, evaluation):
    return torch.cat([net(x, arch).argmax(1) for x, _ in evaluation])


def _count(predictions, evaluation):
    return int((predictions == torch.cat([y for _, y in evaluation])).sum()) / predictions.numel()


def test_running_scores_eval_mode_with_the_stored_buffers():
    net, evaluation, calibration = _trained_net_and_data()
    snapshot = _snapshot(net)
    # no calibration batch needed, and those given are ignored
    for given in ([], calibration):
        evaluator = ProxyEvaluator(lambda arch: net, evaluation, given, ProxyConfig(batchnorm="running"))
        scores = evaluator.evaluate_many(ARCHS)
        for arch, score in zip(ARCHS, scores, strict=True):
            expected = _count(_predictions(copy.deepcopy(net).eval(), arch, evaluation), evaluation)
            assert score == expected
    _assert_unchanged(net, snapshot)


def test_batch_scores_per_batch_statistics_and_leaves_every_buffer():
    net, evaluation, _ = _trained_net_and_data(1)
    snapshot = _snapshot(net)
    evaluator = ProxyEvaluator(lambda arch: net, evaluation, config=ProxyConfig(batchnorm="batch"))
    reference = _with_per_batch_statistics(net)
    for arch in ARCHS:
        batch_predictions = _predictions(reference, arch, evaluation)
        running_predictions = _predictions(copy.deepcopy(net).eval(), arch, evaluation)
        assert not torch.equal(batch_predictions, running_predictions)  # the modes really differ here
        assert evaluator(arch) == _count(batch_predictions, evaluation)
        assert accuracy(net, arch, evaluation, batch_statistics=True) == _count(batch_predictions, evaluation)
    _assert_unchanged(net, snapshot)


def test_recalibrate_is_the_default_and_matches_recalibration_by_hand():
    net, evaluation, calibration = _trained_net_and_data(2)
    snapshot = _snapshot(net)
    assert ProxyConfig().batchnorm == "recalibrate" and ProxyConfig().split == "valid"
    evaluator = ProxyEvaluator(lambda arch: net, evaluation, calibration, ProxyConfig(calibration_batches=2))
    for arch in ARCHS:
        clone = copy.deepcopy(net)
        recalibrate_batchnorm(clone, arch, calibration)
        assert evaluator(arch) == _count(_predictions(clone, arch, evaluation), evaluation)
    # with no calibration batch the supernet's own statistics are kept, as "running" does
    keep = ProxyEvaluator(lambda arch: net, evaluation, calibration, ProxyConfig(calibration_batches=0))
    running = ProxyEvaluator(lambda arch: net, evaluation, config=ProxyConfig(batchnorm="running"))
    assert [keep(arch) for arch in ARCHS] == [running(arch) for arch in ARCHS]
    _assert_unchanged(net, snapshot)


class _DropoutNet(nn.Module):
    """Conv, BN, dropout and a head: in "batch" mode dropout must stay off."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.dropout = nn.Dropout(0.5)
        self.head = nn.Linear(6, 4)

    def forward(self, x, arch):
        return self.head(self.dropout(F.relu(self.bn(self.conv(x))).mean(dim=(2, 3))))


def test_batch_mode_switches_only_batchnorm_to_train_mode():
    torch.manual_seed(3)
    net = _DropoutNet()
    net.bn.running_mean.fill_(0.5)
    images = torch.randn(64, 1, 6, 6)
    with torch.no_grad():
        logits = _with_per_batch_statistics(net)(images, None)
    labels = logits.argmax(1)  # the per-batch-statistics model with dropout off gets every one right
    snapshot = _snapshot(net)
    evaluator = ProxyEvaluator(lambda arch: net, [(images, labels)], config=ProxyConfig(batchnorm="batch"))
    assert evaluator(None) == 1.0
    _assert_unchanged(net, snapshot)
    assert batchnorm_layers(net) == [net.bn]


@pytest.mark.parametrize(("field", "value"), [("batchnorm", "eval"), ("batchnorm", ""), ("split", "train"),
                                              ("split", None)])
def test_bad_values_raise(field, value):
    with pytest.raises(ValueError, match=field):
        ProxyConfig(**{field: value})


def test_recalibrate_still_requires_calibration_batches():
    net, evaluation, _ = _trained_net_and_data()
    with pytest.raises(ValueError, match="no calibration batch"):
        ProxyEvaluator(lambda arch: net, evaluation, [], ProxyConfig(batchnorm="recalibrate"))
    ProxyEvaluator(lambda arch: net, evaluation, [], ProxyConfig(batchnorm="batch"))
    ProxyConfig(split="test")
