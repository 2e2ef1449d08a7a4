"""SPOS training: reproducible on the CPU, exact resume after an interruption, checkpoints, LR schedule."""

import numpy as np
import pytest
import torch
from helpers import NB201_ALL

from naslid.data import DeviceLoader, load_digits_dataset
from naslid.nn import NB201SuperNet
from naslid.train import TrainConfig, load_checkpoint, lr_at, save_checkpoint, train_supernet


@pytest.fixture(scope="module")
def digits_loader():
    train, _ = load_digits_dataset()
    return DeviceLoader(train.subset(list(range(256))), batch_size=64, seed=3)


def _net(seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return NB201SuperNet(channels=4, cells_per_stage=1, in_channels=1)


def _cfg(**kwargs):
    return TrainConfig(epochs=4, learning_rate=0.05, seed=1, **kwargs)


def test_training_reduces_loss_and_records_history(digits_loader, tmp_path):
    net = _net()
    state = train_supernet(net, NB201_ALL, digits_loader, _cfg(), checkpoint_path=tmp_path / "ckpt.pt")
    assert state.epoch == 4 and state.step == 4 * len(digits_loader)
    losses = [entry["loss"] for entry in state.history]
    assert losses[-1] < losses[0]
    checkpoint = load_checkpoint(tmp_path / "ckpt.pt")
    assert checkpoint["epoch"] == 4 and checkpoint["subspace"]["allowed"][0][0] == "none"


def test_fixed_seed_reproduces_weights(digits_loader):
    first, second = _net(), _net()
    train_supernet(first, NB201_ALL, digits_loader, _cfg(), until_epoch=2)
    train_supernet(second, NB201_ALL, digits_loader, _cfg(), until_epoch=2)
    pairs = zip(first.state_dict().values(), second.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


def test_resume_after_interrupted_epoch_matches_uninterrupted_run(digits_loader, tmp_path):
    reference = _net()
    train_supernet(reference, NB201_ALL, digits_loader, _cfg())

    path = tmp_path / "run.pt"
    interrupted = _net()
    train_supernet(interrupted, NB201_ALL, digits_loader, _cfg(), until_epoch=2, checkpoint_path=path)

    class Crash(Exception):
        pass

    class CrashingLoader:  # dies in the middle of epoch 3, after some optimizer steps
        def __len__(self):
            return len(digits_loader)

        def epoch(self, index):
            for step, batch in enumerate(digits_loader.epoch(index)):
                if step == 2:
                    raise Crash
                yield batch

    with pytest.raises(Crash):
        train_supernet(interrupted, NB201_ALL, CrashingLoader(), _cfg(), checkpoint_path=path)
    resumed = _net(seed=99)  # a fresh process: different initial weights, everything comes from the file
    state = train_supernet(resumed, NB201_ALL, digits_loader, _cfg(), checkpoint_path=path)
    assert state.epoch == 4
    for name, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_subspace_restricts_the_sampled_paths(digits_loader):
    subspace = NB201_ALL.split(0, [["nor_conv_3x3", "skip_connect"], ["none", "nor_conv_1x1", "avg_pool_3x3"]])[0]
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    train_supernet(net, subspace, digits_loader, _cfg(weight_decay=0.0), until_epoch=1)
    after = net.state_dict()
    conv1x1_edge0 = [k for k in before if ".edges.0.nor_conv_1x1." in k and k.endswith("weight")]
    conv3x3_edge0 = [k for k in before if ".edges.0.nor_conv_3x3." in k and k.endswith("weight")]
    assert conv1x1_edge0 and all(torch.equal(before[k], after[k]) for k in conv1x1_edge0)
    assert any(not torch.equal(before[k], after[k]) for k in conv3x3_edge0)


def test_learning_rate_schedule():
    cfg = TrainConfig(epochs=10, learning_rate=0.1, min_learning_rate=0.0)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(5, cfg) == pytest.approx(0.05)
    assert lr_at(10, cfg) == pytest.approx(0.0)
    warm = TrainConfig(epochs=10, learning_rate=0.1, warmup_epochs=2)
    assert lr_at(1, warm) < lr_at(2, warm)
    assert np.all(np.diff([lr_at(e, cfg) for e in range(11)]) <= 0)


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not be read"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"schema": "other/1"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="schema"):
        load_checkpoint(tmp_path / "other.pt")
    save_checkpoint(tmp_path / "ok.pt", {"epoch": 1})
    assert load_checkpoint(tmp_path / "ok.pt")["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp8")
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)


def test_resume_refuses_another_subspace_or_other_settings(digits_loader, tmp_path):
    path = tmp_path / "run.pt"
    train_supernet(_net(), NB201_ALL, digits_loader, _cfg(), until_epoch=1, checkpoint_path=path)
    child = NB201_ALL.split(0, [["none", "skip_connect"], ["nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]])[0]
    with pytest.raises(ValueError, match="trained on"):
        train_supernet(_net(), child, digits_loader, _cfg(), checkpoint_path=path)
    with pytest.raises(ValueError, match="weight_decay"):
        train_supernet(_net(), NB201_ALL, digits_loader, _cfg(weight_decay=0.0), checkpoint_path=path)


def test_channels_last_is_the_default_and_changes_only_float_rounding(digits_loader):
    from naslid.train import channels_last_for

    assert channels_last_for(TrainConfig()) and not channels_last_for(TrainConfig(channels_last=False))
    fast, exact = _net(), _net()
    train_supernet(fast, NB201_ALL, digits_loader, _cfg(), until_epoch=1)
    train_supernet(exact, NB201_ALL, digits_loader, _cfg(channels_last=False), until_epoch=1)
    assert fast.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not fast.cells[1].conv_a[1].weight.is_contiguous()  # a 3x3 conv: the layouts differ
    assert exact.cells[1].conv_a[1].weight.is_contiguous()
    expected = exact.state_dict()
    for name, value in fast.state_dict().items():  # 4 SGD steps: rounding, amplified a little
        torch.testing.assert_close(value, expected[name], atol=1e-4, rtol=1e-3, msg=name)


def test_memory_format_flag():
    from naslid.cli import build_parser
    from naslid.cli.configuration import run_config

    parser = build_parser()
    assert run_config(parser.parse_args(["train", "runs/x"]))[0].train.channels_last is None
    args = parser.parse_args(["train", "runs/x", "--memory-format", "contiguous"])
    assert run_config(args)[0].train.channels_last is False
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "runs/x", "--memory-format", "nhwc"])
