"""Rankers that use a trained run: each architecture is scored with the weights of the leaf that owns it (swap two
leaves' weights and the scores change), `proxy` equals the run's own proxy evaluation, and a run that is not
trained is one clear error."""

import shutil

import numpy as np
import pytest
import torch
from helpers import tiny_run_config

from naslid.rankers import get_ranker
from naslid.runs.evaluate import RunEvaluator
from naslid.runs.partition import PartitionRun, run_partition
from naslid.runs.rank import run_context, score_architectures

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def two_leaves(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("rank") / "run"
    run_partition(run_dir, tiny_run_config(split_epochs=(1,)))  # one split: two leaves
    return run_dir


def _archs_of_both_leaves(run: PartitionRun, count: int = 4) -> list:
    rng = np.random.default_rng(0)
    leaves = run.tree.leaves()
    return [leaf.subspace.sample(rng) for leaf in leaves for _ in range(count)]


def test_the_lid_ranker_scores_each_architecture_with_its_own_leaf(two_leaves, tmp_path):
    run = PartitionRun(two_leaves, tiny_run_config(split_epochs=(1,)), lock=False)
    archs = _archs_of_both_leaves(run)
    ranker = get_ranker("lid-supernet[batch-size=32,k=8,feature=mean]")
    before = ranker.score_many(archs, run_context(run, seed=0))
    state = {leaf.id: run.read_checkpoint(leaf)["model"] for leaf in run.tree.leaves()}
    assert ranker.score_many(archs, run_context(run, seed=0)) == before  # the leaves are left as they were

    swapped_dir = tmp_path / "swapped"
    shutil.copytree(two_leaves, swapped_dir)
    swapped = PartitionRun(swapped_dir, tiny_run_config(split_epochs=(1,)), lock=False, verify=False)
    first, second = swapped.tree.leaves()
    for leaf, other in ((first, second), (second, first)):  # each leaf's file now holds the other's weights
        checkpoint = swapped.read_checkpoint(leaf)
        checkpoint["model"] = state[other.id]
        torch.save(checkpoint, swapped_dir / leaf.checkpoint)
    after = ranker.score_many(archs, run_context(swapped, seed=0))
    assert len(after) == len(before) and all(np.isfinite(after))
    assert after != before  # other weights, other profiles
    run.close()
    swapped.close()


def test_proxy_is_the_runs_own_proxy_accuracy(two_leaves):
    run = PartitionRun(two_leaves, tiny_run_config(split_epochs=(1,)), lock=False)
    archs = _archs_of_both_leaves(run, 3)
    expected = [100.0 * score for score in RunEvaluator(run).evaluate_many(archs)]
    assert score_architectures(get_ranker("proxy"), archs, run_context(run)) == pytest.approx(expected)
    run.close()


def test_a_run_without_a_trained_supernet_is_one_clear_error(tmp_path):
    from naslid.cli import main

    run_dir = tmp_path / "untrained"
    config = tiny_run_config(split_epochs=(1,))
    with PartitionRun(run_dir, config):  # opened, never trained: no leaf has weights yet
        pass
    with pytest.raises(ValueError, match="not trained yet; finish the run first"):
        get_ranker("proxy").score_many(_archs_of_both_leaves(PartitionRun(run_dir, config, lock=False), 1),
                                       run_context(PartitionRun(run_dir, config, lock=False)))
    assert main(["rank", "--run", str(run_dir), "--ranker", "proxy", "--subset", "random5",
                 "--out", str(tmp_path / "r.json")]) == 2


def test_an_aggregate_shares_isomorphic_architectures_member_by_member(monkeypatch):
    """`agg[params,synflow]` with share_isomorphic: params (which counts dead ops) scores every architecture, synflow
    one per isomorphism class, and the aggregate ranks those columns."""
    from naslid.nn import NB201Config
    from naslid.rankers import aggregate_ranks
    from naslid.rankers.training_free import Synflow
    from naslid.runs.rank import fresh_context
    from naslid.spaces import get_space

    space = get_space("nb201")
    archs = [arch for _, arch in zip(range(300), space.all(), strict=False)]
    classes = {space.canonical_key(arch) for arch in archs}
    assert len(classes) < len(archs)
    context = fresh_context("nb201", NB201Config(channels=4, cells_per_stage=1), 8, None)
    calls = []
    original = Synflow.score
    monkeypatch.setattr(Synflow, "score", lambda self, arch, ctx: calls.append(arch) or original(self, arch, ctx))
    scores = score_architectures(get_ranker("agg[params,synflow]"), archs, context, share_isomorphic=True)
    assert len(calls) == len(classes)
    params = get_ranker("params").score_many(archs, context)
    synflow = dict(zip(map(space.canonical_key, calls), (original(Synflow(), a, context) for a in calls), strict=True))
    expected = aggregate_ranks([params, [synflow[space.canonical_key(arch)] for arch in archs]]).tolist()
    assert scores == expected
