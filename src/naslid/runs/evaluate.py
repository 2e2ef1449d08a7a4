"""Proxy scores for a finished partition run: each architecture evaluated with its own leaf's weights.

Many architectures (ranking subsets, a search's generation) can be scored in shards through the run's job
runner: each shard is a job that reopens the run from its directory and scores its architectures with the
same held-out batches, BN calibration images and leaf weights, so the scores equal a single process's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch import nn

from naslid.partition import JobRunner, PartitionTree, runner_slots
from naslid.runs.config import RunConfig
from naslid.runs.opened import OpenedRun
from naslid.runs.run_directory import CONFIG_FILE
from naslid.search import ProxyEvaluator
from naslid.spaces import ChoiceArch

logger = logging.getLogger(__name__)


class RunEvaluator:
    """Scores architectures of a run on the held-out valid split, loading each leaf once, when first needed."""

    def __init__(self, run: OpenedRun) -> None:
        self.run = run
        self.tree: PartitionTree = run.tree
        unfinished = [leaf.id for leaf in self.tree.leaves() if not leaf.finetuned]
        if unfinished:
            raise ValueError(f"leaves {unfinished} of {run.run_dir} are not trained yet; finish the run first")
        for leaf in self.tree.leaves():  # a lost checkpoint fails now, saying how to redo it, not mid-search
            if leaf.checkpoint is None or not (run.run_dir / leaf.checkpoint).is_file():
                run.read_checkpoint(leaf)
        self.networks: dict[int, nn.Module] = {}
        evaluation, calibration = run.proxy_batches()
        self.evaluator = ProxyEvaluator(self.owner, evaluation, calibration, run.cfg.proxy)
        self.part = "valid"

    def owner(self, arch: ChoiceArch) -> nn.Module:
        leaf = self.tree.leaf_for(arch)
        if leaf.id not in self.networks:
            self.networks[leaf.id] = self.run.load_network(leaf).eval()
        return self.networks[leaf.id]

    def __call__(self, arch: ChoiceArch) -> float:
        return self.evaluator(arch)

    def evaluate_many(self, archs: Sequence[ChoiceArch], runner: JobRunner | None = None) -> list[float]:
        """Scores of `archs` in order; split into one shard per slot of `runner` (default: the run's runner).

        A shard holds architectures of as few leaves as possible (sorted by leaf), so each job loads few.
        """
        archs = list(archs)
        runner = self.run.runner if runner is None else runner
        shards = min(runner_slots(runner), len(archs))
        if shards <= 1:
            return [self(arch) for arch in archs]
        order = sorted(range(len(archs)), key=lambda i: self.tree.leaf_for(archs[i]).id)
        parts = [list(part) for part in np.array_split(np.array(order), shards)]
        run_dir = str(self.run.run_dir.resolve())
        results = runner.run([ScoreShard(run_dir, [archs[i] for i in part]) for part in parts])
        scores = [0.0] * len(archs)
        for part, values in zip(parts, results, strict=True):
            for index, value in zip(part, values, strict=True):
                scores[int(index)] = value
        return scores

    def protocol(self) -> dict:
        return {
            "proxy": f"top-1 accuracy (%) on the {self.part} split with the owning leaf's weights",
            "bn_recalibration_batches": self.run.cfg.proxy.calibration_batches,
            "evaluation_images": sum(labels.shape[0] for _, labels in self.evaluator.evaluation),
        }


class ScoreShard:
    """Proxy scores of some architectures of a finished run, in a worker that reopens the run (read only)."""

    def __init__(self, run_dir: str, archs: list[ChoiceArch]) -> None:
        self.run_dir, self.archs = run_dir, archs

    def __call__(self) -> list[float]:
        run = OpenedRun(self.run_dir, RunConfig.load(Path(self.run_dir) / CONFIG_FILE), verify=False)
        evaluator = RunEvaluator(run)
        return [evaluator(arch) for arch in self.archs]
