"""Proxy scores of a finished run split into shards over a job runner equal a single process's, in order
(worker processes: tests/test_partition_ray.py)."""

import numpy as np
import pytest
from helpers import tiny_run_config

from naslid.runs.evaluate import RunEvaluator, ScoreShard
from naslid.runs.partition import PartitionRun, run_partition
from naslid.spaces import NB201Space


class _ShardsHere:
    """Three slots, jobs run one after another in this process: the sharding without the processes."""

    slots = 3

    def __init__(self) -> None:
        self.jobs = []

    def run(self, jobs):
        self.jobs.extend(jobs)
        return [job() for job in jobs]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("evaluate") / "run"
    run_partition(run_dir, tiny_run_config(split_epochs=(1,)))  # two leaves
    everything = list(NB201Space().all())
    archs = [everything[i] for i in np.random.default_rng(0).choice(len(everything), size=12, replace=False)]
    run = PartitionRun(run_dir, tiny_run_config(split_epochs=(1,)))
    try:
        yield run, archs, RunEvaluator(run).evaluate_many(archs)  # the run's runner is sequential
    finally:
        run.close()


@pytest.mark.slow
def test_sharded_scores_equal_single_process_scores_in_input_order(finished_run):
    run, archs, expected = finished_run
    evaluator = RunEvaluator(run)
    assert expected == [evaluator(arch) for arch in archs]
    runner = _ShardsHere()
    assert evaluator.evaluate_many(archs, runner=runner) == expected
    assert len(runner.jobs) == 3 and all(isinstance(job, ScoreShard) for job in runner.jobs)
    assert sorted(arch for job in runner.jobs for arch in job.archs) == sorted(archs)
    # each shard holds archs of as few leaves as possible (sorted by leaf)
    leaves = [[run.tree.leaf_for(arch).id for arch in job.archs] for job in runner.jobs]
    assert [ids for ids in leaves if ids] and all(ids == sorted(ids) for ids in leaves)
    assert evaluator.evaluate_many(archs[:1], runner=runner) == expected[:1]
    assert evaluator.evaluate_many([], runner=runner) == []
