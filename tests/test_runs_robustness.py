"""Run directories under failure: one writer, no poisoning by a failed first call, killed writes, divergence,
lost checkpoints. Processes that hold a lock or die mid-write are real subprocesses, killed for real."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace

import pytest
import torch
from helpers import NB201_ALL, tiny_run_config

from naslid.cli import main
from naslid.nn import NB201Config
from naslid.partition import ScheduleConfig, SplitConfig
from naslid.runs.config import RunConfig
from naslid.runs.datasets import DataConfig
from naslid.runs.lock import LOCK_FILE, RunDirectoryBusy, lock_run_directory, release_run_directory
from naslid.runs.opened import open_run
from naslid.runs.partition import PartitionRun, run_partition
from naslid.runs.protocols import method_config
from naslid.search import ProxyConfig
from naslid.train import TrainConfig, TrainingDiverged, load_checkpoint, save_checkpoint, train_supernet

TINY = ["--channels", "4", "--no-progress"]


def _python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_line(process: subprocess.Popen, expected: str) -> None:
    line = process.stdout.readline()
    assert line.strip() == expected, (line, process.stderr.read() if process.poll() is not None else "")


# --- item 1: one writer per run directory ------------------------------------------------------------------


def test_a_second_writer_is_refused_naming_the_holder_and_a_killed_holder_frees_the_directory(tmp_path, capsys):
    run = tmp_path / "run"
    RunConfig(device="cpu").save(tmp_path / "config.json")
    holder = _python("""
        import sys, time
        from naslid.runs.lock import lock_run_directory
        lock_run_directory(sys.argv[1])
        print("locked", flush=True)
        time.sleep(120)
    """, str(run))
    try:
        _wait_for_line(holder, "locked")
        with pytest.raises(RunDirectoryBusy, match=rf"in use by process {holder.pid} "):
            lock_run_directory(run)
        (run / "config.json").write_text((tmp_path / "config.json").read_text())
        commands = [["train", str(run), *TINY], ["partition", str(run), *TINY], ["finetune", str(run)],
                    ["search", str(run), "--budget", "2"], ["compare", str(run), *TINY]]
        for argv in commands:
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and f"in use by process {holder.pid}" in err, (argv, err)
        # refused at once: nothing was loaded, drawn or trained
        assert sorted(path.name for path in run.iterdir()) == [LOCK_FILE, "config.json"]
    finally:
        holder.kill()  # SIGKILL: no cleanup code runs in the holder
        holder.wait()
    assert lock_run_directory(run) is True  # the kernel dropped the dead holder's lock
    assert (run / LOCK_FILE).read_text().split("\n")[0] == str(os.getpid())
    release_run_directory(run)


@pytest.mark.slow
def test_two_naslid_train_processes_on_one_directory(tmp_path):
    """The issue's case: two `naslid train RUN` at once. The second exits 2 at once and trains nothing."""
    run = tmp_path / "run"
    command = [sys.executable, "-m", "naslid.cli", "train", str(run), *TINY]
    first = subprocess.Popen([*command, "--epochs", "1000"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.time() + 600
        while not ((run / LOCK_FILE).is_file() and (run / LOCK_FILE).read_text().strip()):
            assert first.poll() is None and time.time() < deadline, first.stderr.read()
            time.sleep(0.05)
        second = subprocess.run([*command, "--epochs", "1000"], capture_output=True, text=True, timeout=600)
        assert first.poll() is None  # the first is still training: the refusal is not a finished run's
        assert second.returncode == 2 and second.stdout == ""
        assert second.stderr.count("\n") == 1 and f"in use by process {first.pid}" in second.stderr
    finally:
        first.kill()
        first.wait()
    assert lock_run_directory(run) is True
    release_run_directory(run)


# --- items 3 and 6: checked before written; a failed first call does not poison the directory -------------


@pytest.mark.parametrize("bad, message", [
    (["--batch-size", "5000"], "batch size 5000 exceeds the"),
    (["--batch-size", "0"], "--batch-size 0: expected an integer >= 1"),
    (["--cutout", "-1"], "--cutout -1: expected an integer >= 0"),
    (["--channels", "0"], "--channels 0: expected an integer >= 1"),
    (["--cells", "0"], "--cells 0: expected an integer >= 1"),
    (["--lr", "nan"], "--lr nan: expected a finite number >= 0"),
    (["--lr", "inf"], "--lr inf: expected a finite number >= 0"),
    (["--epochs", "0"], "--epochs 0: expected an integer >= 1"),
    (["--dataset", "cifar10", "--data-path", "nope.npz"], "CIFAR-10 not found at"),
])
def test_bad_values_are_refused_in_one_line_before_anything_is_written(tmp_path, capsys, bad, message):
    run = tmp_path / "run"
    assert main(["train", str(run), "--epochs", "1", *TINY, *bad]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (run / "config.json").exists() and not (run / "split.json").exists()


@pytest.mark.parametrize("build, message", [
    (lambda: NB201Config(channels=0), "channels=0; expected an integer >= 1"),
    (lambda: NB201Config(cells_per_stage=0), "cells_per_stage=0"),
    (lambda: NB201Config(in_channels=2.5), "in_channels=2.5"),
    (lambda: TrainConfig(learning_rate=float("nan")), "learning_rate=nan"),
    (lambda: TrainConfig(weight_decay=float("inf")), "weight_decay=inf"),
    (lambda: TrainConfig(momentum=1.5), "momentum=1.5"),
    (lambda: TrainConfig(batch_size=0), "batch_size=0"),
    (lambda: DataConfig(dataset="digits", cutout=-1), "cutout=-1"),
    (lambda: DataConfig(dataset="digits", train_limit=0), "train_limit=0"),
    (lambda: SplitConfig(batches=0), "batches=0"),
    (lambda: SplitConfig(batch_size=2, k=2), "batch_size=2"),
    (lambda: ScheduleConfig(finetune_epochs=-1), "finetune_epochs=-1"),
    (lambda: ScheduleConfig(split_epochs=(1.5,)), "expected integer epochs"),
    (lambda: ProxyConfig(calibration_batches=1.5), "calibration_batches=1.5"),
    (lambda: RunConfig(seed=-1), "seed=-1"),
])
def test_every_configuration_is_validated_when_built(build, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


def test_a_failed_first_call_leaves_a_directory_the_corrected_call_accepts(tmp_path, capsys):
    run = tmp_path / "run"
    for bad in (["--batch-size", "5000"], ["--dataset", "cifar10", "--data-path", "nope.npz"]):
        assert main(["train", str(run), "--epochs", "1", *TINY, *bad]) == 2
    assert capsys.readouterr().err.count("error:") == 2
    # a configuration without trained state, as an older naslid wrote it before failing, is replaced too
    replace(tiny_run_config(), seed=7).save(run / "config.json")
    assert main(["train", str(run), "--epochs", "1", *TINY]) == 0
    assert RunConfig.load(run / "config.json").seed == 0 and "error" not in capsys.readouterr().err


def test_partition_refuses_a_lid_batch_larger_than_the_data_before_training(tmp_path, capsys):
    run = tmp_path / "run"
    flags = ["--split-epochs", "1", "--finetune-epochs", "0", "--split-batches", "1", "--no-finetune", *TINY]
    assert main(["partition", str(run), "--lid-batch-size", "5000", *flags]) == 2
    assert "--lid-batch-size" in capsys.readouterr().err
    assert not (run / "nodes").exists() and not (run / "config.json").exists()
    assert main(["partition", str(run), "--lid-batch-size", "64", *flags]) == 0


def test_data_paths_are_compared_after_resolving(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    absolute = RunConfig(data=DataConfig(dataset="cifar10", path=str(tmp_path / "c10.npz")), device="cpu")
    run = tmp_path / "run"
    (run / "nodes").mkdir(parents=True)
    absolute.save(run / "config.json")
    (run / "nodes" / "node0.pt").write_bytes(b"trained state")
    relative = replace(absolute, data=replace(absolute.data, path="c10.npz"))
    assert open_run(run, relative).data.path == str(tmp_path / "c10.npz")
    other = replace(absolute, data=replace(absolute.data, path="other.npz"))
    with pytest.raises(ValueError, match="different data settings"):
        open_run(run, other)


def test_compare_checks_method_names_before_any_work(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "cmp"), "--methods", "spos,nas-lidd", *TINY]) == 2
    assert "unknown method 'nas-lidd'" in capsys.readouterr().err
    assert not (tmp_path / "cmp").exists()


# --- item 2: divergence ------------------------------------------------------------------------------------


def test_training_stops_at_the_first_non_finite_loss_and_keeps_the_last_finite_checkpoint(tmp_path):
    config = tiny_run_config()
    run = PartitionRun(tmp_path / "run", config)
    loader = run.data.train_loader
    net = run.load_network(run.tree.root)
    path = tmp_path / "node.pt"
    train_supernet(net, NB201_ALL, loader, replace(config.train, epochs=3), until_epoch=1, checkpoint_path=path)
    before = path.read_bytes()
    diverging = replace(config.train, epochs=3, learning_rate=1e30)
    with pytest.raises(TrainingDiverged, match=rf"epoch 2, step \d+ of {len(loader)}.*{path} still holds"):
        train_supernet(run.load_network(run.tree.root), NB201_ALL, loader, diverging, checkpoint_path=path)
    assert path.read_bytes() == before and load_checkpoint(path)["epoch"] == 1
    run.close()


def test_cli_train_that_diverges_exits_2_without_a_checkpoint(tmp_path, capsys):
    assert main(["train", str(tmp_path / "run"), "--epochs", "2", "--lr", "1e30", *TINY]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(r"training diverged: the loss is (nan|inf) at epoch 1, step", err)
    assert not (tmp_path / "run" / "nodes" / "node0.pt").exists()


def test_non_finite_checkpoints_are_refused_by_every_reader(tiny_trained_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_trained_run, run)
    path = run / "nodes" / "node0.pt"
    state = load_checkpoint(path)
    state["model"]["classifier.weight"][0, 0] = float("nan")
    save_checkpoint(path, {k: v for k, v in state.items() if k != "schema"})
    with pytest.raises(ValueError, match="non-finite weights \\(classifier.weight\\)"):
        load_checkpoint(path)
    capsys.readouterr()
    assert main(["search", str(run), "--budget", "3", "--no-progress"]) == 2
    assert "non-finite weights" in capsys.readouterr().err
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert main(["profile", "--model", f"nb201:{arch}", "--checkpoint", str(path), "--out",
                 str(tmp_path / "p.json")]) == 2
    assert "non-finite weights" in capsys.readouterr().err


# --- item 10: a kill during a checkpoint write; file modes --------------------------------------------------


@pytest.mark.slow
def test_a_kill_during_a_checkpoint_write_leaves_no_stale_file_after_the_next_run(tmp_path):
    run = tmp_path / "run"
    dying = _python("""
        import os, signal, sys
        import naslid.train.checkpoint as checkpoint
        from naslid.cli import main

        def torn_save(state, handle):  # half a file, then a real SIGKILL in the middle of the write
            handle.write(b"PK" * 1000)
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        checkpoint.torch.save = torn_save
        main(["train", sys.argv[1], "--epochs", "1", "--channels", "4", "--no-progress"])
    """, str(run))
    dying.wait(timeout=300)
    assert dying.returncode == -signal.SIGKILL
    stale = list((run / "nodes").glob("*.tmp"))
    assert len(stale) == 1 and stale[0].name.startswith("node0.pt.")
    assert main(["train", str(run), "--epochs", "1", *TINY]) == 0
    assert not list(run.rglob("*.tmp"))
    mask = os.umask(0)
    os.umask(mask)
    for name in ("config.json", "split.json", "partition_tree.json", "nodes/node0.pt"):
        assert (run / name).stat().st_mode & 0o777 == 0o666 & ~mask, name


# --- item 11: a lost or damaged checkpoint of a finished run -----------------------------------------------


@pytest.mark.slow
def test_a_deleted_leaf_checkpoint_is_redone_with_the_same_weights(tmp_path, capsys):
    config = tiny_run_config()
    tree = run_partition(tmp_path / "run", config)
    leaf = tree.leaves()[1]
    path = tmp_path / "run" / leaf.checkpoint
    expected = load_checkpoint(path)["model"]
    path.unlink()
    assert main(["search", str(tmp_path / "run"), "--budget", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"checkpoint {path} of node {leaf.id} is missing" in err
    assert f"naslid finetune {tmp_path / 'run'}" in err and f"train node {leaf.id} again" in err
    assert main(["finetune", str(tmp_path / "run"), "--no-progress"]) == 0
    redone = load_checkpoint(path)["model"]
    assert all(torch.equal(expected[name], redone[name]) for name in expected)


def test_a_truncated_checkpoint_says_how_to_redo_it(tiny_trained_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_trained_run, run)
    path = run / "nodes" / "node0.pt"
    path.write_bytes(path.read_bytes()[:1000])
    capsys.readouterr()
    assert main(["search", str(run), "--budget", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"checkpoint {path} could not be read" in err
    assert f"delete {path} and run `naslid finetune {run}`" in err and "train the supernet from scratch" in err
    path.unlink()
    assert main(["finetune", str(run), "--no-progress"]) == 0
    assert load_checkpoint(path)["epoch"] == 1


# --- item 8: one line naming the file ------------------------------------------------------------------------


def test_file_problems_are_one_line_naming_the_file(tmp_path, capsys):
    def error(argv):
        assert main(argv) == 2, argv
        captured = capsys.readouterr()
        assert captured.out == ""  # refused before anything (a score table, a summary) was printed
        assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
        return captured.err

    (tmp_path / "f").touch()
    assert f"{tmp_path / 'f'} exists and is not a directory" in error(["train", str(tmp_path / "f"), *TINY])
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("[1, 2]")
    assert f"run configuration {run / 'config.json'}: a run config is a JSON object" in error(["finetune", str(run)])
    (run / "config.json").write_text("")
    assert f"run configuration {run / 'config.json'} is not valid JSON" in error(["finetune", str(run)])
    RunConfig(device="cpu").save(run / "config.json")
    (run / "partition_tree.json").write_text(json.dumps({"schema": "naslid.partition_tree/1"}))
    assert "lacks the entry 'nodes'" in error(["finetune", str(run)])
    predictions = tmp_path / "p.json"
    predictions.write_text(json.dumps({"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": 1}))
    assert f"--out {tmp_path} is a directory" in error(["score", str(predictions), "--out", str(tmp_path)])
    arch = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    assert f"output {tmp_path} is a directory" in error(["profile", "--model", f"nb201:{arch}", "--out",
                                                         str(tmp_path)])
    broken = tmp_path / "broken_model.py"
    broken.write_text("def build(:\n    pass\n")
    assert f"model file {broken} has a syntax error at line 1" in error(["profile", "--model", f"{broken}:build"])
    three = tmp_path / "rgb_model.py"
    three.write_text("from torch import nn\n\ndef build():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())\n")
    assert "cannot run on the digits inputs of shape (8, 1, 8, 8)" in error(
        ["profile", "--model", f"{three}:build", "--data", "digits", "--batch-size", "8", "--num-batches", "1",
         "-k", "3", "--out", str(tmp_path / "x.json")])


@pytest.mark.slow
def test_info_lines_only_with_verbose(tmp_path):
    command = [sys.executable, "-m", "naslid.cli"]
    quiet = subprocess.run([*command, "train", str(tmp_path / "a"), "--epochs", "1", *TINY], capture_output=True,
                           text=True, timeout=300)
    # stderr is a pipe, not a terminal: one line per epoch (in place of progress bars) and no other INFO line
    assert quiet.returncode == 0 and re.fullmatch(r"epoch 1/1: loss \S+, accuracy \S+%, \d+ images/s\n",
                                                  quiet.stderr), quiet.stderr
    loud = subprocess.run([*command, "-v", "train", str(tmp_path / "b"), "--epochs", "1", *TINY],
                          capture_output=True, text=True, timeout=300)
    assert loud.returncode == 0 and loud.stderr.count("epoch 1/1: loss") == 1 and "epoch 1" not in loud.stdout
    assert "training up to epoch 1" in loud.stderr  # the other INFO lines come with -v


def test_profile_reads_shape_channels_and_layers_from_a_naslid_train_checkpoint(tmp_path):
    """Issue 10 item 9: the README's `profile --checkpoint RUN/nodes/node0.pt` on the tiny preset."""
    run = tmp_path / "run"
    assert main(["train", str(run), "--epochs", "1", "--no-progress"]) == 0  # tiny: C=8, N=1, 1 channel
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    for data in (["--data", "digits"], []):  # digits, and gaussian inputs drawn with the checkpoint's 1 channel
        out = tmp_path / f"profile{len(data)}.json"
        assert main(["profile", "--model", f"nb201:{arch}", "--checkpoint", str(run / "nodes" / "node0.pt"), *data,
                     "--batch-size", "32", "--num-batches", "1", "-k", "5", "--out", str(out)]) == 0
        document = json.loads(out.read_text())
        assert document["profiles"][0]["layers"] == [f"cells.{i}" for i in range(5)]


# --- issue 33: a resumed comparison never relabels what it finished under other settings -----------------------


@pytest.mark.slow
def test_a_resumed_comparison_recomputes_what_other_settings_change(tmp_path):
    """Another search budget searches again; other proxy settings score again (never old scores under the new
    label); compare.json reads the search's settings from the search's own file."""
    from naslid.runs.compare import compare_methods
    from naslid.runs.evaluate import RunEvaluator
    from naslid.runs.presets import ComparePlan
    from naslid.search import load_search_result
    from naslid.spaces import parse_arch

    search = {"population_size": 4, "generations": 2, "budget": 6, "num_parents": 2, "num_mutations": 2,
              "num_crossovers": 2}
    config = tiny_run_config(train_limit=300, split_epochs=(1,), finetune_epochs=0, search=search,
                             proxy={"evaluation_images": 60})
    plan = ComparePlan(methods=("spos",), sample_without_benchmark=8, profile_archs=1, profile_batches=1)
    folder = tmp_path / "cmp"
    compare_methods(folder, config, plan)
    assert load_search_result(folder / "spos" / "search.json").num_evaluations == 6

    more = replace(config, search=replace(config.search, budget=8))
    results = compare_methods(folder, more, plan)
    assert load_search_result(folder / "spos" / "search.json").num_evaluations == 8
    assert results["methods"]["spos"]["search"]["evaluations"] == 8
    assert results["methods"]["spos"]["search"]["settings"]["budget"] == 8

    fewer_images = replace(more, proxy=replace(more.proxy, evaluation_images=40))
    compare_methods(folder, fewer_images, plan)
    stored = json.loads((folder / "spos" / "proxy_scores.json").read_text())
    assert stored["protocol"]["evaluation_images"] == 40
    assert load_search_result(folder / "spos" / "search.json").protocol["evaluation_images"] == 40
    with PartitionRun(folder / "spos", method_config(fewer_images, "spos"), lock=False) as run:
        arch_text, score = next(iter(stored["scores"].items()))
        assert 100.0 * RunEvaluator(run).evaluate_many([parse_arch(arch_text)])[0] == pytest.approx(score)


def test_a_run_that_tracked_one_subset_refuses_another_on_resume(tmp_path):
    from naslid.runs.tracking import Tracking
    from naslid.spaces import NB201Space

    archs = tuple(NB201Space().all())[:6]
    first, other = Tracking("first3", "the first three", archs[:3]), Tracking("next3", "the next three", archs[3:])
    config = method_config(tiny_run_config(train_limit=300, split_epochs=(1,), finetune_epochs=0), "spos")
    with PartitionRun(tmp_path / "run", config, tracking=first) as run:
        run.run()
    with pytest.raises(ValueError, match=r"tracked first3 every 1 epochs while it trained; resume with "
                                         r"--track-ranking first3 --track-every 1"):
        PartitionRun(tmp_path / "run", config, tracking=other)
    with PartitionRun(tmp_path / "run", config, tracking=first) as run:  # the same subset resumes
        assert run.tracking.archs == archs[:3]
