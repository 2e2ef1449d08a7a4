"""Data-parallel SPOS with torchrun: 2 gloo ranks on the CPU end where one process with the same global batch
ends (to float tolerance), and only rank 0 writes."""

import os
import subprocess
import sys

import pytest
import torch

from naslid.cli import main
from naslid.train import load_checkpoint
from naslid.train.distributed import DataParallel, world

# one epoch of the tiny preset on 512 digits: 64 images a step, 32 per rank
_FLAGS = ["--preset", "tiny", "--epochs", "2", "--train-limit", "512", "--device", "cpu", "--seed", "0",
          "--no-progress"]


def test_without_a_process_group_data_parallel_changes_nothing():
    parallel = DataParallel()
    images, labels = torch.zeros(6, 1, 8, 8), torch.arange(6)
    assert world() == (0, 1) and not parallel.active
    local_images, local_labels, total = parallel.local_batch(images, labels)
    assert local_images is images and local_labels is labels and total == 6
    value = torch.tensor(3.0)
    assert parallel.sum(value) is value


@pytest.mark.slow
def test_torchrun_with_two_gloo_ranks_matches_one_process_on_the_global_batch(tmp_path):
    # the reference runs NCHW: the CPU's channels_last BatchNorm sums its weight gradient less exactly (1e-4 of a
    # sum over 4,096 values), which a dozen SGD steps amplify to 3e-3; the ranks run the default channels_last
    # with naslid's own two-pass global BatchNorm, which sums as exactly as the NCHW kernel
    assert main(["train", str(tmp_path / "single"), *_FLAGS, "--memory-format", "contiguous"]) == 0
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "naslid", "train", str(tmp_path / "ddp"), *_FLAGS]
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=environment)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("trained a supernet") == 1  # rank 0 prints, rank 1 is quiet
    single = load_checkpoint(tmp_path / "single" / "nodes" / "node0.pt")
    ddp = load_checkpoint(tmp_path / "ddp" / "nodes" / "node0.pt")
    assert ddp["epoch"] == single["epoch"] == 2 and ddp["step"] == single["step"]
    assert ddp["sampler"] == single["sampler"]  # the same paths were drawn
    differences = {name: (ddp["model"][name].double() - tensor.double()).abs().max().item()
                   for name, tensor in single["model"].items()}
    # fp32 rounding (two-pass BN statistics, per-rank convolutions, summed gradients) over a dozen SGD steps
    assert max(differences.values()) < 2e-4, sorted(differences.items(), key=lambda item: -item[1])[:3]
    momentum = {k: v for k, v in single["optimizer"]["state"].items()}
    for key, state in ddp["optimizer"]["state"].items():
        assert torch.allclose(state["momentum_buffer"], momentum[key]["momentum_buffer"], atol=2e-4)
    for ours, theirs in zip(ddp["history"], single["history"], strict=True):
        assert ours["loss"] == pytest.approx(theirs["loss"], abs=1e-4)
        assert ours["accuracy"] == pytest.approx(theirs["accuracy"], abs=1e-9)  # counts over the global batch
    assert not list((tmp_path / "ddp").glob("**/*.tmp"))


@pytest.mark.slow
def test_torchrun_partition_splits_on_rank_0_and_every_rank_trains_the_children(tmp_path):
    from naslid.partition import PartitionTree

    flags = [*_FLAGS, "--split-epochs", "1", "--finetune-epochs", "1"]
    flags[flags.index("--epochs"):flags.index("--epochs") + 2] = []  # partition has no --epochs
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "naslid", "partition", str(tmp_path / "ddp"), *flags]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-4000:]
    tree = PartitionTree.load(tmp_path / "ddp" / "partition_tree.json")
    leaves = tree.leaves()
    assert len(leaves) == 2 and all(leaf.finetuned and leaf.trained_epochs == 2 for leaf in leaves)
    assert sum(leaf.subspace.size() for leaf in leaves) == 15_625
    for leaf in leaves:
        checkpoint = load_checkpoint(tmp_path / "ddp" / leaf.checkpoint)
        assert checkpoint["epoch"] == 2 and checkpoint["node"] == leaf.id
