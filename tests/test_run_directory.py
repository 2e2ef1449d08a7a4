"""The run directory's reader (`naslid.runs.run_directory`): imported and used without torch, it reads the files a
run writes, and the readers built on it (`OpenedRun`, `verify_run`) agree with it."""

import json
import subprocess
import sys

import pytest
from helpers import tiny_run_config

from naslid.runs.config import RunConfig
from naslid.runs.opened import OpenedRun
from naslid.runs.partition import run_partition
from naslid.runs.run_directory import (
    CONFIG_FILE,
    METRICS_FILE,
    SPLIT_FILE,
    TIMINGS_FILE,
    TREE_FILE,
    RunDirectory,
    comparison_runs,
)
from naslid.runs.verify import verify_run


def _without_torch(code: str) -> str:
    """Run `code` in a fresh interpreter; fails if it imported torch. Returns what it printed."""
    check = code + "\nimport sys\nassert 'torch' not in sys.modules, 'torch was imported'\n"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_the_reader_imports_no_torch():
    _without_torch("import naslid.runs.run_directory\nimport naslid.runs.report")


@pytest.fixture(scope="module")
def split_run(tmp_path_factory):
    """A finished run with a split: a root and two fine-tuned leaves."""
    run_dir = tmp_path_factory.mktemp("run_directory") / "run"
    run_partition(run_dir, tiny_run_config(split_epochs=(1,)))
    return run_dir


def test_reading_config_files_and_results_needs_no_torch(tiny_trained_run):
    printed = _without_torch(f"""
from naslid.runs.run_directory import RunDirectory, comparison_runs
run = RunDirectory({str(tiny_trained_run)!r})
assert run.has_config() and run.has_tree() and run.has_trained_state()
assert run.checkpoint_path(0).is_file() and run.split_path.is_file()
assert run.timings() == {{}} and comparison_runs(run.path) == []
print(run.read_config()["search_space"])
""")
    assert printed == "nb201\n"


def test_the_reader_sees_what_the_run_wrote(split_run):
    directory = RunDirectory(split_run)
    assert directory.config_path == split_run / CONFIG_FILE and directory.tree_path == split_run / TREE_FILE
    assert directory.split_path == split_run / SPLIT_FILE and directory.has_trained_state()
    assert RunConfig.from_dict(directory.read_config()) == RunConfig.load(split_run / CONFIG_FILE)
    tree = directory.read_tree()
    opened = OpenedRun(split_run, tiny_run_config(split_epochs=(1,)))
    assert tree.to_json() == opened.tree.to_json()
    assert sorted(tree.nodes) == [0, 1, 2] and all(leaf.finetuned for leaf in tree.leaves())
    assert directory.checkpoint_path(0) == split_run / tree.root.checkpoint


def test_histories_are_one_entry_per_epoch_and_match_the_metrics_file(split_run):
    directory = RunDirectory(split_run)
    tree = directory.read_tree()
    histories = directory.histories(tree)
    assert sorted(histories) == sorted(node.id for node in tree.nodes.values() if node.checkpoint)
    for history in histories.values():
        assert [entry["epoch"] for entry in history] == list(range(1, len(history) + 1))
    rows = [json.loads(line) for line in directory.file(METRICS_FILE).read_text().splitlines()]
    assert {row["node"] for row in rows} == set(histories)
    assert list(histories.values()) == OpenedRun(split_run, tiny_run_config(split_epochs=(1,))).node_histories()


def test_a_damaged_checkpoint_is_noted_or_raised(split_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(split_run, copy)
    directory = RunDirectory(copy)
    tree = directory.read_tree()
    leaf = tree.leaves()[0]
    (copy / leaf.checkpoint).write_bytes(b"not a checkpoint")
    problems: list[str] = []
    histories = directory.histories(tree, problems)
    assert leaf.id not in histories and len(problems) == 1 and problems[0].startswith(f"node {leaf.id}: ")
    with pytest.raises(ValueError, match="could not be read"):
        directory.histories(tree)
    (copy / leaf.checkpoint).unlink()  # a missing one is left out either way
    assert leaf.id not in directory.histories(tree)


def test_optional_json_and_timings(tmp_path):
    directory = RunDirectory(tmp_path)
    assert directory.optional_json(TIMINGS_FILE) == (None, f"{TIMINGS_FILE} not found")
    assert directory.timings() == {} and not directory.has_config() and not directory.has_trained_state()
    (tmp_path / TIMINGS_FILE).write_text("{broken")
    data, problem = directory.optional_json(TIMINGS_FILE)
    assert data is None and problem.startswith(f"{TIMINGS_FILE} could not be read")
    (tmp_path / TIMINGS_FILE).write_text(json.dumps({"train": 1.5}))
    assert directory.timings() == {"train": 1.5}
    (tmp_path / CONFIG_FILE).write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected an object"):
        directory.read_config()


def test_lock_and_stale_temporaries(tmp_path):
    directory = RunDirectory(tmp_path / "run")
    assert directory.lock()
    try:
        stale = [directory.path / "config.json.tmp", directory.nodes_path / "node0.pt.tmp"]
        directory.nodes_path.mkdir()
        for path in stale:
            path.write_text("half written")
        assert sorted(directory.remove_stale_temporaries()) == sorted(stale)
        assert not any(path.exists() for path in stale)
        assert not directory.lock()  # held already by this process
    finally:
        directory.release()
    assert directory.lock()  # released above, so it can be taken again
    directory.release()


def test_comparison_runs_lists_each_method(tmp_path):
    for method in ("spos", "nas-lid"):
        (tmp_path / method).mkdir()
        (tmp_path / method / CONFIG_FILE).write_text("{}")
    assert comparison_runs(tmp_path) == [tmp_path / "nas-lid", tmp_path / "spos"]
    assert comparison_runs(tmp_path / "spos") == []


def test_verify_reads_a_lost_tree_through_the_directory(split_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(split_run, copy)
    assert verify_run(copy) == []
    (copy / TREE_FILE).unlink()
    problems = verify_run(copy)
    assert len(problems) == 1 and problems[0].startswith(f"{copy / TREE_FILE} is missing, but the run holds node1.pt")
