"""The partition pipeline on the CPU: leaf coverage, few-shot and SPOS shapes, resume after a kill."""

import json
from dataclasses import replace

import pytest
import torch
from helpers import tiny_run_config

from naslid.runs.config import RunConfig
from naslid.runs.partition import PartitionRun, _node_seed, build_supernet, run_partition
from naslid.runs.presets import method_config
from naslid.search import ProxyConfig
from naslid.spaces import NB201Space, edge_name
from naslid.train import load_checkpoint, train_supernet


def _tree_decisions(tree):
    return [(n.id, n.parent, n.subspace.allowed, n.split.edge if n.split else None,
             n.split.groups if n.split else None, n.trained_epochs) for n in tree.nodes.values()]


@pytest.mark.slow
def test_every_architecture_falls_in_exactly_one_leaf(tmp_path):
    tree = run_partition(tmp_path / "run", tiny_run_config())
    leaves = tree.leaves()
    assert len(leaves) == 4 and all(leaf.finetuned for leaf in leaves)
    assert sum(leaf.subspace.size() for leaf in leaves) == 15_625
    for arch in NB201Space().all():
        owners = [leaf.id for leaf in leaves if leaf.subspace.contains(arch)]
        assert len(owners) == 1
        assert tree.leaf_for(arch).id == owners[0]
    # a child never re-splits its parent's edge while unsplit edges remain
    for node in tree.nodes.values():
        if node.split is not None and node.parent is not None:
            assert node.split.edge != tree.nodes[node.parent].split.edge
            assert edge_name(tree.nodes[node.parent].split.edge) not in node.split.edge_scores
    # each split is a 2-vs-3 grouping recorded with its evidence, in op names
    saved = json.loads((tmp_path / "run" / "partition_tree.json").read_text())
    assert saved["schema"] == "naslid.partition_tree/1"
    root = saved["nodes"][0]["split"]
    assert sorted(len(g) for g in root["groups"]) == [2, 3]
    assert set(root["similarities"]) == {"1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"}
    assert root["similarities"]["1<-0"]["ops"][0] == "none"


@pytest.mark.slow
def test_few_shot_and_spos_shapes(tmp_path):
    few = run_partition(tmp_path / "few", method_config(tiny_run_config(fewshot_edge=3), "few-shot"))
    assert len(few.leaves()) == 5
    assert sorted(leaf.subspace.allowed[3] for leaf in few.leaves()) == sorted((op,) for op in NB201Space.ops)
    spos = run_partition(tmp_path / "spos", method_config(tiny_run_config(), "spos"))
    assert len(spos.leaves()) == 1 and spos.root.trained_epochs == 3


@pytest.mark.slow
@pytest.mark.parametrize("method", ["nas-lid", "gm-nas"])
def test_resume_after_kill_between_levels_gives_the_same_tree(tmp_path, method):
    config = method_config(tiny_run_config(), method)
    reference = run_partition(tmp_path / "reference", config)

    class Killed(Exception):
        pass

    class KilledRun(PartitionRun):
        def train_checkpoint(self, node_id, until_epoch):
            if self.tree.nodes[node_id].depth == 1:
                raise Killed  # the process dies after the first split, before level 1 trains
            return super().train_checkpoint(node_id, until_epoch)

    with pytest.raises(Killed):
        KilledRun(tmp_path / "resumed", config).run()
    resumed = PartitionRun(tmp_path / "resumed", config).run()
    assert _tree_decisions(resumed) == _tree_decisions(reference)
    for leaf in reference.leaves():
        expected = load_checkpoint(tmp_path / "reference" / leaf.checkpoint)["model"]
        actual = load_checkpoint(tmp_path / "resumed" / resumed.nodes[leaf.id].checkpoint)["model"]
        assert all(torch.equal(expected[k], actual[k]) for k in expected)


def test_restart_finetune_trains_leaves_from_scratch(tmp_path):
    config = tiny_run_config(finetune="restart", split_epochs=(1,))
    run = PartitionRun(tmp_path / "run", config)
    tree = run.run()
    for leaf in tree.leaves():
        saved = load_checkpoint(tmp_path / "run" / leaf.checkpoint)
        # trained from epoch 0 for the fine-tuning epochs only, not continued from the parent's epoch 1
        assert saved["epoch"] == 1 and [entry["epoch"] for entry in saved["history"]] == [1]
        # exactly a fresh, seeded supernet trained on the leaf's space: not the parent's weights
        fresh = build_supernet(config, run.device, seed=_node_seed(config.seed, leaf.id) % (2**31))
        train_supernet(fresh, leaf.subspace, run.data.train_loader, replace(run.train_cfg, epochs=1), until_epoch=1)
        assert all(torch.equal(value, saved["model"][name]) for name, value in fresh.state_dict().items())
        inherited = load_checkpoint(tmp_path / "run" / "nodes" / f"node{leaf.id}.pt")["model"]
        assert not all(torch.equal(inherited[name], saved["model"][name]) for name in inherited)


def test_a_run_directory_refuses_a_different_configuration(tmp_path):
    config = method_config(tiny_run_config(split_epochs=(1,), finetune_epochs=0), "spos")
    run_partition(tmp_path / "run", config)  # trained state: node0.pt and the tree
    with pytest.raises(ValueError, match="different seed settings"):
        PartitionRun(tmp_path / "run", replace(config, seed=5))
    with pytest.raises(ValueError, match=r"different split settings \(split.k: 8 stored, 5 asked\)"):
        PartitionRun(tmp_path / "run", replace(config, split=replace(config.split, k=5)))
    # evaluation settings may change: they do not touch what was trained
    PartitionRun(tmp_path / "run", replace(config, proxy=ProxyConfig(calibration_batches=3)))
    assert RunConfig.load(tmp_path / "run" / "config.json").proxy.calibration_batches == 3


@pytest.mark.slow
def test_process_pool_runner_trains_levels_and_leaves_like_the_sequential_one(tmp_path):
    from naslid.partition import ProcessPoolRunner, get_runner

    config = tiny_run_config()
    sequential = run_partition(tmp_path / "sequential", config)
    parallel = run_partition(tmp_path / "parallel", config, runner=ProcessPoolRunner(2))
    assert _tree_decisions(parallel) == _tree_decisions(sequential)
    for leaf in sequential.leaves():
        expected = load_checkpoint(tmp_path / "sequential" / leaf.checkpoint)["model"]
        actual = load_checkpoint(tmp_path / "parallel" / parallel.nodes[leaf.id].checkpoint)["model"]
        assert all(torch.allclose(expected[k].float(), actual[k].float(), atol=1e-5) for k in expected)
    assert isinstance(get_runner("processes:3"), ProcessPoolRunner)
    with pytest.raises(ValueError, match="processes:N"):
        get_runner("threads")
