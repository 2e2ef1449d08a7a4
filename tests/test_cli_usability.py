"""Usability of the command line and the package: --version, a fast --help, global flags after the subcommand,
logs fit for files, packaging metadata, numpy input to the LID estimators (issue 20, items 8, 10 and 11)."""

import argparse
import io
import logging
import os
import re
import subprocess
import sys
import textwrap
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import naslid
from naslid import cli
from naslid.cli import build_parser, main, output
from naslid.cli.run_flags import setting_flags

ROOT = Path(__file__).parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=ENV, timeout=300, **kwargs)


# --- --version ---


def test_version_prints_the_package_version_and_exits_0():
    done = _run(["-m", "naslid", "--version"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"naslid {naslid.__version__}\n"


# --- a fast --help: `naslid --help` and every command's import no torch, numpy or matplotlib; the run commands
# (train, partition, compare) read their flags from the configuration fields' generated copy
# (naslid.cli.run_flags_data, kept equal to the fields by tests/test_cli_run_flags.py) ---

_RUN_COMMANDS = ("train", "partition", "compare")


@pytest.mark.parametrize("commands", [("--help",), ("train", "partition", "compare", "rank", "search"),
                                      ("score", "profile", "finetune", "latency-table", "export", "retrain", "spaces",
                                       "presets", "check", "report", "demo")])
def test_help_imports_neither_torch_nor_numpy_nor_matplotlib(commands):
    script = textwrap.dedent("""
        import contextlib, io, sys
        from naslid.cli import COMMANDS, main
        names = [name for name, *_ in COMMANDS]
        commands = [name for name in COMMANDS_ASKED if name != "--help"]
        assert set(commands) <= set(names), commands
        with contextlib.redirect_stdout(io.StringIO()) as out:
            codes = [main(["--help"])] + [main([name, "--help"]) for name in commands]
        assert codes == [0] * (len(commands) + 1), codes
        assert "usage: naslid" in out.getvalue()
        assert all(f"usage: naslid {name} " in out.getvalue() for name in commands)
        heavy = sorted(name for name in sys.modules
                       if name.split(".")[0] in ("torch", "numpy", "matplotlib", "scipy", "tqdm"))
        assert not heavy, heavy[:10]
        print("light")
    """).replace("COMMANDS_ASKED", repr(commands))
    done = _run(["-c", script])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "light"


def test_the_help_tests_cover_every_command():
    asked = {"train", "partition", "compare", "rank", "search", "score", "profile", "finetune", "latency-table",
             "export", "retrain", "spaces", "presets", "check", "report", "demo"}
    assert {name for name, *_ in cli.COMMANDS} == asked


@pytest.mark.parametrize("command", _RUN_COMMANDS)
def test_run_commands_help_lists_the_generated_flags(command, capsys):
    assert cli.main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "--batch-size" in out and "--proxy-bn" in out
    assert ("--edge-score" in out) == (command != "train")  # split settings only where a command partitions


def test_the_parsers_choices_are_the_librarys_names():
    from naslid.partition import EDGE_SCORES
    from naslid.runs.presets import PRESETS
    from naslid.runs.protocols import METHODS, PROTOCOLS, SCALES
    from naslid.train import TRAIN_STEPS

    choices = {action.dest: action.choices for action in _subparser(build_parser(), "partition")._actions}
    assert list(choices["protocol"]) == sorted(PROTOCOLS)
    assert list(choices["scale"]) == sorted(SCALES)
    assert list(choices["preset"]) == list(PRESETS)
    assert list(choices["method"]) == list(METHODS)
    assert list(choices["split.edge_score"]) == list(EDGE_SCORES)
    assert list(choices["train.step"]) == list(TRAIN_STEPS)


def test_every_flagged_field_is_a_flag_that_sets_it_and_errors_name_it():
    from naslid.runs.configure import run_options

    parser = _subparser(build_parser(), "compare")
    by_dest = {action.dest: action for action in parser._actions}
    for setting, flag in run_options():
        assert flag.name in by_dest[setting].option_strings, setting
    # a setting the configuration refuses is named by its flag, derived settings too
    from naslid.runs.configure import DERIVED_SETTINGS

    assert setting_flags()["split.k"] == "--k" and setting_flags()["network.bn"] == "--bn"
    assert set(DERIVED_SETTINGS) <= set(setting_flags())


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


# --- -v/--verbose and --debug before or after the subcommand ---


@pytest.mark.parametrize("argv, verbose, debug", [
    (["train", "RUN"], False, False),
    (["-v", "train", "RUN"], True, False),
    (["train", "RUN", "-v"], True, False),
    (["train", "RUN", "--verbose", "--epochs", "1"], True, False),
    (["train", "RUN", "--debug"], False, True),
    (["--debug", "train", "RUN", "-v"], True, True),  # one flag before, one after: neither is lost
    (["-v", "--debug", "partition", "RUN"], True, True),
    (["search", "RUN", "--debug", "-v"], True, True),
])
def test_global_flags_parse_before_and_after_the_subcommand(argv, verbose, debug):
    args = build_parser().parse_args(argv)
    assert (args.verbose, args.debug) == (verbose, debug)


def test_verbose_and_debug_after_the_subcommand_take_effect(tmp_path, capsys):
    naslid_logger = logging.getLogger("naslid")
    saved = naslid_logger.level
    missing = str(tmp_path / "missing")
    try:
        assert main(["check", missing]) == 2
        assert naslid_logger.getEffectiveLevel() == logging.WARNING
        assert main(["check", missing, "-v"]) == 2  # a user error: one line, status 2
        assert naslid_logger.getEffectiveLevel() == logging.INFO
        assert capsys.readouterr().err.startswith("naslid check: error:")
        with pytest.raises(ValueError, match="problem"):  # --debug: the traceback instead of one line
            main(["check", missing, "--debug"])
    finally:
        naslid_logger.setLevel(saved)
        logging.getLogger(output.EPOCH_LOGGER).setLevel(logging.NOTSET)


# --- logs fit for files: progress bars only on a terminal, else one line per epoch ---


class _Stream(io.StringIO):
    def __init__(self, terminal: bool):
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


def test_bars_only_on_a_terminal_and_never_with_no_progress(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Stream(terminal=True))
    assert output.bars(argparse.Namespace(no_progress=False))
    assert not output.bars(argparse.Namespace(no_progress=True))
    monkeypatch.setattr(sys, "stderr", _Stream(terminal=False))
    assert not output.bars(argparse.Namespace(no_progress=False))
    assert not output.bars(argparse.Namespace(no_progress=True))


@pytest.mark.parametrize("terminal, verbose, epoch_lines", [
    (False, False, True), (False, True, True), (True, False, False), (True, True, True),
])
def test_epoch_lines_without_verbose_only_off_a_terminal(monkeypatch, terminal, verbose, epoch_lines):
    epochs = logging.getLogger(output.EPOCH_LOGGER)
    naslid_logger = logging.getLogger("naslid")
    saved = naslid_logger.level
    monkeypatch.setattr(sys, "stderr", _Stream(terminal=terminal))
    try:
        output.configure_logging(argparse.Namespace(verbose=verbose))
        assert epochs.isEnabledFor(logging.INFO) == epoch_lines
        assert naslid_logger.isEnabledFor(logging.INFO) == verbose  # other INFO lines still need -v
    finally:
        naslid_logger.setLevel(saved)
        epochs.setLevel(logging.NOTSET)


@pytest.mark.slow
def test_train_to_a_pipe_writes_one_line_per_epoch_and_no_bars(tmp_path):
    from naslid.train.spos import epoch_logger

    assert epoch_logger.name == output.EPOCH_LOGGER
    # no --no-progress: off a terminal the bars are dropped all the same
    done = _run(["-m", "naslid", "train", str(tmp_path / "run"), "--epochs", "2", "--channels", "4"],
                stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert "trained a supernet" in done.stdout
    err = done.stderr
    assert "\r" not in err and "%|" not in err and "it/s" not in err, err[:500]
    epochs = [line for line in err.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 2, err
    for number, line in enumerate(epochs, start=1):
        assert re.fullmatch(rf"epoch {number}/2: loss \d+\.\d+, accuracy \d+\.\d+%, \d+ images/s", line), line


# --- packaging ---


def test_packaging_metadata_license_and_py_typed():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    classifiers = project["project"]["classifiers"]
    for classifier in ("Programming Language :: Python :: 3.11", "Programming Language :: Python :: 3.12",
                       "License :: OSI Approved :: MIT License",
                       "Topic :: Scientific/Engineering :: Artificial Intelligence", "Typing :: Typed"):
        assert classifier in classifiers
    assert project["project"]["license"] == {"text": "MIT"}
    urls = project["project"]["urls"]
    assert set(urls) >= {"Homepage", "Repository", "Issues"}
    assert all(url.startswith("https://github.com/naslid/naslid") for url in urls.values())
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["naslid"]
    assert (ROOT / "src" / "naslid" / "py.typed").is_file()
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License") and "the naslid authors" in license_text
    assert "WITHOUT WARRANTY OF ANY KIND" in license_text


# --- LID estimators take numpy arrays ---


@pytest.fixture(scope="module")
def features() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.standard_normal((120, 4)) @ rng.standard_normal((4, 30))  # float64, about 4-dimensional


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["mle", "mackay_ghahramani", "twonn"])
def test_estimators_take_numpy_arrays(features, name, dtype):
    from naslid.lid import get_estimator

    array = features.astype(dtype)
    tensor = torch.as_tensor(array)
    from_array = get_estimator(name).fit(array)
    from_tensor = get_estimator(name).fit(tensor)
    assert from_array.lid_ == from_tensor.lid_
    assert 2.0 < from_array.lid_ < 6.0
    assert isinstance(from_array.lid_pointwise_, torch.Tensor)
    assert from_array.lid_pointwise_.dtype == tensor.dtype  # float64 stays float64
    assert torch.equal(from_array.lid_pointwise_, from_tensor.lid_pointwise_)
    assert torch.equal(get_estimator(name).estimate(array), get_estimator(name).estimate(tensor))


def test_estimator_functions_take_numpy_arrays(features):
    from naslid.lid import mackay_ghahramani_lid, mle_lid, nearest_neighbour_distances, twonn_lid

    tensor = torch.as_tensor(features)
    assert torch.equal(mle_lid(features, 10), mle_lid(tensor, 10))
    assert torch.equal(mackay_ghahramani_lid(features, 10), mackay_ghahramani_lid(tensor, 10))
    assert torch.equal(twonn_lid(features), twonn_lid(tensor))
    distances = nearest_neighbour_distances(features, 5)
    assert distances.dtype == torch.float64 and torch.equal(distances, nearest_neighbour_distances(tensor, 5))


def test_read_only_and_non_numeric_arrays(features):
    from naslid.lid import MLE

    read_only = features.copy()
    read_only.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns when it wraps a read-only array
        assert MLE().fit(read_only).lid_ == MLE().fit(features).lid_
    with pytest.raises(ValueError, match="numeric array"):
        MLE().fit(np.array([["a", "b"]] * 30))
    with pytest.raises(ValueError, match="torch.Tensor or numpy array"):
        MLE().fit([[0.0, 1.0]] * 30)
