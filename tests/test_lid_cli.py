"""`naslid profile`: NB201 archs (fresh or from a supernet checkpoint), user modules, torchvision, outputs."""

import json
import textwrap

import pytest
import torch

from naslid.cli import main
from naslid.lid import load_profiles
from naslid.nn import NB201SuperNet
from naslid.runs.profile import ProfileConfig, build_model

GOOD = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
POOR = "|avg_pool_3x3~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|avg_pool_3x3~2|"
SMALL = ["--data", "digits", "--batch-size", "40", "--num-batches", "2", "-k", "8"]

USER_MODEL = """
import torch
from torch import nn


def build():
    torch.manual_seed(1)  # the CLI forks the RNG around factories, so this stays local
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(4 * 8 * 8, 10),
    )


def not_a_model():
    return 3
"""


@pytest.fixture
def user_model_file(tmp_path):
    path = tmp_path / "user_model.py"
    path.write_text(textwrap.dedent(USER_MODEL))
    return path


def test_profile_nb201_and_user_module_overlaid(tmp_path, user_model_file, capsys):
    out = tmp_path / "profiles.json"
    code = main(["profile", "--model", f"nb201:{GOOD}", "--model", f"nb201:{POOR}",
                 "--model", f"{user_model_file}:build", *SMALL, "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "profiled 3 models" in printed and str(out) in printed
    profiles, protocol = load_profiles(out)
    assert [len(profile.layers) for profile in profiles] == [17, 17, 6]
    assert profiles[0].layers[0] == "cells.0" and profiles[2].layers[0] == "0"
    assert all(profile.n == 40 and profile.k == 8 and profile.estimator == "mle" for profile in profiles)
    assert profiles[0].depth[-1] == profiles[2].depth[-1] == 1.0
    assert protocol["data"] == "digits" and protocol["n"] == 40 and protocol["models"][0] == f"nb201:{GOOD}"
    document = json.loads(out.read_text())
    assert document["schema"] == "naslid.lid_profile/1"
    png = out.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_profile_from_supernet_checkpoint(tmp_path):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        supernet = NB201SuperNet(in_channels=1)
    checkpoint = tmp_path / "supernet.pt"
    torch.save({"model": supernet.state_dict(), "model_config": supernet.config.to_dict()}, checkpoint)
    out = tmp_path / "trained.json"
    assert main(["profile", "--model", f"nb201:{GOOD}", "--model", f"nb201:{POOR}", "--checkpoint",
                 str(checkpoint), *SMALL, "--estimator", "twonn", "--out", str(out),
                 "--plot", str(tmp_path / "figure.png")]) == 0
    profiles, protocol = load_profiles(out)
    assert [profile.estimator for profile in profiles] == ["twonn", "twonn"] and profiles[0].k == 2
    assert protocol["checkpoints"] == [str(checkpoint)]
    assert (tmp_path / "figure.png").is_file()
    # both archs share the supernet's weights, so their first reduction-free layers differ only by ops
    assert profiles[0].mean != profiles[1].mean


def test_module_path_spec_and_checkpoint(tmp_path, user_model_file, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = ProfileConfig(models=["user_model:build"])
    entry = build_model("user_model:build", None, cfg)
    weights = {name: torch.zeros_like(value) for name, value in entry.model.state_dict().items()}
    checkpoint = tmp_path / "weights.pt"
    torch.save({"state_dict": weights}, checkpoint)
    loaded = build_model("user_model:build", str(checkpoint), cfg)
    assert all(torch.count_nonzero(value) == 0 for value in loaded.model.state_dict().values())
    assert loaded.label == "user_model:build"


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("resnet18", "not understood"),
        ("nb201:|bogus~0|", "NB201 arch string '|bogus~0|' has 1 node groups separated by '+', expected 3"),
        ("missing_file.py:build", "not found"),
        ("no_such_package_xyz:build", "cannot import module"),
        ("{file}:nothing", "no callable 'nothing'"),
        ("{file}:not_a_model", "returned int"),
    ],
)
def test_bad_model_specs_exit_with_one_line(spec, match, user_model_file, capsys):
    spec = spec.format(file=user_model_file)
    assert main(["profile", "--model", spec, *SMALL, "--out", "unused.json"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("naslid profile: error:") and match in error and error.count("\n") == 1


def test_checkpoint_count_must_match(tmp_path):
    with pytest.raises(ValueError, match="2 checkpoints for 3 models"):
        ProfileConfig(models=["a:b", "c:d", "e:f"], checkpoints=["x", "y"])


def test_torchvision_model_or_clear_error(tmp_path, capsys):
    try:
        import torchvision  # noqa: F401
    except Exception:
        assert main(["profile", "--model", "torchvision:resnet18", "--out", str(tmp_path / "tv.json")]) == 2
        assert "torchvision, which is not importable here" in capsys.readouterr().err
        return
    out = tmp_path / "tv.json"
    assert main(["profile", "--model", "torchvision:resnet18", "--batch-size", "24", "--num-batches", "1",
                 "-k", "5", "--out", str(out)]) == 0
    profiles, _ = load_profiles(out)
    assert "layer1.0" in profiles[0].layers


def test_torchvision_branch_with_a_stand_in(tmp_path, monkeypatch):
    """The torchvision path, run against a stand-in package (torchvision cannot be installed here)."""
    import sys
    import types

    from torch import nn

    def get_model(name, weights=None, num_classes=1000):
        assert weights is None
        head = nn.Linear(4 * 32 * 32, num_classes)
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), head)

    models = types.ModuleType("torchvision.models")
    models.list_models = lambda module=None: ["tiny_net"]
    models.get_model = get_model
    package = types.ModuleType("torchvision")
    package.models = models
    monkeypatch.setitem(sys.modules, "torchvision", package)
    monkeypatch.setitem(sys.modules, "torchvision.models", models)
    out = tmp_path / "tv.json"
    assert main(["profile", "--model", "torchvision:tiny_net", "--batch-size", "24", "--num-batches", "1",
                 "-k", "5", "--out", str(out)]) == 0
    profiles, _ = load_profiles(out)
    assert profiles[0].layers == ["0", "1", "2", "3"] and profiles[0].label == "tiny_net"
    with pytest.raises(ValueError, match="no classification model 'vgg'"):
        build_model("torchvision:vgg", None, ProfileConfig(models=["torchvision:vgg"]))
