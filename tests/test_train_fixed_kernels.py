"""The fixed-kernel SPOS step keeps single-path semantics: the same result as the module-per-op step.

For the same seeded paths and batches, weights, SGD momentum buffers (and which weights have one) and BN
buffers after several steps match `NB201SuperNet` trained with `torch.optim.SGD` to atol 1e-5 plus rtol 1e-5
(float32 on the CPU), for the root space and for sub-spaces; weights, buffers and BN rows that no step put
on the path stay bit-unchanged.
"""

from contextlib import nullcontext

import numpy as np
import pytest
import torch
from helpers import NB201_ALL
from torch import nn
from torch.nn import functional as F

from naslid.data import DeviceLoader, load_digits_dataset
from naslid.nn import NB201SuperNet
from naslid.train import FixedKernelStep, TrainConfig, create_optimizer, load_checkpoint, train_supernet

ATOL = RTOL = 1e-5  # |got - expected| <= 1e-5 + 1e-5 |expected|
CHILD = NB201_ALL.split(3, [["nor_conv_3x3", "skip_connect"], ["none", "nor_conv_1x1", "avg_pool_3x3"]])[0]
GRANDCHILD = CHILD.split(5, [["none", "avg_pool_3x3"], ["skip_connect", "nor_conv_1x1", "nor_conv_3x3"]])[1]


def _net(seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return NB201SuperNet(channels=4, cells_per_stage=2)


def _module_step(net, optimizer, images, labels, arch, cfg):
    loss = F.cross_entropy(net(images, arch), labels, label_smoothing=cfg.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_([p for p in net.parameters() if p.grad is not None], cfg.grad_clip)
    optimizer.step()
    return loss.detach()


def _assert_same_training_state(net, optimizer, reference, reference_optimizer):
    state, expected = net.state_dict(), reference.state_dict()
    for name, value in expected.items():
        torch.testing.assert_close(state[name], value, atol=ATOL, rtol=RTOL, msg=name)
    names = dict(zip(range(len(expected)), [n for n, _ in reference.named_parameters()], strict=False))
    got, want = optimizer.state_dict()["state"], reference_optimizer.state_dict()["state"]
    assert sorted(got) == sorted(want), "the same weights have momentum buffers"
    for key in want:
        torch.testing.assert_close(got[key]["momentum_buffer"], want[key]["momentum_buffer"], atol=ATOL, rtol=RTOL,
                                   msg=names[key])


@pytest.mark.parametrize("subspace", [NB201_ALL, CHILD, GRANDCHILD], ids=["root", "child", "grandchild"])
def test_steps_match_the_module_supernet(subspace):
    cfg = TrainConfig(learning_rate=0.2, weight_decay=5e-3, grad_clip=2.0, label_smoothing=0.1)
    reference, net = _net(), _net()
    initial = {k: v.clone() for k, v in net.state_dict().items()}
    reference_optimizer, optimizer = create_optimizer(reference, cfg), create_optimizer(net, cfg)
    stepper = FixedKernelStep(net, optimizer, cfg, nullcontext)
    stepper.load()
    rng, generator = np.random.default_rng(3), torch.Generator().manual_seed(4)
    touched = set()
    for step in range(8):
        arch = subspace.sample(rng)
        assert arch in subspace
        images, labels = torch.randn(16, 3, 8, 8, generator=generator), torch.randint(0, 10, (16,), generator=generator)
        lr = cfg.learning_rate * (1 - step / 10)
        for group in reference_optimizer.param_groups:
            group["lr"] = lr
        expected = _module_step(reference, reference_optimizer, images, labels, arch, cfg)
        touched |= {name for name, p in reference.named_parameters() if p.grad is not None}
        loss, logits = stepper.step(images, labels, arch, lr)
        torch.testing.assert_close(loss, expected, atol=ATOL, rtol=RTOL)
        assert logits.shape == (16, 10)
        if step == 3:  # a round trip through the module layout in the middle changes nothing
            stepper.store()
            stepper.load()
    stepper.store()
    _assert_same_training_state(net, optimizer, reference, reference_optimizer)
    after, expected_after = net.state_dict(), reference.state_dict()
    for name, value in initial.items():
        if torch.equal(expected_after[name], value):  # the module step never changed it: bit-unchanged here
            assert torch.equal(after[name], value), name
    untouched = [name for name, _ in net.named_parameters() if name not in touched]
    assert untouched and all(torch.equal(after[name], initial[name]) for name in untouched)
    if subspace != NB201_ALL:  # ops a sub-space excludes are never selected
        assert all(".edges.3.nor_conv_1x1." not in name for name in touched)


def test_masked_sgd_is_torch_sgd_where_the_mask_is_on():
    from naslid.train import masked_sgd_

    generator = torch.Generator().manual_seed(0)
    param, grad = torch.randn(6, 5, generator=generator), torch.randn(6, 5, generator=generator)
    rows = torch.tensor([True, False, True, True, False, False])
    mask = rows.view(6, 1).expand(6, 5).float()
    reference = param[rows].clone().requires_grad_()
    sgd = torch.optim.SGD([reference], lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2)
    buffer = torch.zeros_like(param)
    expected_off = param[~rows].clone()
    for _ in range(3):
        reference.grad = grad[rows].clone()
        sgd.step()
        masked_sgd_([param], [grad], [buffer], [mask], torch.tensor(0.1), 0.9, True, 1e-2)
    torch.testing.assert_close(param[rows], reference.detach(), atol=1e-7, rtol=0)
    torch.testing.assert_close(buffer[rows], sgd.state[reference]["momentum_buffer"], atol=1e-7, rtol=0)
    assert torch.equal(param[~rows], expected_off) and torch.equal(buffer[~rows], torch.zeros(3, 5))


@pytest.fixture(scope="module")
def digits_loader():
    train, _ = load_digits_dataset()
    return DeviceLoader(train.subset(list(range(192))), batch_size=64, seed=3)


def test_train_supernet_option_matches_and_resumes_with_the_module_step(digits_loader, tmp_path):
    def net():
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return NB201SuperNet(channels=4, cells_per_stage=1, in_channels=1)

    module_cfg = TrainConfig(epochs=3, learning_rate=0.05, seed=1)
    fixed_cfg = TrainConfig(epochs=3, learning_rate=0.05, seed=1, step="fixed-kernels")
    reference, fixed = net(), net()
    reference_state = train_supernet(reference, NB201_ALL, digits_loader, module_cfg, until_epoch=2)
    path = tmp_path / "fixed.pt"
    fixed_state = train_supernet(fixed, NB201_ALL, digits_loader, fixed_cfg, until_epoch=2, checkpoint_path=path)
    _assert_same_training_state(fixed, fixed_state.optimizer, reference, reference_state.optimizer)
    # the checkpoint is in the usual layout: the module step continues from it
    train_supernet(reference, NB201_ALL, digits_loader, module_cfg, state=reference_state)
    resumed = net()
    state = train_supernet(resumed, NB201_ALL, digits_loader, module_cfg, checkpoint_path=path)
    assert state.epoch == 3 and load_checkpoint(path)["epoch"] == 3
    _assert_same_training_state(resumed, state.optimizer, reference, reference_state.optimizer)


def test_config_rejects_an_unknown_step():
    with pytest.raises(ValueError, match="step"):
        TrainConfig(step="graph")


def test_cli_flag_sets_the_step():
    from naslid.cli import build_parser
    from naslid.cli.configuration import run_config

    args = build_parser().parse_args(["compare", "runs/x", "--preset", "paper", "--train-step", "fixed-kernels"])
    assert run_config(args)[0].train.step == "fixed-kernels"
    args = build_parser().parse_args(["compare", "runs/x", "--preset", "paper"])
    assert run_config(args)[0].train.step == "module"
