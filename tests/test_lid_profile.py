"""Layer-wise LID profiling: layer choice, hooks, model state left untouched, NB201's 17 layers, JSON."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from naslid.lid import (
    LID_PROFILE_SCHEMA,
    MLE,
    LIDProfile,
    TwoNN,
    default_layers,
    load_profiles,
    measuring,
    mle_lid,
    profile_layers,
    save_profiles,
)


def small_net(seed: int = 0) -> nn.Module:
    """A stand-in CNN with BatchNorm and dropout (whose running statistics profiling must not change)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Dropout(0.5), nn.Flatten(), nn.Linear(8 * 8 * 8, 10),
        )


def batches(count: int = 3, n: int = 48, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, 8, 8, generator=generator) for _ in range(count)]


def snapshot(model: nn.Module) -> tuple[dict, dict]:
    state = {name: value.clone() for name, value in model.state_dict().items()}
    modes = {name: module.training for name, module in model.named_modules()}
    return state, modes


def assert_unchanged(model: nn.Module, before: tuple[dict, dict]) -> None:
    state, modes = snapshot(model)
    assert state.keys() == before[0].keys()
    for name in state:
        assert torch.equal(state[name], before[0][name]), name
    assert modes == before[1]
    assert not any(module._forward_hooks for module in model.modules())


def test_profile_shape_mean_and_spread():
    model = small_net()
    data = batches()
    profile = profile_layers(model, data, layers=["0", "3", "8"], estimator=MLE(k=10))
    assert profile.layers == ["0", "3", "8"]
    assert profile.depth == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert profile.n == 48 and profile.k == 10 and profile.estimator == "mle" and profile.num_batches == 3
    values = np.array(profile.values)
    assert values.shape == (3, 3)
    np.testing.assert_allclose(profile.mean, values.mean(axis=0))
    np.testing.assert_allclose(profile.std, values.std(axis=0))
    # the hook's value is the estimator applied to that layer's flattened output
    with torch.no_grad():
        model.eval()
        first = model[0](data[0]).flatten(1)
    assert profile.values[0][0] == pytest.approx(float(mle_lid(first, 10).mean()), rel=1e-6)


def test_default_layers_are_the_top_level_blocks():
    model = small_net()
    assert default_layers(model) == [str(index) for index in range(9)]
    wrapped = nn.Sequential()
    wrapped.add_module("body", nn.Sequential(nn.Linear(4, 4), nn.ReLU()))
    assert default_layers(wrapped) == ["body.0", "body.1"]
    profile = profile_layers(model, batches(1), estimator=MLE(k=5))
    assert profile.layers == [str(index) for index in range(9)]


def test_layers_by_type_in_forward_order():
    profile = profile_layers(small_net(), batches(1), layers=[nn.ReLU, nn.Conv2d], estimator=MLE(k=5))
    assert profile.layers == ["0", "2", "3", "5"]


@pytest.mark.parametrize("mode", ["eval", "train", "keep"])
@pytest.mark.parametrize("start_in_training", [True, False])
def test_model_is_left_exactly_as_found(mode, start_in_training):
    model = small_net()
    model.train(start_in_training)
    model[4].eval()  # a mixed state must come back too
    before = snapshot(model)
    grad_mode = torch.is_grad_enabled()
    profile_layers(model, batches(), estimator=MLE(k=5), mode=mode)
    assert_unchanged(model, before)
    assert torch.is_grad_enabled() == grad_mode
    assert all(parameter.grad is None for parameter in model.parameters())


def test_train_mode_uses_batch_statistics_and_restores_them():
    model = small_net()
    for batch in batches(5, seed=1):  # give the running statistics values far from batch statistics
        model.train()(batch * 3 + 2)
    model.eval()
    before = snapshot(model)
    eval_profile = profile_layers(model, batches(), layers=["1"], estimator=MLE(k=5), mode="eval")
    train_profile = profile_layers(model, batches(), layers=["1"], estimator=MLE(k=5), mode="train")
    assert_unchanged(model, before)
    assert model[1].num_batches_tracked.item() == 5
    assert eval_profile.values != train_profile.values  # batch statistics, not running ones
    assert (eval_profile.mode, train_profile.mode) == ("eval", "train")


def test_model_restored_and_hooks_removed_after_an_error():
    model = small_net()
    model.train()
    before = snapshot(model)

    def failing(net, batch):
        net(batch)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        profile_layers(model, batches(), estimator=MLE(k=5), forward=failing, mode="train")
    assert_unchanged(model, before)
    with pytest.raises(ValueError, match="k=60"):
        profile_layers(model, batches(), estimator=MLE(k=60))
    assert_unchanged(model, before)


def test_measuring_restores_replaced_buffers():
    model = small_net()
    before = snapshot(model)
    with measuring(model, "train"):
        model[1].running_mean = torch.full((8,), 5.0)  # replaced, not updated in place
        model[1].running_var.fill_(9.0)
    assert_unchanged(model, before)
    with pytest.raises(ValueError, match="mode must be one of"):
        with measuring(model, "inference"):
            pass


def test_each_layer_is_reduced_inside_its_hook():
    """Layer A's LID is computed before layer B runs: features never pile up across layers."""
    events = []

    class Recording(MLE):
        def estimate(self, x):
            events.append(("lid", x.shape[1]))
            return super().estimate(x)

    class Marker(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.layer = nn.Linear(width, width)

        def forward(self, x):
            events.append(("forward", x.shape[1]))
            return self.layer(x)

    model = nn.Sequential(Marker(5), nn.Linear(5, 7), Marker(7))
    profile_layers(model, torch.randn(30, 5), layers=["0", "1", "2"], estimator=Recording(k=5))
    assert events == [("forward", 5), ("lid", 5), ("lid", 7), ("forward", 7), ("lid", 7)]


def test_module_called_twice_gives_one_value_per_call():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(6, 6)
            self.act = nn.Tanh()

        def forward(self, x):
            return self.act(self.linear(self.act(x)))

    profile = profile_layers(Twice(), torch.randn(40, 6), layers=["act", "linear"], estimator=MLE(k=5))
    assert profile.layers == ["act", "linear", "act#2"]


def test_forward_callable_and_dataloader_style_batches():
    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Linear(6, 6)

        def forward(self, x, scale):
            return self.body(x) * scale

    model = TwoInputs()
    data = [(torch.randn(30, 6), torch.zeros(30, dtype=torch.long)) for _ in range(2)]
    profile = profile_layers(model, data, layers=["body"], estimator=MLE(k=5),
                             forward=lambda net, batch: net(batch[0], 2.0))
    assert profile.num_batches == 2
    tuples = profile_layers(nn.Sequential(nn.Linear(6, 6)), data, estimator=MLE(k=5))
    assert tuples.num_batches == 2


def test_twonn_profile_records_k_two():
    profile = profile_layers(small_net(), batches(1), layers=["3"], estimator="twonn")
    assert profile.estimator == "twonn" and profile.k == 2 and profile.estimator_params["discard_fraction"] == 0.1
    assert isinstance(TwoNN().params(), dict)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"layers": ["conv9"]}, "not a module name"),
        ({"layers": [nn.LSTM]}, "matches no module"),
        ({"layers": [3]}, "module name"),
        ({"estimator": "pca"}, "unknown LID estimator"),
        ({"mode": "inference"}, "mode must be one of"),
    ],
)
def test_bad_arguments_raise_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        profile_layers(small_net(), batches(1), **kwargs)


def test_batches_of_different_sizes_are_refused():
    data = batches(1) + batches(1, n=40)
    with pytest.raises(ValueError, match="n=40.*drop_last"):
        profile_layers(small_net(), data, estimator=MLE(k=5))


def test_empty_batches_and_silent_layers_are_refused():
    with pytest.raises(ValueError, match="batches is empty"):
        profile_layers(small_net(), [], estimator=MLE(k=5))
    model = small_net()
    with pytest.raises(ValueError, match="none of the chosen layers ran"):
        profile_layers(model, batches(1), layers=["0"], forward=lambda net, batch: None)


def test_non_finite_features_name_the_layer():
    model = nn.Sequential(nn.Linear(6, 6), nn.Linear(6, 6))
    with torch.no_grad():
        model[1].weight[0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"\['1'\] produced non-finite"):
        profile_layers(model, torch.randn(30, 6), estimator=MLE(k=5))


def test_layer_with_non_tensor_output_is_refused():
    class Named(nn.Module):  # a tuple or list is profiled on its first tensor (tests/test_lid_profile_models.py)
        def forward(self, x):
            return {"out": x}

    model = nn.Sequential()
    model.add_module("named", Named())
    with pytest.raises(ValueError, match="returned dict"):
        profile_layers(model, torch.randn(30, 6), layers=["named"], forward=lambda net, x: net.named(x))


def test_nb201_supernet_profile_is_the_17_layer_lids():
    nn_room = pytest.importorskip("naslid.nn")
    from naslid.spaces import NB201Space

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = nn_room.NB201SuperNet(channels=8, cells_per_stage=5)
    net.train()
    arch = NB201Space().sample(np.random.default_rng(3))
    data = [torch.randn(32, 3, 16, 16, generator=torch.Generator().manual_seed(seed)) for seed in range(2)]
    before = snapshot(net)
    layers = [f"cells.{index}" for index in range(17)]
    profile = profile_layers(net, data, layers, MLE(k=10), forward=lambda model, x: model(x, arch), mode="train")
    assert_unchanged(net, before)
    assert profile.layers == layers and len(profile.mean) == 17
    with measuring(net, "train"):
        features = net.forward_features(data[0], arch)
    assert_unchanged(net, before)
    expected = [float(mle_lid(feature.flatten(1), 10).mean()) for feature in features]
    np.testing.assert_allclose(profile.values[0], expected, rtol=1e-5)


def test_json_round_trip_and_schema(tmp_path):
    profile = profile_layers(small_net(), batches(2), layers=["0", "3"], estimator=MLE(k=5), label="small")
    path = save_profiles(tmp_path / "profile.json", [profile, profile], protocol={"data": "gaussian"})
    document = json.loads(path.read_text())
    assert document["schema"] == LID_PROFILE_SCHEMA == "naslid.lid_profile/1"
    entry = document["profiles"][0]
    for key in ("layers", "relative_depth", "lid_mean", "lid_std", "n", "k", "estimator"):
        assert key in entry
    loaded, protocol = load_profiles(path)
    assert loaded == [profile, profile] and protocol == {"data": "gaussian"}
    assert LIDProfile.from_json(profile.to_json()) == profile
    document["schema"] = "naslid.lid_profile/2"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="naslid.lid_profile/2"):
        load_profiles(path)
    with pytest.raises(KeyError, match="lid_mean"):
        LIDProfile.from_json({"layers": []})
