"""Proxy evaluation: accuracy with inherited weights, BN recalibration, and the supernet left unchanged."""

import copy

import pytest
import torch

from naslid.nn import NB201SuperNet
from naslid.search import ProxyConfig, ProxyEvaluator, accuracy, recalibrate_batchnorm
from naslid.spaces import NB201Arch


def _setup(seed=0):
    torch.manual_seed(seed)
    net = NB201SuperNet(channels=4, cells_per_stage=1, num_classes=3)
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(48, 3, 8, 8, generator=generator)
    labels = torch.randint(0, 3, (48,), generator=generator)
    return net, [(images[:24], labels[:24]), (images[24:], labels[24:])], [images[:16], images[16:32]]


def test_evaluator_scores_recalibrated_accuracy_and_leaves_supernet_unchanged():
    net, evaluation, calibration = _setup()
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    modes = [m.training for m in net.modules()]
    archs = [NB201Arch(("nor_conv_3x3",) * 6), NB201Arch(("skip_connect",) * 6)]
    evaluator = ProxyEvaluator(lambda arch: net, evaluation, calibration, ProxyConfig(calibration_batches=2))
    scores = evaluator.evaluate_many(archs)
    assert evaluator.evaluations == 2
    for arch, score in zip(archs, scores, strict=True):  # the value it must be: count by hand on a copy
        clone = copy.deepcopy(net)
        recalibrate_batchnorm(clone, arch, calibration)
        with torch.no_grad():
            correct = sum(int((clone(x, arch).argmax(1) == y).sum()) for x, y in evaluation)
        assert score == pytest.approx(correct / 48, abs=1e-12)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert modes == [m.training for m in net.modules()]


def test_recalibration_gives_exact_batch_statistics_of_the_path():
    net, _, calibration = _setup(1)
    arch = NB201Arch(("nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3"))
    recalibrate_batchnorm(net, arch, calibration)
    stem_bn = net.stem[1]
    stem_out = torch.cat([net.stem[0](c) for c in calibration])
    assert torch.allclose(stem_bn.running_mean, stem_out.mean(dim=(0, 2, 3)), atol=1e-5)
    assert not net.training


def test_accuracy_counts_correct_predictions():
    net, evaluation, _ = _setup(2)
    arch = NB201Arch(("nor_conv_3x3",) * 6)
    with torch.no_grad():
        net.eval()
        expected = sum((net(x, arch).argmax(1) == y).sum().item() for x, y in evaluation) / 48
    assert accuracy(net, arch, evaluation) == pytest.approx(expected)
    with pytest.raises(ValueError, match="empty"):
        accuracy(net, arch, [])


def test_configuration_errors():
    net, evaluation, _ = _setup()
    with pytest.raises(ValueError, match="no calibration batch"):
        ProxyEvaluator(lambda arch: net, evaluation, [], ProxyConfig(calibration_batches=2))
    with pytest.raises(ValueError, match="calibration_batches"):
        ProxyConfig(calibration_batches=-1)
    with pytest.raises(ValueError, match="evaluation_images"):
        ProxyConfig(evaluation_images=0)
