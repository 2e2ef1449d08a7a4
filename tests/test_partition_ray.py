"""The Ray runner on one local 2-CPU instance: a partition run gives the sequential tree and weights, a job
whose worker dies mid-job is retried and resumes from its checkpoint, a job's error reaches the caller."""

import copy
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_run_config, torch_threads
from test_runs_partition import _tree_decisions

from naslid.partition import get_runner, runner_slots
from naslid.runs.config import RunConfig
from naslid.runs.partition import CONFIG_FILE, NodeJob, PartitionRun, run_partition
from naslid.spaces import NB201Space
from naslid.train import load_checkpoint


def _ray_config() -> RunConfig:
    # level 1 trains two epochs (1 -> 3), so a job can die after its first epoch and resume from there
    return tiny_run_config(split_epochs=(1, 3), finetune_epochs=1)


@pytest.fixture(scope="module")
def sequential_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("sequential") / "run"
    with torch_threads(1):  # as in a Ray worker holding one CPU: the same float reductions, so equal bits
        return run_dir, run_partition(run_dir, _ray_config())


def _assert_same_run(tree, run_dir, reference_tree, reference_dir):
    assert _tree_decisions(tree) == _tree_decisions(reference_tree)
    for node in reference_tree.nodes.values():
        expected = load_checkpoint(reference_dir / node.checkpoint)
        actual = load_checkpoint(run_dir / tree.nodes[node.id].checkpoint)
        assert actual["epoch"] == expected["epoch"]
        assert actual["model"].keys() == expected["model"].keys()
        for name, tensor in expected["model"].items():
            assert torch.equal(actual["model"][name], tensor), (node.id, name)


class _DieAfterFirstEpoch:
    """The first time: train the node one epoch (its checkpoint is written), then kill this worker process.
    On the retry: record the epoch the checkpoint holds, then run the job, which resumes from it."""

    def __init__(self, job: NodeJob, folder: Path) -> None:
        self.job, self.folder = job, str(folder)

    def __call__(self) -> str:
        died, resumed = Path(self.folder) / "died", Path(self.folder) / "resumed_from_epoch"
        run = PartitionRun(self.job.run_dir, RunConfig.load(Path(self.job.run_dir) / CONFIG_FILE), lock=False)
        if not died.exists():
            start = run.tree.nodes[self.job.node_id].trained_epochs
            run.train_checkpoint(self.job.node_id, start + 1)
            died.write_text(str(os.getpid()))
            os._exit(1)  # the worker dies mid-job, as on a lost machine or an out-of-memory kill
        resumed.write_text(str(load_checkpoint(run.checkpoint_path(run.tree.nodes[self.job.node_id]))["epoch"]))
        return copy.copy(self.job)()


@pytest.mark.slow
def test_ray_run_with_a_worker_killed_mid_job_gives_the_sequential_tree_and_weights(ray_local, sequential_run,
                                                                                      tmp_path):
    """One run covers both: the level-1 job of node 1 dies after its first epoch, and every other job runs
    plainly as a Ray task; the tree and every checkpoint equal the sequential run's, bit for bit."""
    from naslid.partition.ray_runner import RayRunner

    class DyingRunner(RayRunner):
        def run(self, jobs):
            return super().run([_DieAfterFirstEpoch(job, tmp_path) if job.node_id == 1 and job.until_epoch == 3
                                else job for job in jobs])

    runner = DyingRunner(max_retries=2)
    assert runner_slots(runner) == 2  # two jobs at once on the 2-CPU instance
    tree = run_partition(tmp_path / "ray", _ray_config(), runner=runner)
    assert (tmp_path / "died").is_file()
    assert (tmp_path / "resumed_from_epoch").read_text() == "2"  # the retry started from the first epoch's save
    _assert_same_run(tree, tmp_path / "ray", *reversed(sequential_run))


@pytest.mark.slow
def test_sharded_proxy_scores_over_ray_equal_single_process_scores(ray_local, sequential_run):
    from naslid.runs.evaluate import RunEvaluator

    run_dir, _ = sequential_run
    everything = list(NB201Space().all())
    archs = [everything[i] for i in np.random.default_rng(1).choice(len(everything), size=10, replace=False)]
    run = PartitionRun(run_dir, _ray_config(), runner=get_runner("ray"))
    try:
        evaluator = RunEvaluator(run)
        expected = [evaluator(arch) for arch in archs]
        assert evaluator.evaluate_many(archs) == expected  # the run's runner: two shards, two workers
    finally:
        run.close()


class _FailOnce:
    def __init__(self, marker: Path, value: int) -> None:
        self.marker, self.value = str(marker), value

    def __call__(self) -> int:
        if not Path(self.marker).exists():
            Path(self.marker).write_text("failed once")
            raise RuntimeError("a passing failure")
        return self.value


def _always_wrong() -> int:
    raise ValueError("split batch_size=999 exceeds the 600 training images")


@pytest.mark.slow
def test_failed_jobs_are_retried_and_a_lasting_error_reaches_the_caller(ray_local, tmp_path):
    runner = get_runner("ray", max_retries=1)
    assert runner.run([_FailOnce(tmp_path / "a", 1), _FailOnce(tmp_path / "b", 2), lambda: 3]) == [1, 2, 3]
    with pytest.raises(ValueError, match="exceeds the 600 training images"):
        runner.run([lambda: 1, _always_wrong])
    assert runner.run([]) == []


def test_ray_options_are_checked(ray_local):
    with pytest.raises(ValueError, match="gpus_per_job"):
        get_runner("ray", gpus_per_job=-1)
    with pytest.raises(ValueError, match="whole number"):
        get_runner("ray", gpus_per_job=1.5)
    with pytest.raises(ValueError, match="cpus_per_job"):
        get_runner("ray", cpus_per_job=0)
    assert get_runner("ray", gpus_per_job=0.25).gpus_per_job == 0.25


def test_without_ray_the_ray_runner_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ValueError, match=r"pip install 'naslid\[ray\]'"):
        get_runner("ray")
    with pytest.raises(ValueError, match="--gpus-per-job apply to --runner ray only"):
        get_runner("processes:2", gpus_per_job=1)


def test_cli_refuses_ray_flags_without_the_ray_runner_in_one_line(tmp_path, capsys):
    from naslid.cli import main

    assert main(["partition", str(tmp_path / "run"), "--runner", "processes:2", "--gpus-per-job", "1"]) == 2
    error = capsys.readouterr().err
    assert "--gpus-per-job apply to --runner ray only" in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "config.json").exists()
