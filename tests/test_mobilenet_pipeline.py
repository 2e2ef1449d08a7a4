"""ProxylessNAS and OFA spaces through the whole pipeline: partition (LID, gradient, few-shot), budgeted
search, export, on small inputs in CI time."""

import json

import numpy as np
import pytest
import torch

from naslid.cli import main
from naslid.nn import build_supernet_for, latency_function, load_latency_table, network_config_class
from naslid.partition import SplitConfig, edge_similarities
from naslid.runs.export import load_exported, read_export
from naslid.spaces import SubSpace, get_space, point_matters

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def test_ofa_points_are_compared_where_their_block_runs():
    space = get_space("ofa")
    allowed = [list(choices) for choices in space.choices]
    allowed[space.depth_point(0)] = ["d2"]  # stage 1 stops after block 1: blocks 2 and 3 never run
    sub = SubSpace(allowed, space)
    assert not point_matters(sub, space.block_point(0, 2)) and not point_matters(sub, space.block_point(0, 3))
    assert point_matters(sub, space.block_point(0, 1)) and point_matters(sub, space.block_point(1, 3))
    net = build_supernet_for("ofa", network_config_class("ofa")(width_mult=0.25, num_classes=10, small_input=True))
    images = torch.randn(40, 3, 16, 16)
    cfg = SplitConfig(batches=1, batch_size=40, k=8, seed=3)
    point = space.block_point(1, 3)  # a stage-2 block that d2 and d3 skip: compared only where it runs
    matrix = edge_similarities(net, sub, [(images, torch.zeros(40, dtype=torch.long))], cfg, edges=[point])[point]
    assert matrix.shape == (9, 9)
    assert (matrix[np.triu_indices(9, 1)] < 1.0).all()  # every pair of candidates differs on an active path
    with pytest.raises(ValueError, match="changes no network"):
        edge_similarities(net, sub, [(images, torch.zeros(40, dtype=torch.long))], cfg,
                          edges=[space.block_point(0, 3)])


@pytest.mark.slow
@pytest.mark.parametrize("space", ["proxyless", "ofa"])
def test_partition_search_export_on_a_mobilenet_space(space, tmp_path, capsys):
    run = tmp_path / space
    small = ["--space", space, "--width-mult", "0.25", "--train-limit", "300", "--split-epochs", "1",
             "--finetune-epochs", "1", "--split-batches", "1", "--no-progress"]
    assert main(["partition", str(run), "--method", "nas-lid", *small]) == 0
    tree = json.loads((run / "partition_tree.json").read_text())
    assert tree["space"] == space and len(tree["leaves"]) == 2
    root = tree["nodes"][0]
    split = root["split"]
    sizes = sorted(len(g) for g in split["groups"])
    choices = len(root["subspace"]["allowed"][split["edge_index"]])
    assert sizes == [choices // 2, choices - choices // 2]  # balanced: 3-vs-4 of 7, 4-vs-5 of 9, 1-vs-2 of 3
    assert root["subspace"]["points"][split["edge_index"]] == split["edge"]
    capsys.readouterr()
    assert main(["search", str(run), "--budget", "8", "--max-mflops", "3", "--no-progress"]) == 0
    assert "MFLOPs" in capsys.readouterr().out
    result = json.loads((run / "search_evolution.json").read_text())
    assert result["space"] == space and result["protocol"]["best_costs"]["mflops"] <= 3
    costs = build_supernet_for(space, network_config_class(space)(width_mult=0.25, num_classes=10, in_channels=1,
                                                                  small_input=True))
    for item in result["history"]:
        assert costs.arch_costs(get_space(space).parse(item["arch"]), 8)["mflops"] <= 3
    table = tmp_path / "latency.json"  # a latency budget with a table built for the run's network
    assert main(["latency-table", "--run", str(run), "--warmup", "1", "--repeats", "2", "--out", str(table)]) == 0
    assert "entries" in capsys.readouterr().out
    built = load_latency_table(table)
    net = build_supernet_for(space, network_config_class(space)(**built["network_config"]))
    predict = latency_function(built, net, built["resolution"])
    rng = np.random.default_rng(0)
    limit = float(np.median([predict(net.space.sample(rng)) for _ in range(20)]))  # about half the space fits
    assert main(["search", str(run), "--budget", "8", "--max-latency-ms", str(limit), "--latency-table", str(table),
                 "--no-progress", "--out", str(run / "search_latency.json")]) == 0
    assert "ms predicted" in capsys.readouterr().out
    searched = json.loads((run / "search_latency.json").read_text())
    assert searched["protocol"]["best_costs"]["latency_ms"] <= limit
    assert searched["protocol"]["latency_table"]["threads"] == 1 and "cache_hits" in searched
    assert main(["search", str(run), "--max-latency-ms", "1", "--no-progress"]) == 2  # no table: a user error
    assert main(["export", str(run), "--latency-table", str(table)]) == 0
    record = read_export(run / "export")
    assert record["costs"]["latency_ms"] > 0 and record["latency_table"]["device"] == "cpu"
    assert record["arch"] == result["best"]["arch"] and record["max_output_difference"] < 1e-4
    blocks = [block for stage in record["spec"]["stages"] for block in stage]
    assert blocks and all(block.startswith(("ir_", "ds_")) for block in blocks)
    program = load_exported(run / "export")
    assert program(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.slow
def test_gradient_and_few_shot_on_proxyless(tmp_path):
    small = ["--space", "proxyless", "--width-mult", "0.25", "--train-limit", "300", "--split-epochs", "1",
             "--finetune-epochs", "0", "--gm-repeats", "1", "--no-progress"]
    assert main(["partition", str(tmp_path / "gm"), "--method", "gm-nas", *small]) == 0
    gm = json.loads((tmp_path / "gm" / "partition_tree.json").read_text())["nodes"][0]["split"]
    assert gm["criterion"] == "gradient" and len(gm["similarities"]) == 21
    assert main(["partition", str(tmp_path / "few"), "--method", "few-shot", "--fewshot-edge", "3", *small]) == 0
    few = json.loads((tmp_path / "few" / "partition_tree.json").read_text())
    assert few["nodes"][0]["split"]["edge"] == get_space("proxyless").points[3] and len(few["leaves"]) == 7
