"""Smoke tests of the benchmark scripts that gpu_check.sh runs: they run, and write what they claim."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from naslid.data import load_cifar10

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_throughput_quick_run_writes_every_mode(tmp_path, monkeypatch):
    throughput = _load("train_throughput")
    out = tmp_path / "throughput.json"
    monkeypatch.setattr(sys, "argv", ["train_throughput.py", "--quick", "--device", "cpu", "--batches", "8",
                                      "--modes", "reference,fixed-kernels", "--out", str(out)])
    throughput.main()
    record = json.loads(out.read_text())
    assert record["device"] == "cpu" and [r["mode"] for r in record["results"]] == ["reference", "fixed-kernels"]
    reference, fixed = record["results"]
    assert fixed["step"] == "fixed-kernels" and not fixed["cuda_graph"] and reference["step"] == "module"
    assert all(r["images_per_second"] > 0 for r in record["results"])
    assert fixed["over_reference_same_batch"] == pytest.approx(fixed["images_per_second"] /
                                                               reference["images_per_second"])
    with pytest.raises(ValueError, match="unknown mode"):
        throughput.mode_settings("graph", throughput.torch.device("cpu"))


def test_compare_paper_epoch_cut_and_random_data(tmp_path):
    compare = _load("compare_paper")
    assert compare.scaled_schedule(0.1) == ((2, 4, 6, 8), 1)
    assert compare.scaled_schedule(0.01) == ((1, 2, 3, 4), 1)
    assert compare.scaled_schedule(1.0) == ((20, 40, 60, 80), 10)
    folder = compare.write_random_cifar10(tmp_path / "cifar-10-batches-py", train=50, test=10)
    train, test = load_cifar10(folder)
    assert len(train) == 50 and len(test) == 10 and train.images.shape[1:] == (3, 32, 32)


def test_ablation_study_methods_configure_on_the_cpu_preset():
    study = _load("ablation_study")
    from naslid.runs.presets import get_preset
    from naslid.runs.protocols import method_config, split_methods

    methods = split_methods(study.STUDY)
    assert len(methods) == 8 and "nas-lid[similarity=cosine,edge-score=max-cross,finetune=restart]" in methods
    configs = {m: method_config(get_preset("cpu").config, m) for m in methods}
    released = configs["nas-lid[similarity=cosine,edge-score=max-cross,finetune=restart]"]
    assert (released.split.similarity, released.split.edge_score, released.schedule.finetune) == (
        "cosine", "max-cross", "restart")
    assert configs["nas-lid[split-epochs=15:25]"].schedule.split_epochs == (15, 25)
    assert configs["nas-lid[split-epochs=15:25]"].schedule.total_epochs == 35  # the same budget, one more level


def test_cli_help_finds_every_command():
    """benchmarks/cli_help.py times `naslid COMMAND --help` for the commands `naslid --help` lists: all of them."""
    from naslid.cli import COMMANDS

    assert _load("cli_help").commands() == [name for name, *_ in COMMANDS]
