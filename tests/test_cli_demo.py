"""`naslid demo`: the demo-preset path (SPOS vs NAS-LID on CIFAR-10) and its closing lines, at toy size."""

from dataclasses import replace

import pytest

from naslid.cli import main
from naslid.partition import ScheduleConfig
from naslid.runs import presets
from naslid.search import SearchConfig


@pytest.fixture
def small_demo_preset(monkeypatch):
    """The demo preset shrunk to seconds: 600 training images, 1 + 1 epochs, few archs and batches."""
    full = presets.PRESETS["demo"]

    def small():
        preset = full()
        config = preset.config
        config = replace(config, data=replace(config.data, train_limit=600, test_limit=100),
                         schedule=ScheduleConfig(split_epochs=(1,), finetune_epochs=1),
                         split=replace(config.split, batches=1, batch_size=64, k=8),
                         proxy=replace(config.proxy, evaluation_images=60, calibration_batches=1),
                         search=SearchConfig(population_size=4, generations=2, budget=8, num_parents=2,
                                             num_mutations=2, num_crossovers=2))
        plan = replace(preset.plan, track_subset="random20", track_every=1, profile_archs=1, profile_batches=1)
        return presets.Preset(preset.purpose, config, plan)

    monkeypatch.setitem(presets.PRESETS, "demo", small)


@pytest.mark.slow
def test_demo_with_cifar10_ranks_spos_and_nas_lid_beside_the_floor(tmp_path, capsys, shared_data, small_demo_preset):
    run_dir = tmp_path / "demo"
    assert main(["demo", "--run-dir", str(run_dir), "--data-path", str(shared_data / "cifar10"),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "SPOS and NAS-LID on CIFAR-10 at 16x16" in out
    assert "against the floor (params: a parameter count, no training; tau " in out
    verdicts = {line.split(":")[0].strip(): line for line in out.splitlines()[out.splitlines().index(next(
        line for line in out.splitlines() if line.startswith("against the floor"))) + 1:] if "floor" in line}
    assert set(verdicts) == {"spos", "nas-lid", "flops"}
    assert all("the floor (one seed)" in line for line in verdicts.values())
    assert sorted(p.name for p in (run_dir / "plots").iterdir()) == [
        "lid_profiles.png", "paired_vs_floor.png", "proxy_vs_truth.png", "separability.png", "split_reliability.png",
        "tau_while_training.png"]
