"""Proxy scores for a finished partition run: each architecture evaluated with its own leaf's weights."""

from __future__ import annotations

import logging

from torch import nn

from naslid.partition import PartitionTree
from naslid.runs.partition import PartitionRun
from naslid.search import ProxyEvaluator
from naslid.spaces import ChoiceArch as Arch

logger = logging.getLogger(__name__)


class RunEvaluator:
    """Loads every leaf of a run once and scores architectures on the held-out valid split."""

    def __init__(self, run: PartitionRun) -> None:
        self.run = run
        self.tree: PartitionTree = run.tree
        unfinished = [leaf.id for leaf in self.tree.leaves() if not leaf.finetuned]
        if unfinished:
            raise ValueError(f"leaves {unfinished} of {run.run_dir} are not trained yet; finish the run first")
        self.networks: dict[int, nn.Module] = {
            leaf.id: run.load_network(leaf).eval() for leaf in self.tree.leaves()
        }
        evaluation, calibration = run.proxy_batches()
        self.evaluator = ProxyEvaluator(self.owner, evaluation, calibration, run.cfg.proxy)
        self.part = "valid"

    def owner(self, arch: Arch) -> nn.Module:
        return self.networks[self.tree.leaf_for(arch).id]

    def __call__(self, arch: Arch) -> float:
        return self.evaluator(arch)

    def protocol(self) -> dict:
        return {
            "proxy": f"top-1 accuracy (%) on the {self.part} split with the owning leaf's weights",
            "bn_recalibration_batches": self.run.cfg.proxy.calibration_batches,
            "evaluation_images": sum(labels.shape[0] for _, labels in self.evaluator.evaluation),
        }
