"""Training options that reproduce reference NAS codes: LR stepping and period, zeroed off-path gradients, the
no-repeat path sampler, kaiming-normal initialisation."""

import math

import numpy as np
import pytest
import torch
from helpers import NB201_ALL
from scipy import stats

from naslid.data import DeviceLoader, load_digits_dataset
from naslid.nn import NB201Config, NB201SuperNet, build_supernet_for, initialise_weights
from naslid.spaces import NB201_OPS, ChoiceArch, SubSpace
from naslid.train import (
    TrainConfig,
    checkpoint_dict,
    load_checkpoint,
    lr_at,
    new_train_state,
    restore_train_state,
    train_supernet,
)


@pytest.fixture(scope="module")
def digits_loader():
    train, _ = load_digits_dataset()
    return DeviceLoader(train.subset(list(range(128))), batch_size=64, seed=3)


def _net(seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return NB201SuperNet(channels=4, cells_per_stage=1, in_channels=1)


def _only(op: str) -> SubSpace:
    return SubSpace([[op]] * 6, "nb201")


# ---- learning rate


def test_epoch_stepping_holds_the_rate_within_an_epoch_at_the_step_value_of_its_start():
    per_step = TrainConfig(epochs=10, learning_rate=0.1, min_learning_rate=0.001)
    per_epoch = TrainConfig(epochs=10, learning_rate=0.1, min_learning_rate=0.001, lr_stepping="epoch")
    for epoch in range(10):
        start = lr_at(epoch, per_step)
        for fraction in (0.0, 0.25, 0.5, 389 / 390):
            assert lr_at(epoch + fraction, per_epoch) == start
        assert lr_at(epoch + 0.5, per_step) < start  # the default moves within the epoch
    assert lr_at(10, per_epoch) == lr_at(10, per_step) == pytest.approx(0.001)


def test_epoch_stepping_is_what_training_applies(digits_loader):
    cfg = TrainConfig(epochs=3, learning_rate=0.05, lr_stepping="epoch", seed=1)
    seen: list[tuple[int, float]] = []

    class RecordingLoader:
        def __len__(self):
            return len(digits_loader)

        def epoch(self, index):
            for batch in digits_loader.epoch(index):
                seen.append((index, optimizer.param_groups[0]["lr"]))  # the rate of the step before this one
                yield batch

    net = _net()
    state = new_train_state(net, cfg)
    optimizer = state.optimizer
    train_supernet(net, NB201_ALL, RecordingLoader(), cfg, state=state)
    seen.append((3, optimizer.param_groups[0]["lr"]))
    applied = [lr for _, lr in seen[1:]]  # the rate each step used
    steps = len(digits_loader)
    expected = [lr_at(epoch, cfg) for epoch in range(3) for _ in range(steps)]
    assert applied == expected


def test_period_longer_than_training_matches_torch_cosine_annealing_stepped_per_epoch():
    period, epochs = 180, 30
    cfg = TrainConfig(epochs=epochs, learning_rate=0.001, min_learning_rate=1e-4, lr_period_epochs=period,
                      lr_stepping="epoch")
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=0.001)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=period, eta_min=1e-4)
    for epoch in range(period):
        formula = 1e-4 + (0.001 - 1e-4) * (1 + math.cos(math.pi * epoch / period)) / 2
        assert lr_at(epoch + 0.5, cfg) == pytest.approx(formula, rel=1e-12, abs=0)
        assert lr_at(epoch + 0.5, cfg) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-9, abs=0)
        optimizer.step()
        scheduler.step()
    assert lr_at(epochs, cfg) > 9e-4  # the NAS-LID release never gets near its minimum
    # past the period the rate stays at the minimum (torch's scheduler would rise again)
    assert lr_at(period, cfg) == lr_at(period + 50, cfg) == pytest.approx(1e-4)
    # per step, the same cosine over the period
    per_step = TrainConfig(epochs=epochs, learning_rate=0.001, min_learning_rate=1e-4, lr_period_epochs=period)
    assert lr_at(12.5, per_step) == pytest.approx(1e-4 + 9e-4 * (1 + math.cos(math.pi * 12.5 / period)) / 2)


def test_default_period_is_the_schedule_length():
    cfg = TrainConfig(epochs=40, learning_rate=0.025, min_learning_rate=0.001)
    explicit = TrainConfig(epochs=40, learning_rate=0.025, min_learning_rate=0.001, lr_period_epochs=40)
    for epoch in (0, 3.3, 20, 39.9, 40, 45):
        assert lr_at(epoch, cfg) == lr_at(epoch, explicit)


# ---- off-path gradients


def _weights(net, op):
    return {name: value.detach().clone() for name, value in net.named_parameters() if f".{op}." in name}


def _buffers(net, op):
    return {name: value.clone() for name, value in net.named_buffers() if f".{op}." in name}


@pytest.mark.parametrize("mode", ["none", "zero"])
def test_zero_off_path_gradients_let_decay_move_ops_never_on_the_path(digits_loader, mode):
    cfg = TrainConfig(epochs=1, learning_rate=0.05, weight_decay=5e-4, momentum=0.9, off_path_gradients=mode)
    net = _net()
    off, off_buffers, on = _weights(net, "nor_conv_1x1"), _buffers(net, "nor_conv_1x1"), _weights(net, "nor_conv_3x3")
    assert off and on
    train_supernet(net, _only("nor_conv_3x3"), digits_loader, cfg)
    after = _weights(net, "nor_conv_1x1")
    changed = [name for name, value in off.items() if not torch.equal(value, after[name])]
    if mode == "none":
        assert changed == []
    else:
        assert sorted(changed) == sorted(name for name, value in off.items() if value.any())  # BN biases stay 0
        # only decay acted (a zero gradient): each weight shrank towards 0 by the same factor, sign kept
        for name, value in off.items():
            nonzero = value != 0
            ratio = after[name][nonzero] / value[nonzero]
            assert bool(((ratio > 0.99) & (ratio < 1)).all()), name
    # never on the path, never run: BN statistics stay in both modes; the path's own weights train
    assert all(torch.equal(value, _buffers(net, "nor_conv_1x1")[name]) for name, value in off_buffers.items())
    assert all(not torch.equal(value, _weights(net, "nor_conv_3x3")[name]) for name, value in on.items())


@pytest.mark.parametrize("mode", ["none", "zero"])
def test_zero_off_path_gradients_keep_momentum_acting_after_an_op_leaves_the_path(digits_loader, mode):
    cfg = TrainConfig(epochs=2, learning_rate=0.05, weight_decay=0.0, momentum=0.9, off_path_gradients=mode)
    net = _net()
    state = new_train_state(net, cfg)
    train_supernet(net, _only("nor_conv_3x3"), digits_loader, cfg, state=state, until_epoch=1)
    before = _weights(net, "nor_conv_3x3")
    train_supernet(net, _only("nor_conv_1x1"), digits_loader, cfg, state=state)  # 3x3 now off the path
    after = _weights(net, "nor_conv_3x3")
    moved = [name for name, value in before.items() if not torch.equal(value, after[name])]
    # no decay here: only the momentum gathered on the path can move the 3x3 weights once they are off it
    assert moved == ([] if mode == "none" else list(before))


def test_zero_off_path_gradients_change_nothing_when_every_parameter_is_on_the_path(digits_loader):
    """Zero gradients add nothing to the path's update: the path's and the body's weights agree bit for bit."""
    nets = []
    for mode in ("none", "zero"):
        net = _net()
        train_supernet(net, _only("nor_conv_3x3"), digits_loader,
                       TrainConfig(epochs=1, learning_rate=0.05, off_path_gradients=mode))
        nets.append({name: value for name, value in net.state_dict().items() if "nor_conv_1x1" not in name})
    assert all(torch.equal(value, nets[1][name]) for name, value in nets[0].items())


# ---- path sampler


def _chain(subspace, draws, seed=0):
    rng = np.random.default_rng(seed)
    paths, previous = [], None
    for _ in range(draws):
        previous = subspace.sample_avoiding(rng, previous)
        paths.append(previous)
    return paths


def test_no_repeat_sampler_never_repeats_alternates_on_two_choices_and_is_uniform_over_the_rest():
    allowed = [NB201_OPS, NB201_OPS, ["nor_conv_3x3", "skip_connect"], ["none", "avg_pool_3x3", "nor_conv_1x1"],
               ["nor_conv_3x3"], NB201_OPS]
    subspace = SubSpace(allowed, "nb201")
    paths = _chain(subspace, 1000)
    assert all(path in subspace for path in paths)
    for point in range(6):
        ops = [path.ops[point] for path in paths]
        if len(subspace.allowed[point]) == 1:
            assert set(ops) == {"nor_conv_3x3"}
            continue
        assert all(a != b for a, b in zip(ops, ops[1:], strict=False)), point
        if len(subspace.allowed[point]) == 2:
            assert ops[::2] == [ops[0]] * 500 and ops[1::2] == [ops[1]] * 500
            continue
        for previous in subspace.allowed[point]:  # after each choice, the others equally often
            following = [b for a, b in zip(ops, ops[1:], strict=False) if a == previous]
            counts = [following.count(name) for name in subspace.allowed[point] if name != previous]
            assert stats.chisquare(counts).pvalue > 1e-3, (point, previous, counts)
        counts = [ops.count(name) for name in subspace.allowed[point]]  # and each choice equally often overall
        assert stats.chisquare(counts).pvalue > 1e-3, (point, counts)


def test_no_repeat_sampler_starts_uniform_and_ignores_a_previous_choice_outside_the_subspace():
    subspace = SubSpace([["nor_conv_3x3", "skip_connect"]] * 6, "nb201")
    first, second = np.random.default_rng(5), np.random.default_rng(5)
    assert [subspace.sample_avoiding(first, None) for _ in range(20)] == [subspace.sample(second) for _ in range(20)]
    outside = subspace.space.make_arch(("none",) * 6)  # e.g. the parent's last path, after a split
    drawn = {subspace.sample_avoiding(np.random.default_rng(seed), outside).ops[0] for seed in range(40)}
    assert drawn == {"nor_conv_3x3", "skip_connect"}
    with pytest.raises(ValueError, match="previous path"):
        subspace.sample_avoiding(np.random.default_rng(0), ChoiceArch(("none",) * 3))


def test_training_with_no_repeat_alternates_a_two_choice_edge(digits_loader):
    subspace = SubSpace([["nor_conv_3x3", "skip_connect"]] + [["nor_conv_1x1"]] * 5, "nb201")
    paths = []

    class Recorder:
        def __len__(self):
            return len(digits_loader)

        def epoch(self, index):
            for batch in digits_loader.epoch(index):
                yield batch
                paths.append(state.previous_path)

    cfg = TrainConfig(epochs=3, learning_rate=0.05, path_sampler="no-repeat")
    net = _net()
    state = new_train_state(net, cfg)
    train_supernet(net, subspace, Recorder(), cfg, state=state)
    edge = [path.ops[0] for path in paths]
    assert len(edge) == 3 * len(digits_loader) and all(a != b for a, b in zip(edge, edge[1:], strict=False))


def test_no_repeat_resume_two_plus_two_epochs_equals_four(digits_loader, tmp_path):
    cfg = TrainConfig(epochs=4, learning_rate=0.05, seed=1, path_sampler="no-repeat")
    reference = _net()
    train_supernet(reference, NB201_ALL, digits_loader, cfg)

    path = tmp_path / "run.pt"
    train_supernet(_net(), NB201_ALL, digits_loader, cfg, until_epoch=2, checkpoint_path=path)
    saved = load_checkpoint(path)["previous_path"]
    assert isinstance(saved, list) and len(saved) == 6 and all(name in NB201_OPS for name in saved)
    resumed = _net(seed=99)  # a fresh process: everything comes from the file
    state = train_supernet(resumed, NB201_ALL, digits_loader, cfg, checkpoint_path=path)
    assert state.epoch == 4
    for name, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_checkpoint_without_previous_path_restores_none(digits_loader):
    cfg = TrainConfig(epochs=1, learning_rate=0.05)
    net = _net()
    state = new_train_state(net, cfg)
    checkpoint = checkpoint_dict(net, state, cfg, NB201_ALL)
    assert checkpoint["previous_path"] is None
    del checkpoint["previous_path"]  # a checkpoint written before the option existed
    assert restore_train_state(_net(), checkpoint, cfg, NB201_ALL).previous_path is None


def test_resume_refuses_another_sampler_or_off_path_mode(digits_loader, tmp_path):
    path = tmp_path / "run.pt"
    train_supernet(_net(), NB201_ALL, digits_loader, TrainConfig(epochs=2, learning_rate=0.05), until_epoch=1,
                   checkpoint_path=path)
    for change in ({"path_sampler": "no-repeat"}, {"off_path_gradients": "zero"}):
        with pytest.raises(ValueError, match=next(iter(change))):
            train_supernet(_net(), NB201_ALL, digits_loader, TrainConfig(epochs=2, learning_rate=0.05, **change),
                           checkpoint_path=path)


# ---- initialisation


def test_kaiming_normal_init_draws_convolution_and_linear_weights_with_std_sqrt_2_over_fan_in():
    net = build_supernet_for("nb201", NB201Config(channels=8, cells_per_stage=1))
    initialise_weights(net, "kaiming-normal", generator_seed=0)
    pooled = []
    for name, module in net.named_modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
            weight = module.weight.detach()
            expected = math.sqrt(2.0 / weight[0].numel())
            count = weight.numel()
            # each layer within 5 standard errors of the std estimate, plus the pooled check below
            assert abs(weight.std().item() / expected - 1) < 5 / math.sqrt(2 * count), name
            pooled.append((weight / expected).flatten())
            if isinstance(module, torch.nn.Linear):
                assert torch.equal(module.bias, torch.zeros_like(module.bias))
        elif isinstance(module, torch.nn.BatchNorm2d) and module.affine:
            assert torch.equal(module.weight, torch.ones_like(module.weight)), name
            assert torch.equal(module.bias, torch.zeros_like(module.bias)), name
    pooled = torch.cat(pooled)
    assert pooled.numel() > 5000
    assert abs(pooled.std().item() - 1) < 0.03 and abs(pooled.mean().item()) < 0.03
    # PyTorch's default (kaiming_uniform with a=sqrt(5): std 1/sqrt(3 fan_in)) is far from it
    default = build_supernet_for("nb201", NB201Config(channels=8, cells_per_stage=1))
    weight = default.cells[0].edges[0]["nor_conv_3x3"][1].weight.detach()
    assert weight.std().item() < 0.6 * math.sqrt(2.0 / weight[0].numel())


def test_init_is_seeded_leaves_the_global_rng_and_default_changes_nothing():
    config = NB201Config(channels=8, cells_per_stage=1)
    nets = [build_supernet_for("nb201", config) for _ in range(3)]
    nets[1].load_state_dict(nets[0].state_dict())
    before = {name: value.clone() for name, value in nets[0].state_dict().items()}
    initialise_weights(nets[0], "default", generator_seed=0)
    assert all(torch.equal(value, nets[0].state_dict()[name]) for name, value in before.items())
    rng_state = torch.random.get_rng_state()
    initialise_weights(nets[1], "kaiming-normal", generator_seed=7)
    initialise_weights(nets[2], "kaiming-normal", generator_seed=7)
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    assert all(torch.equal(value, nets[2].state_dict()[name]) for name, value in nets[1].state_dict().items())
    # without a seed: the global generator, in module order, exactly as hyperbox's nn.init calls draw it
    reference = build_supernet_for("nb201", config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        initialise_weights(nets[2], "kaiming-normal")
        torch.manual_seed(3)
        for module in reference.modules():
            if isinstance(module, torch.nn.modules.conv._ConvNd | torch.nn.Linear):
                torch.nn.init.kaiming_normal_(module.weight.data)
    for name, value in nets[2].named_parameters():
        if name.endswith("weight") and value.dim() > 1:
            assert torch.equal(value, dict(reference.named_parameters())[name]), name
    with pytest.raises(ValueError, match="xavier"):
        initialise_weights(nets[0], "xavier")


# ---- validation


@pytest.mark.parametrize("field, value", [
    ("lr_stepping", "batch"), ("lr_period_epochs", 0), ("lr_period_epochs", -3.0), ("lr_period_epochs", math.inf),
    ("lr_period_epochs", "180"), ("lr_period_epochs", True), ("off_path_gradients", "zeros"),
    ("path_sampler", "no_repeat"), ("init", "kaiming"),
])
def test_invalid_values_raise_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def test_fixed_kernels_refuse_zero_off_path_gradients():
    with pytest.raises(ValueError, match="off_path_gradients='zero'.*fixed-kernels"):
        TrainConfig(step="fixed-kernels", off_path_gradients="zero")
    TrainConfig(step="fixed-kernels", path_sampler="no-repeat", lr_stepping="epoch", lr_period_epochs=180.0)
