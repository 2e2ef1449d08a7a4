"""`kill -9` during `naslid search`, `export`, `retrain` and `compare`, then the same command again (issue 22, item 3).

Each command runs once uninterrupted (the reference), then as a real subprocess killed with SIGKILL at a moment
drawn from a seeded generator (a fraction of the reference's wall time) or as soon as a file shows it is part
way, then once more to completion. Checked: the killed run left no partial file under a user-visible name and
freed its lock; the second run resumed or redid the work and left no temporary behind; and every file it ends
with equals the reference's.

Left out of the comparison, because they measure wall time and differ between any two runs, killed or not:
every ``seconds`` (per phase, per training epoch, per split decision, the comparison's plots and total),
``images_per_second`` (training throughput), ``split_seconds_mean``, ``shared_root_seconds``,
``seconds_by_seed`` (means and lists of those) and ``tracking_seconds`` (in JSON and metrics.jsonl lines), compare.csv's
``*seconds`` columns, the values of ``timings.json`` (wall time per phase, summed over every call that worked on
a run: only its phase names are compared), and in ``compare.md`` the cells of its
time columns ("train+split s", "split s") and the shared root's "N s per seed". Each run's own folder is
replaced by a placeholder wherever a file names it. Checkpoints (``.pt``) are compared by what they hold
(tensors, settings, RNG states, history without its wall times); every other file byte for byte.
"""

import csv
import io
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from naslid.runs.lock import LOCK_FILE, lock_run_directory, release_run_directory

pytestmark = pytest.mark.slow

TIME_FIELDS = frozenset({"seconds", "images_per_second", "split_seconds_mean", "shared_root_seconds",
                         "seconds_by_seed", "tracking_seconds"})
TIME_COLUMN = re.compile(r"(^| )split s$|^train\+split s$")
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"
SEARCH = ["--budget", "30", "--no-progress"]
RETRAIN = ["--epochs", "6", "--batch-size", "64", "--device", "cpu", "--no-progress"]
COMPARE = ["--methods", "spos,nas-lid", "--channels", "4", "--subset", "random30", "--budget", "20",
           "--split-epochs", "1", "--finetune-epochs", "1", "--split-batches", "1", "--no-progress"]
# a drawn moment is this fraction of the reference's wall time after the start (its first ~2 s import naslid)
EARLIEST, LATEST = 0.3, 0.85


def _naslid(*args: object) -> list[str]:
    return [sys.executable, "-m", "naslid.cli", *map(str, args)]


def _finish(argv: list[str]) -> float:
    """Run `argv` to completion; its wall time."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return time.perf_counter() - start


def _kill(argv: list[str], delay: float | None, when: Path | None) -> bool:
    """Start `argv` and SIGKILL it `delay` seconds later or as soon as `when` exists; False if it finished first."""
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log, text=True)
        start = time.perf_counter()
        try:
            while process.poll() is None:
                if (when is not None and when.exists()) or (delay is not None and time.perf_counter() - start > delay):
                    process.send_signal(signal.SIGKILL)  # no handler, no cleanup: as `kill -9` or the OOM killer
                    break
                time.sleep(0.005)
            process.wait(timeout=600)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        log.seek(0)
        assert process.returncode in (0, -signal.SIGKILL), log.read()
    return process.returncode == -signal.SIGKILL


def _killed_run(command: Callable[[Path], list[str]], tmp_path: Path, delay: float | None = None,
                when: str | None = None) -> tuple[list[str], Path]:
    """Run `command(folder)` in a fresh folder and kill it (see `_kill`; `when` is relative to the folder).

    On a machine that got faster since the reference ran the command may finish before the drawn moment: then
    it runs again in a new folder, killed at half the delay.
    """
    for attempt in range(4):
        folder = tmp_path / f"attempt{attempt}"
        argv = command(folder)
        if _kill(argv, delay, folder / when if when else None):
            return argv, folder
        delay = delay / 2 if delay is not None else None
    pytest.fail(f"{argv} finished before every kill moment")


def _moment(command: str, seed: int, reference_seconds: float) -> float:
    return random.Random(f"{command}:{seed}").uniform(EARLIEST, LATEST) * reference_seconds


# --- what a killed run leaves, and what a finished run holds -------------------------------------------------


def _is_temporary(path: Path) -> bool:
    return ".tmp" in path.name  # every writer's temporaries: NAME.<random>.tmp, NAME.<random>.tmp.pt2


def _read_whole(path: Path) -> None:
    """Fail unless `path` reads as a whole file of its kind."""
    if path.suffix == ".json":
        json.loads(path.read_text())
    elif path.suffix == ".pt":
        torch.load(path, weights_only=False)
    elif path.suffix == ".pt2":
        torch.export.load(str(path))
    elif path.suffix == ".png":
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82"), path
    elif path.suffix == ".md":
        assert path.read_text().endswith("\n"), path


def _check_killed(folder: Path, locked: list[Path]) -> None:
    """Nothing partial under a user-visible name; the kernel dropped the killed process's locks."""
    for path in folder.rglob("*"):
        if path.is_file() and not _is_temporary(path) and path.name != LOCK_FILE:
            _read_whole(path)
    for run_dir in locked:
        assert lock_run_directory(run_dir) is True, run_dir
        release_run_directory(run_dir)


def _without_times(value: object) -> object:
    """`value` with wall-time fields left out and tensors and arrays as plain lists (comparable with ==)."""
    if isinstance(value, dict):
        return {key: _without_times(item) for key, item in value.items() if key not in TIME_FIELDS}
    if isinstance(value, list | tuple):
        return [_without_times(item) for item in value]
    if isinstance(value, torch.Tensor):
        return ("tensor", str(value.dtype), list(value.shape), value.detach().cpu().flatten().tolist())
    if isinstance(value, np.ndarray):
        return ("array", str(value.dtype), value.tolist())
    return value


def _markdown_without_times(text: str) -> str:
    text = re.sub(r"[0-9.]+ s per seed", "<time> s per seed", text)
    lines, header = [], []
    for line in text.splitlines():
        cells = line.split(" | ")  # arch strings hold '|' but no spaces
        if line.startswith("| ") and not header:
            header = cells
        elif not line.startswith("|"):
            header = []
        elif len(cells) == len(header):
            cells = ["<time>" if TIME_COLUMN.search(name.strip("| ")) else cell
                     for name, cell in zip(header, cells, strict=True)]
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def _comparable(path: Path, folder: Path) -> object:
    """What `path` holds, in a form equal between two runs of one command (see the module docstring)."""
    if path.suffix in (".json", ".md"):
        text = path.read_text().replace(str(folder), "<folder>")
        if path.suffix == ".md":
            return _markdown_without_times(text)
        data = json.loads(text)
        return sorted(data) if path.name == "timings.json" else _without_times(data)
    if path.suffix == ".jsonl":  # per-epoch metrics: every line, without its wall times
        return [_without_times(json.loads(line)) for line in path.read_text().splitlines()]
    if path.suffix == ".csv":  # compare.csv: its seconds column is a wall time
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        return [{key: value for key, value in row.items() if not key.endswith("seconds")} for row in rows]
    if path.suffix == ".pt":
        return _without_times(torch.load(path, weights_only=False))
    return path.read_bytes()  # exported programs and plots: byte for byte


def _difference(a: object, b: object, where: str = "") -> str:
    """Where `a` and `b` first differ, for a readable failure."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return f"{where}: keys {sorted(a.keys() ^ b.keys())} in one only"
        return next((_difference(a[k], b[k], f"{where}/{k}") for k in a if a[k] != b[k]), "")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs = enumerate(zip(a, b, strict=True))
        return next((_difference(x, y, f"{where}[{i}]") for i, (x, y) in pairs if x != y), "")
    return f"{where}: {str(a)[:200]} != {str(b)[:200]}"


def _assert_same_files(folder: Path, reference: Path) -> None:
    """No temporary is left, and `folder` holds the files of `reference`, equal up to wall times."""
    assert not [path for path in folder.rglob("*") if _is_temporary(path)]
    files = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != LOCK_FILE}
    expected = {str(p.relative_to(reference)) for p in reference.rglob("*") if p.is_file() and p.name != LOCK_FILE}
    assert files == expected
    for name in sorted(files):
        produced, wanted = _comparable(folder / name, folder), _comparable(reference / name, reference)
        assert produced == wanted, f"{name}{_difference(produced, wanted)}"


# --- naslid search: nothing to resume (a search takes seconds to minutes), redone from the start ---------------


def _search_command(trained: Path) -> Callable[[Path], list[str]]:
    def command(folder: Path) -> list[str]:
        shutil.copytree(trained, folder)
        return _naslid("search", folder, *SEARCH)

    return command


@pytest.fixture(scope="module")
def search_reference(tiny_trained_run, tmp_path_factory) -> tuple[Path, float]:
    argv = _search_command(tiny_trained_run)(run := tmp_path_factory.mktemp("search") / "run")
    return run, _finish(argv)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_killed_search_is_redone_with_the_same_result(tiny_trained_run, search_reference, tmp_path, seed):
    reference, seconds = search_reference
    argv, run = _killed_run(_search_command(tiny_trained_run), tmp_path, _moment("search", seed, seconds))
    _check_killed(run, [run])
    _finish(argv)
    _assert_same_files(run, reference)


# --- naslid export: redone; each file is replaced whole ------------------------------------------------------


def _export_command(trained: Path) -> Callable[[Path], list[str]]:
    return lambda folder: _naslid("export", trained, "--arch", ARCH, "--out", folder, "--device", "cpu")


@pytest.fixture(scope="module")
def export_reference(tiny_trained_run, tmp_path_factory) -> tuple[Path, float]:
    folder = tmp_path_factory.mktemp("export") / "export"
    return folder, _finish(_export_command(tiny_trained_run)(folder))


@pytest.mark.parametrize("moment", [0, "weights.pt"], ids=["random-moment", "after-the-weights"])
def test_a_killed_export_is_redone_with_the_same_files(tiny_trained_run, export_reference, tmp_path, moment):
    reference, seconds = export_reference
    if isinstance(moment, int):
        argv, folder = _killed_run(_export_command(tiny_trained_run), tmp_path, _moment("export", moment, seconds))
    else:  # the weights are written, the torch.export program not yet
        argv, folder = _killed_run(_export_command(tiny_trained_run), tmp_path, when=moment)
    _check_killed(folder, [folder])
    _finish(argv)
    _assert_same_files(folder, reference)


# --- naslid retrain: resumes at its last finished epoch ------------------------------------------------------


def _retrain_command(exported: Path) -> Callable[[Path], list[str]]:
    return lambda folder: _naslid("retrain", exported, "--out", folder, *RETRAIN)


@pytest.fixture(scope="module")
def retrain_reference(export_reference, tmp_path_factory) -> tuple[Path, float]:
    folder = tmp_path_factory.mktemp("retrain") / "retrain"
    return folder, _finish(_retrain_command(export_reference[0])(folder))


@pytest.mark.parametrize("moment", [0, "retrain.pt"], ids=["random-moment", "after-the-first-epoch"])
def test_a_killed_retrain_resumes_to_the_same_weights_and_accuracy(export_reference, retrain_reference, tmp_path,
                                                                    moment):
    reference, seconds = retrain_reference
    command = _retrain_command(export_reference[0])
    if isinstance(moment, int):
        argv, folder = _killed_run(command, tmp_path, _moment("retrain", moment, seconds))
    else:
        argv, folder = _killed_run(command, tmp_path, when=moment)
    _check_killed(folder, [folder])
    _finish(argv)
    _assert_same_files(folder, reference)


# --- naslid compare: resumes each method's run, its proxy scores and its search -----------------------------


def _compare_command(folder: Path) -> list[str]:
    return _naslid("compare", folder, *COMPARE)


@pytest.fixture(scope="module")
def compare_reference(tmp_path_factory) -> tuple[Path, float]:
    folder = tmp_path_factory.mktemp("compare") / "compare"
    return folder, _finish(_compare_command(folder))


@pytest.mark.parametrize("moment", [0, "spos/proxy_scores.json", "spos/search.json"],
                         ids=["random-moment", "in-the-first-search", "after-the-first-method"])
def test_a_killed_compare_resumes_to_the_same_files(compare_reference, tmp_path, moment):
    reference, seconds = compare_reference
    if isinstance(moment, int):
        argv, folder = _killed_run(_compare_command, tmp_path, _moment("compare", moment, seconds))
    else:
        argv, folder = _killed_run(_compare_command, tmp_path, when=moment)
    _check_killed(folder, [folder, *(path.parent for path in folder.glob(f"*/{LOCK_FILE}"))])
    _finish(argv)
    _assert_same_files(folder, reference)


_KILLED_AT_A_COPY = """
import os, signal, sys
import naslid.runs.compare as compare
from naslid.atomic import write_with
from naslid.cli import main

copy, how, copies = int(sys.argv[1]), sys.argv[2], []
whole_copy = compare.copy_file

def die(handle=None):
    if handle is not None:
        handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)

def copy_file(source, target):  # the shared root's snapshots, then each method's first checkpoint
    copies.append(target)
    if len(copies) == copy:
        if how == "torn":  # half the file, then a real SIGKILL in the middle of the write
            with open(source, "rb") as read:
                write_with(target, lambda handle: (handle.write(read.read()[:1000]), die(handle)))
        whole_copy(source, target)
        die()
    return whole_copy(source, target)

compare.copy_file = copy_file
main(["compare", *sys.argv[3:]])
"""


@pytest.mark.parametrize("copy, how", [(1, "torn"), (3, "whole")], ids=["torn-root-snapshot", "after-a-method-copy"])
def test_a_compare_killed_while_copying_the_shared_root_resumes_to_the_same_files(compare_reference, tmp_path,
                                                                                   copy, how):
    """Deterministic moments the drawn ones rarely hit: in the middle of copying the root's snapshot, and between
    a method's copy of the root and the rest (its `shared_root.json`, which says what it reused)."""
    reference, _ = compare_reference
    folder = tmp_path / "compare"
    dying = subprocess.run([sys.executable, "-c", _KILLED_AT_A_COPY, str(copy), how, str(folder), *COMPARE],
                           capture_output=True, text=True, timeout=600)
    assert dying.returncode == -signal.SIGKILL, dying.stderr
    assert bool([path for path in folder.rglob("*") if _is_temporary(path)]) == (how == "torn")
    _check_killed(folder, [folder, *(path.parent for path in folder.glob(f"*/{LOCK_FILE}"))])
    _finish(_compare_command(folder))
    _assert_same_files(folder, reference)
