"""Ranking tracked while training, and the root training shared across compared methods."""

import json
from functools import partial

import numpy as np
import pytest
import torch
from helpers import TINY_SEARCH, tiny_run_config

from naslid.bench import kendall_tau_b
from naslid.runs.compare import compare_methods, root_epochs, steps_per_leaf_path
from naslid.runs.partition import PartitionRun
from naslid.runs.presets import ComparePlan, method_config
from naslid.runs.tracking import Tracking, tracked_scores, tracking_overhead
from naslid.spaces import NB201Space, format_arch
from naslid.train import load_checkpoint

ALL = list(NB201Space().all())


_config = partial(tiny_run_config, train_limit=400, split={"batches": 1, "gradient_batches": 1},
                  proxy={"evaluation_images": 100}, search=TINY_SEARCH)


def _tracking(count=12, every=1) -> Tracking:
    rng = np.random.default_rng(3)
    archs = tuple(ALL[i] for i in sorted(rng.choice(len(ALL), count, replace=False)))
    return Tracking(subset=f"random{count}", rule="test draw", archs=archs, every=every)


def _weights(run_dir, tree):
    return {leaf.id: load_checkpoint(run_dir / leaf.checkpoint)["model"] for leaf in tree.leaves()}


def _same(a, b):
    return a.keys() == b.keys() and all(all(torch.equal(a[n][k], b[n][k]) for k in a[n]) for n in a)


@pytest.mark.slow
def test_tracking_scores_every_epoch_without_changing_training(tmp_path):
    config = method_config(_config(), "nas-lid")
    plain = PartitionRun(tmp_path / "plain", config)
    tracked = PartitionRun(tmp_path / "tracked", config, tracking=_tracking())
    assert _same(_weights(tmp_path / "plain", plain.run()), _weights(tmp_path / "tracked", tracked.run()))
    histories = tracked.node_histories()
    scores = tracked_scores(histories)
    assert sorted(scores) == [1, 2, 3]  # every epoch of the schedule, the fine-tuning included
    assert all(set(by_arch) == set(tracked.tracking.archs) for by_arch in scores.values())
    # after the first split each architecture is scored by the node that owns it, with that node's weights
    leaf_of = {arch: tracked.tree.leaf_for(arch) for arch in tracked.tracking.archs}
    for arch, leaf in leaf_of.items():
        last = load_checkpoint(tmp_path / "tracked" / leaf.checkpoint)["history"][-1]["tracked"]
        assert last["epoch"] == 3 and last["scores"][format_arch(arch)] == scores[3][arch]
    truth = {arch: float(i) for i, arch in enumerate(tracked.tracking.archs)}
    curve = tracked.ranking_curve(truth)
    assert [p["epoch"] for p in curve] == [1, 2, 3] and all(p["n"] == 12 for p in curve)
    archs = list(tracked.tracking.archs)
    assert curve[-1]["kendall_tau_b"] == pytest.approx(kendall_tau_b([scores[3][a] for a in archs],
                                                                     [truth[a] for a in archs]))
    overhead = tracking_overhead(histories)
    assert overhead["scoring_seconds"] > 0 and overhead["share_of_training"] > 0
    # a second PartitionRun on the directory (a worker, a resume) finds the tracked set there
    assert PartitionRun(tmp_path / "tracked", config).tracking == tracked.tracking


def test_tracking_every_n_epochs_and_restarted_leaves_count_run_epochs(tmp_path):
    config = method_config(_config(split_epochs=(2,), finetune_epochs=2, finetune="restart"), "nas-lid")
    run = PartitionRun(tmp_path / "run", config, tracking=_tracking(every=2))
    run.run()
    assert sorted(tracked_scores(run.node_histories())) == [2, 4]  # the leaves' own epochs 1-2 are run epochs 3-4


@pytest.mark.slow
def test_compare_shares_the_root_and_gives_the_same_weights(tmp_path):
    config = _config()
    truth = {arch: float(i % 97) for i, arch in enumerate(ALL)}
    table = tmp_path / "truth.json"
    table.write_text(json.dumps({format_arch(arch): value for arch, value in truth.items()}))
    plan = ComparePlan(methods=("spos", "nas-lid", "few-shot"), ranking_subsets=("random30",), profile_archs=1,
                       profile_batches=1, track_subset="random10")
    shared = compare_methods(tmp_path / "shared", config, plan, benchmark_path=table)
    alone = compare_methods(tmp_path / "alone", config, ComparePlan(**{**plan.__dict__, "share_root": False}),
                            benchmark_path=table)
    for method in plan.methods:
        cfg = method_config(config, method)
        ours = PartitionRun(tmp_path / "shared" / method, cfg)
        theirs = PartitionRun(tmp_path / "alone" / method, cfg)
        assert _same(_weights(ours.run_dir, ours.tree), _weights(theirs.run_dir, theirs.tree))
        assert shared["methods"][method]["reused_root"]["root_epochs"] == root_epochs(cfg)
        assert alone["methods"][method]["reused_root"] is None
        assert shared["methods"][method]["ranking"] == alone["methods"][method]["ranking"]
        assert shared["methods"][method]["curve"] == alone["methods"][method]["curve"]
    assert {root_epochs(method_config(config, m)) for m in plan.methods} == {1, 2, 3}
    assert sorted(p.name for p in (tmp_path / "shared" / "shared_root" / "snapshots").iterdir()) == [
        "root_epoch1.pt", "root_epoch2.pt", "root_epoch3.pt"]
    steps = shared["protocol"]["method_protocols"]
    assert steps["nas-lid"]["sgd_steps_per_leaf_path"] == 3 * shared["protocol"]["steps_per_epoch"]["nas-lid"]
    assert [p["epoch"] for p in shared["methods"]["spos"]["curve"]] == [1, 2, 3]
    report = (tmp_path / "shared" / "compare.md").read_text()
    assert "Kendall tau while training" in report and "Shared root training" in report
    assert (tmp_path / "shared" / "plots" / "tau_while_training.png").stat().st_size > 10_000


def test_steps_per_leaf_path_follow_the_schedule():
    config = _config(split_epochs=(2, 4), finetune_epochs=3)
    assert steps_per_leaf_path(method_config(config, "nas-lid"), 10) == 70
    restart = _config(split_epochs=(2, 4), finetune_epochs=3, finetune="restart")
    assert steps_per_leaf_path(method_config(restart, "gm-nas"), 10) == 30
    assert steps_per_leaf_path(method_config(restart, "spos"), 10) == 70


@pytest.mark.slow
def test_multi_seed_compare_reports_spread_and_the_random_control(tmp_path):
    config = _config(split_epochs=(1,), finetune_epochs=1)
    truth = {arch: float(i % 89) for i, arch in enumerate(ALL)}
    table = tmp_path / "truth.json"
    table.write_text(json.dumps({format_arch(arch): value for arch, value in truth.items()}))
    plan = ComparePlan(methods=("nas-lid", "random-split"), ranking_subsets=("random40",), profile_archs=1,
                       profile_batches=1, seeds=(0, 1))
    results = compare_methods(tmp_path / "cmp", config, plan, benchmark_path=table)
    assert [run["seed"] for run in results["runs"]] == [0, 1]
    per_seed = [run["methods"]["nas-lid"]["ranking"][0]["kendall_tau_b"] for run in results["runs"]]
    entry = results["methods"]["nas-lid"]["ranking"][0]
    assert entry["kendall_tau_b_seeds"]["values"] == per_seed
    assert entry["kendall_tau_b"] == pytest.approx(np.mean(per_seed))
    randoms = [run["methods"]["random-split"]["ranking"][0]["kendall_tau_b"] for run in results["runs"]]
    control = results["paired"]["against_control"]["nas-lid"]["random40"]
    assert results["paired"]["control"] == "random-split" and results["paired"]["reference"] is None
    assert control["differences"] == pytest.approx(np.subtract(per_seed, randoms).tolist())
    assert control["mean"] == pytest.approx(np.mean(np.subtract(per_seed, randoms)))
    assert control["n"] == 2 and control["seeds"] == [0, 1]
    low, high = control["interval"]
    assert min(control["differences"]) - 1e-12 <= low <= control["mean"] <= high <= max(control["differences"]) + 1e-12
    report = (tmp_path / "cmp" / "compare.md").read_text()
    assert "Paired by seed: Kendall tau minus the control, `random-split`" in report
    assert (tmp_path / "cmp" / "plots" / "paired_differences.png").stat().st_size > 5_000
    assert (tmp_path / "cmp" / "seed1" / "nas-lid" / "partition_tree.json").is_file()


def test_compare_checks_method_names_before_any_work():
    with pytest.raises(ValueError, match="nas-lidd"):
        ComparePlan(methods=("spos", "nas-lidd"))
