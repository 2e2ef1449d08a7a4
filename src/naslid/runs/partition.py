"""The partition pipeline: train, split, train the children, split again, then fine-tune every leaf.

`PartitionRun` drives the schedule in a run directory (`naslid.runs.opened.OpenedRun` reads it): it writes
`config.json`, `split.json` (train/valid indices), `partition_tree.json` and `nodes/node<ID>.pt`. Each step is
recorded as soon as it finishes, so a killed run resumes where it stopped and reaches the same tree and weights as an
uninterrupted one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from naslid.data import save_split
from naslid.partition import (
    JobRunner,
    PartitionNode,
    PartitionTree,
    SplitConfig,
    SplitRecord,
    candidate_points,
    decide_split,
    few_shot_split,
)
from naslid.runs.config import RunConfig
from naslid.runs.datasets import RunData
from naslid.runs.opened import OpenedRun, build_supernet, memory_named
from naslid.runs.results import epoch_rows, write_jsonl
from naslid.runs.run_directory import CONFIG_FILE, METRICS_FILE, RANKING_CURVE_FILE, TRACKING_FILE, RunDirectory
from naslid.runs.tracking import Tracking
from naslid.train import TrainConfig, TrainState, new_train_state, save_checkpoint, train_supernet
from naslid.train.distributed import barrier, broadcast_object, is_main_process

logger = logging.getLogger(__name__)


def _node_seed(seed: int, node_id: int) -> int:
    return int(np.random.SeedSequence([seed, node_id]).generate_state(1)[0])


def _measurement_batches(data: RunData, split_cfg: SplitConfig, seed: int) -> list | Callable[[int], list]:
    """The batches a node's split is measured on: one draw for every point, or (per-point) a function drawing
    fresh batches for each point when it is measured."""
    augmented = split_cfg.measurement_augment
    if split_cfg.measurement_batches != "per-point":
        return data.batches(split_cfg.measured_batches, split_cfg.batch_size, seed=seed % (2**31), augmented=augmented)

    def batches(point: int) -> list:
        point_seed = int(np.random.SeedSequence([seed, point]).generate_state(1)[0]) % (2**31)
        return data.batches(split_cfg.measured_batches, split_cfg.batch_size, seed=point_seed, augmented=augmented)
    return batches


def _refuse_other_tracking(run_dir: Path, stored: Tracking, wanted: Tracking) -> None:
    """A run that trained while scoring one set of architectures cannot be resumed scoring another: its checkpoints
    hold the old set's scores, and the curve would label them with the new set."""
    if (stored.archs, stored.every) != (wanted.archs, wanted.every):
        raise ValueError(f"{run_dir} tracked {stored.subset} every {stored.every} epochs while it trained; resume "
                         f"with --track-ranking {stored.subset} --track-every {stored.every} (the same subset seed), "
                         "or choose a new run directory")


class PartitionRun(OpenedRun):
    """Drives one method's schedule in one run directory, as its only writer (see `naslid.runs.lock`).

    Everything that can be checked (configuration, data, batch sizes) is checked before anything is
    written, so a failed first call leaves no configuration that a corrected call would be refused by.
    """

    def __init__(self, run_dir: str | Path, cfg: RunConfig, progress: bool = False,
                 runner: JobRunner | None = None, data: RunData | None = None,
                 tracking: Tracking | None = None, *, lock: bool = True, verify: bool = True) -> None:
        self.directory = RunDirectory(run_dir)
        # a worker process of this run's job runner passes lock=False: its parent holds the lock and wrote the files;
        # under torchrun, rank 0 is the writer and the other ranks only train alongside it
        lock = lock and is_main_process()
        self.owns_lock = self.directory.lock() if lock else False
        self.progress = progress
        try:
            fresh = not self.directory.has_trained_state()
            super().__init__(run_dir, cfg, runner=runner, data=data, tracking=tracking, verify=verify)
            if lock:
                self._record()
            tracking_path = self.directory.file(TRACKING_FILE)
            if tracking is not None and not fresh and tracking_path.is_file():
                _refuse_other_tracking(self.run_dir, Tracking.load(tracking_path), tracking)
            if tracking is not None and lock:
                tracking.save(tracking_path)  # workers and resumed runs read it from the directory
        except BaseException:
            self.close()  # a refused or failed opening leaves the directory free for the corrected call
            raise

    def _record(self) -> None:
        """Write the run's configuration and, for a run that has not trained, its newly drawn split."""
        split = None if self._reuse_split else self.data.split  # the data is checked before anything is written
        self.directory.remove_stale_temporaries()
        self.cfg.save(self.directory.config_path)
        if split is not None:
            save_split(self.directory.split_path, split)  # the same split, recorded in every run

    def __enter__(self) -> PartitionRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the run directory for other writers (also done when the process ends)."""
        if self.owns_lock:
            self.directory.release()
            self.owns_lock = False

    def write_metrics(self) -> Path | None:
        """RUN/metrics.jsonl from the checkpoints: one line per node and epoch it trained (naslid.runs.results)."""
        if not is_main_process():
            return None
        parents = {node.id: node.parent for node in self.tree.nodes.values()}
        return write_jsonl(self.run_dir / METRICS_FILE, epoch_rows(self.directory.histories(self.tree), parents))

    def write_ranking_curve(self, curve: list[dict]) -> Path | None:
        """RUN/ranking_curve.jsonl: Kendall tau-b and Spearman per scored epoch (nothing when `curve` is empty)."""
        if not curve or not is_main_process():
            return None
        return write_jsonl(self.run_dir / RANKING_CURVE_FILE, curve)

    def save_tree(self) -> None:
        if is_main_process():
            self.tree.save(self.directory.tree_path)

    def redo_missing_checkpoints(self) -> list[int]:
        """Leaves whose recorded checkpoint was deleted start again from their parent's (or from scratch).

        Returns their ids. The parent of a split keeps its checkpoint at the split epoch, which is exactly
        what each child started from, so the redone leaf ends with the same weights as the lost one.
        """
        redone = []
        for node in sorted(self.tree.leaves(), key=lambda n: n.id):
            if node.checkpoint is None or (self.run_dir / node.checkpoint).is_file():
                continue
            logger.warning("checkpoint %s of node %d is missing; redoing: %s", node.checkpoint, node.id,
                           self._redo_step(node))
            if node.parent is None:
                node.checkpoint, node.trained_epochs, node.finetuned = None, 0, False
            else:
                parent = self.tree.nodes[node.parent]
                if parent.checkpoint is None or not (self.run_dir / parent.checkpoint).is_file():
                    raise FileNotFoundError(
                        f"checkpoints of node {node.id} ({node.checkpoint}) and of its parent {parent.id} "
                        f"({parent.checkpoint}) are missing in {self.run_dir}; start again in a new run directory")
                self._inherit(self.read_checkpoint(parent), node)
                node.trained_epochs, node.finetuned = parent.trained_epochs, False
            redone.append(node.id)
        if redone:
            self.save_tree()
        return redone

    def run(self, finetune: bool = True) -> PartitionTree:
        """Every level of splits, then (unless `finetune` is False) the fine-tuning of the leaves.

        The nodes of one level train independently, as do the leaves' fine-tuning: both go through the job
        runner (e.g. several processes on one GPU); split decisions run here, one node after another.
        A leaf whose checkpoint was deleted is trained again (`redo_missing_checkpoints`).
        """
        self.redo_missing_checkpoints()
        for level, split_epoch in enumerate(self.cfg.schedule.split_points):
            level_nodes = [n for n in self.tree.leaves() if n.depth == level]
            todo = [n for n in level_nodes if n.trained_epochs < split_epoch]
            results = self.runner.run([NodeJob(self, n.id, split_epoch) for n in todo])
            for node, checkpoint in zip(todo, results, strict=True):
                node.trained_epochs, node.checkpoint = split_epoch, checkpoint
            self.save_tree()
            self.write_metrics()
            for node in level_nodes:
                if node.is_leaf and node.subspace.splittable_edges() and self.candidate_edges(node):
                    self.split_node(node)
        if not finetune:
            return self.tree
        pending = [leaf for leaf in self.tree.leaves() if not leaf.finetuned]
        results = self.runner.run([NodeJob(self, leaf.id, None) for leaf in pending])
        for leaf, checkpoint in zip(pending, results, strict=True):
            leaf.finetuned, leaf.checkpoint = True, checkpoint
            leaf.trained_epochs = self.train_cfg.epochs
        self.save_tree()
        self.write_metrics()
        return self.tree

    def train_checkpoint(self, node_id: int, until_epoch: int) -> str:
        """Train node `node_id` up to `until_epoch`, resuming from its checkpoint file; returns that file
        (relative to the run). Changes no tree state, so it can run in a worker process."""
        node = self.tree.nodes[node_id]
        path = self.checkpoint_path(node)
        if node.checkpoint is not None and self.run_dir / node.checkpoint == path and path.is_file():
            self.read_checkpoint(node)  # a damaged file fails here, saying how to redo it
        net = build_supernet(self.cfg, self.device)
        logger.info("node %d (%d archs): training up to epoch %d", node.id, node.subspace.size(), until_epoch)
        with memory_named(self.cfg, f"training node {node.id}"):
            train_supernet(net, node.subspace, self.data.train_loader, self.train_cfg, until_epoch=until_epoch,
                           checkpoint_path=path, checkpoint_extra=self.checkpoint_identity(node),
                           progress=self.progress, on_epoch_end=self.epoch_scorer(node, until_epoch))
        return str(path.relative_to(self.run_dir))

    def candidate_edges(self, node: PartitionNode) -> list[int]:
        """The points `node` may split (`naslid.partition.candidate_points`)."""
        points = candidate_points(node.subspace, self.tree.root.subspace)
        if not any(node.subspace.allowed[p] == self.tree.root.subspace.allowed[p] for p in points):
            logger.info("node %d: every edge was split already; considering re-splitting edges", node.id)
        return points

    def decide_split(self, node: PartitionNode) -> SplitRecord:
        """`node`'s split: Few-shot NAS's fixed point, or the criterion measured on the node's own network on
        batches drawn for it (`naslid.partition.decide_split`)."""
        schedule, split_cfg = self.cfg.schedule, self.cfg.split
        if schedule.method == "few-shot":
            return few_shot_split(node.subspace, schedule.fewshot_edge)
        net = self.load_network(node)
        seed = _node_seed(split_cfg.seed, node.id)
        return decide_split(net, node.subspace, _measurement_batches(self.data, split_cfg, seed),
                            replace(split_cfg, seed=seed), self.candidate_edges(node), progress=self.progress)

    def split_node(self, node: PartitionNode) -> None:
        """Split `node`; each child starts from a copy of the parent's checkpoint with its own path sampler."""
        with memory_named(self.cfg, f"measuring node {node.id}'s split"):
            record = broadcast_object(self.decide_split(node) if is_main_process() else None)  # torchrun: rank 0's
        parent_state = self.read_checkpoint(node) if node.checkpoint else None
        children = self.tree.split(node.id, record)
        for child in children:
            if parent_state is not None:
                self._inherit(parent_state, child)
        barrier()  # under torchrun, the children's checkpoints are written before any rank trains them
        logger.info("node %d split on %s into %s", node.id, record.point_name, record.groups)
        self.save_tree()

    def _inherit(self, parent_state: dict, child: PartitionNode) -> None:
        """Write `child`'s first checkpoint: the parent's state with the child's own path sampler."""
        path = self.checkpoint_path(child)
        sampler = np.random.default_rng(_node_seed(self.cfg.train.seed, child.id)).bit_generator.state
        state = {k: v for k, v in parent_state.items() if k != "schema"}
        if is_main_process():
            save_checkpoint(path, {**state, "sampler": sampler, **self.checkpoint_identity(child)})
        child.checkpoint = str(path.relative_to(self.run_dir))

    def finetune_leaf(self, node_id: int) -> str:
        """Fine-tune one leaf to the end of the schedule; returns its checkpoint (relative to the run).
        Changes no tree state, so it can run in a worker process."""
        leaf = self.tree.nodes[node_id]
        schedule = self.cfg.schedule
        if schedule.finetune == "inherit" or leaf.parent is None:
            return self.train_checkpoint(leaf.id, self.train_cfg.epochs)
        path = self.directory.checkpoint_path(leaf.id, schedule.finetune)
        cfg = fresh_cycle_config(self.cfg)
        if path.is_file():  # resumed: train_supernet continues from the file
            net, state = build_supernet(self.cfg, self.device), None
        else:
            net, state = fresh_leaf_start(self, leaf)
        with memory_named(self.cfg, f"fine-tuning node {leaf.id}"):
            train_supernet(net, leaf.subspace, self.data.train_loader, cfg, until_epoch=schedule.finetune_epochs,
                           state=state, checkpoint_path=path, checkpoint_extra=self.checkpoint_identity(leaf),
                           progress=self.progress, on_epoch_end=self.epoch_scorer(
                               leaf, schedule.finetune_epochs, offset=schedule.split_epochs[-1]))
        return str(path.relative_to(self.run_dir))


def fresh_cycle_config(cfg: RunConfig) -> TrainConfig:
    """The training settings of a leaf that starts a fresh optimizer and learning-rate cycle ("transfer",
    "restart"): the run's, with a cosine over the fine-tuning epochs (or the run's fixed period)."""
    return replace(cfg.train, epochs=max(cfg.schedule.finetune_epochs, 1))


def fresh_leaf_start(run: OpenedRun, leaf: PartitionNode) -> tuple[torch.nn.Module, TrainState]:
    """Where a "transfer" or "restart" leaf of `run` starts: its network and a fresh training state.

    "restart": a new initialisation (seeded by the leaf) and an empty optimizer; "transfer": the weights the
    leaf inherited at the split (its first checkpoint) and an empty optimizer, with the leaf's own sampler.
    """
    mode = run.cfg.schedule.finetune
    cfg = fresh_cycle_config(run.cfg)
    if mode == "restart":
        net = build_supernet(run.cfg, run.device, seed=_node_seed(run.cfg.seed, leaf.id) % (2**31))
        return net, new_train_state(net, cfg)
    if mode != "transfer":
        raise ValueError(f"finetune={mode!r} does not start leaves afresh")
    inherited = run.read_checkpoint(leaf, run.device)
    net = build_supernet(run.cfg, run.device)
    net.load_state_dict(inherited["model"])
    state = new_train_state(net, cfg)
    state.sampler.bit_generator.state = inherited["sampler"]
    return net, state


class NodeJob:
    """Train one node to `until_epoch` (None: fine-tune a leaf), in this process with its run, or pickled
    (run directory and ids only) to a worker process that reopens the run from its directory."""

    def __init__(self, run: PartitionRun, node_id: int, until_epoch: int | None) -> None:
        self.run: PartitionRun | None = run
        self.run_dir = str(run.run_dir.resolve())  # a worker's working directory may differ (Ray)
        self.node_id = node_id
        self.until_epoch = until_epoch

    def __getstate__(self) -> dict:
        return {"run": None, "run_dir": self.run_dir, "node_id": self.node_id, "until_epoch": self.until_epoch}

    def __call__(self) -> str:
        run = self.run or PartitionRun(self.run_dir, RunConfig.load(Path(self.run_dir) / CONFIG_FILE), lock=False,
                                       verify=False)  # the parent process verified the run
        if self.until_epoch is None:
            return run.finetune_leaf(self.node_id)
        return run.train_checkpoint(self.node_id, self.until_epoch)


def run_partition(run_dir: str | Path, cfg: RunConfig, progress: bool = False,
                  runner: JobRunner | None = None) -> PartitionTree:
    """Train and partition a supernet with `cfg`'s method and schedule in `run_dir` (resumes if present)."""
    with PartitionRun(run_dir, cfg, progress=progress, runner=runner) as run:
        return run.run()

