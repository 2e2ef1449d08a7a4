"""Split reliability in a run: every decision carries its bootstrap, which never changes the decision."""

import json
from dataclasses import replace

import pytest
from helpers import tiny_run_config

from naslid.partition import SplitConfig
from naslid.runs.config import RunConfig
from naslid.runs.partition import PartitionRun
from naslid.runs.protocols import method_config


def _config(resamples: int, edge_score: str = "intra") -> RunConfig:
    split = {"batches": 4, "gradient_batches": 100, "reliability_resamples": resamples, "edge_score": edge_score}
    return method_config(tiny_run_config(train_limit=400, split=split, split_epochs=(1,)), "nas-lid")


def _root_split(tmp_path, name, config):
    run = PartitionRun(tmp_path / name, config)
    try:
        return run.run(finetune=False).root.split
    finally:
        run.close()


@pytest.mark.slow
def test_the_bootstrap_is_recorded_and_never_changes_the_decision(tmp_path):
    without = _root_split(tmp_path, "off", _config(0))
    with_bootstrap = _root_split(tmp_path, "on", _config(50))
    assert without.reliability is None
    assert (with_bootstrap.edge, with_bootstrap.groups) == (without.edge, without.groups)
    assert with_bootstrap.similarities == without.similarities
    assert with_bootstrap.edge_scores == without.edge_scores
    evidence = with_bootstrap.reliability
    assert evidence["resamples"] == 50 and evidence["chosen"] == with_bootstrap.point_name
    edges = evidence["edges"]
    assert set(edges) == set(with_bootstrap.similarities)
    assert abs(sum(edge["chosen_share"] for edge in edges.values()) - 1.0) < 1e-9
    assert all(0.0 <= edge["grouping_recurrence"] <= 1.0 for edge in edges.values())
    saved = json.loads((tmp_path / "on" / "partition_tree.json").read_text())
    assert next(n for n in saved["nodes"] if n["id"] == 0)["split"]["reliability"]["resamples"] == 50


def test_separation_z_picks_an_edge_from_the_bootstrap(tmp_path):
    record = _root_split(tmp_path, "z", _config(50, "separation-z"))
    edges = record.reliability["edges"]
    z = {name: edge["separation_z"] for name, edge in edges.items()}
    finite = {name: value for name, value in z.items() if value is not None}
    assert record.point_name == max(finite, key=finite.get)


def test_separation_z_needs_resamples():
    with pytest.raises(ValueError, match="reliability_resamples"):
        replace(SplitConfig(), edge_score="separation-z", reliability_resamples=0)
