"""The partition pipeline: train, split, train the children, split again, then fine-tune every leaf.

It owns the run directory: `config.json`, `split.json` (train/valid indices), `partition_tree.json` and
`nodes/node<ID>.pt`. Each step is recorded as soon as it finishes, so a killed run resumes where it stopped
and reaches the same tree and weights as an uninterrupted one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from naslid.data import save_split
from naslid.memory import out_of_memory_named, run_flags
from naslid.nn import build_supernet_for, initialise_weights
from naslid.partition import (
    JobRunner,
    PartitionNode,
    PartitionTree,
    SequentialRunner,
    SplitRecord,
    candidate_points,
    decide_split,
    few_shot_split,
)
from naslid.runs.config import TRAINING_SECTIONS, RunConfig, config_digest, resolve_device, with_resolved_paths
from naslid.runs.datasets import RunData, prepare_data
from naslid.runs.lock import lock_run_directory, release_run_directory
from naslid.runs.results import epoch_rows, write_jsonl
from naslid.runs.run_directory import (
    CONFIG_FILE,
    METRICS_FILE,
    RANKING_CURVE_FILE,
    SPLIT_FILE,
    TRACKING_FILE,
    TREE_FILE,
    RunDirectory,
)
from naslid.runs.tracking import EpochScorer, Tracking, ranking_curve, tracked_scores
from naslid.spaces import ChoiceArch, SubSpace
from naslid.train import (
    TrainState,
    channels_last_for,
    load_checkpoint,
    new_train_state,
    save_checkpoint,
    train_supernet,
)
from naslid.train.distributed import barrier, broadcast_object, is_main_process, world

logger = logging.getLogger(__name__)



def _node_seed(seed: int, node_id: int) -> int:
    return int(np.random.SeedSequence([seed, node_id]).generate_state(1)[0])


def build_supernet(cfg: RunConfig, device: torch.device, seed: int | None = None) -> torch.nn.Module:
    """A freshly initialised supernet of the run's space on `device`, in the run's memory format; the
    initialisation is seeded without touching the global RNG."""
    with torch.random.fork_rng(devices=[]), memory_named(cfg, "building the supernet"):
        torch.manual_seed(cfg.seed if seed is None else seed)
        net = build_supernet_for(cfg.search_space, cfg.network)
        initialise_weights(net, cfg.train.init)  # "default" leaves PyTorch's initialisation as built
        memory_format = torch.channels_last if channels_last_for(cfg.train) else torch.preserve_format
        return net.to(device, memory_format=memory_format)


def memory_named(cfg: RunConfig, doing: str) -> AbstractContextManager[None]:
    """Turn an out-of-memory error (CPU allocator or CUDA) into a MemoryError naming the flags that decide the
    network's size and the amount asked for, so the CLI prints one line instead of a traceback."""
    return out_of_memory_named(doing, run_flags(cfg))


def has_trained_state(run_dir: Path) -> bool:
    """Whether `run_dir` holds anything trained (a partition tree or a checkpoint), not just a configuration."""
    return RunDirectory(run_dir).has_trained_state()


def open_run(run_dir: Path, cfg: RunConfig) -> RunConfig:
    """Check `cfg` against the run stored in `run_dir`, writing nothing; returns `cfg` with resolved paths.

    A directory with trained state refuses different training settings; settings that do not change
    training or splits (proxy, search, device) may differ on resume. A directory holding only a
    configuration (a first call that failed before training) accepts a corrected one.
    """
    cfg = with_resolved_paths(cfg)
    path = run_dir / CONFIG_FILE
    if path.is_file() and has_trained_state(run_dir):
        stored, wanted = with_resolved_paths(RunConfig.load(path)).to_dict(), cfg.to_dict()
        differ = [name for name in TRAINING_SECTIONS if stored.get(name) != wanted.get(name)]
        if differ:
            _refuse_longer_schedule(run_dir, stored, wanted)
            details = "; ".join(_differences(stored.get(name), wanted.get(name), name) for name in differ)
            raise ValueError(
                f"{run_dir} holds a run trained with different {', '.join(differ)} settings ({details}); resume "
                "it with the same settings, or choose a new run directory"
            )
    return cfg


def _refuse_longer_schedule(run_dir: Path, stored: dict, wanted: dict) -> None:
    """When only the run's length differs (`train --epochs 4` on a finished 2-epoch run), say why it cannot be
    extended in place: the learning rate's cosine spans the run's whole length, so the epochs already trained
    followed another schedule than a longer run's, and continuing would match neither."""
    changed = set()
    for section in TRAINING_SECTIONS:
        old, new = stored.get(section), wanted.get(section)
        if isinstance(old, dict) and isinstance(new, dict):
            changed |= {f"{section}.{key}" for key in set(old) | set(new) if old.get(key) != new.get(key)}
        elif old != new:
            changed.add(section)
    if not changed or not changed <= {"train.epochs", "schedule.split_epochs", "schedule.finetune_epochs"}:
        return
    before, after = stored["train"]["epochs"], wanted["train"]["epochs"]
    period = stored["train"].get("lr_period_epochs")
    spans = f"a cosine over {period:g} epochs" if period else f"a cosine over the run's {before} epochs"
    raise ValueError(
        f"{run_dir} holds a run of {before} epochs; {after} epochs would not extend it: its learning rate follows "
        f"{spans}, so the epochs it trained ran on another schedule than a {after}-epoch run's and the result "
        f"would match neither; train {after} epochs in a new run directory (the same flags with the new length)"
    )


def _differences(stored: object, wanted: object, section: str) -> str:
    if isinstance(stored, dict) and isinstance(wanted, dict):
        names = [k for k in sorted(set(stored) | set(wanted)) if stored.get(k) != wanted.get(k)]
        return ", ".join(f"{section}.{k}: {stored.get(k)!r} stored, {wanted.get(k)!r} asked" for k in names)
    return f"{section}: {stored!r} stored, {wanted!r} asked"


def _refuse_other_tracking(run_dir: Path, stored: Tracking, wanted: Tracking) -> None:
    """A run that trained while scoring one set of architectures cannot be resumed scoring another: its checkpoints
    hold the old set's scores, and the curve would label them with the new set."""
    if (stored.archs, stored.every) != (wanted.archs, wanted.every):
        raise ValueError(f"{run_dir} tracked {stored.subset} every {stored.every} epochs while it trained; resume "
                         f"with --track-ranking {stored.subset} --track-every {stored.every} (the same subset seed), "
                         "or choose a new run directory")


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete the temporary files a killed writer left in `run_dir` (call only while holding its lock)."""
    return RunDirectory(run_dir).remove_stale_temporaries()


def _check_data_fits(cfg: RunConfig, data: RunData) -> None:
    """Batch sizes the data cannot serve fail now, not after the root has trained."""
    images = len(data.train)
    outputs = getattr(cfg.network, "num_classes", data.num_classes)
    if outputs != data.num_classes:
        raise ValueError(f"the network has {outputs} outputs but the data ({cfg.data.dataset}) has {data.num_classes} "
                         f"classes; expected network num_classes={data.num_classes}")
    if cfg.schedule.method == "split" and cfg.split.batch_size > images:
        raise ValueError(f"split batch_size={cfg.split.batch_size} (--lid-batch-size) exceeds the {images} training "
                         f"images; expected at most {images}")


class PartitionRun:
    """Drives one method's schedule in one run directory, as its only writer (see `naslid.runs.lock`).

    Everything that can be checked (configuration, data, batch sizes) is checked before anything is
    written, so a failed first call leaves no configuration that a corrected call would be refused by.
    """

    def __init__(self, run_dir: str | Path, cfg: RunConfig, progress: bool = False,
                 runner: JobRunner | None = None, data: RunData | None = None,
                 tracking: Tracking | None = None, *, lock: bool = True, verify: bool = True) -> None:
        self.run_dir = Path(run_dir)
        # a worker process of this run's job runner passes lock=False: its parent holds the lock and wrote the files;
        # under torchrun, rank 0 is the writer and the other ranks only train alongside it
        lock = lock and is_main_process()
        self.owns_lock = lock_run_directory(self.run_dir) if lock else False
        try:
            self._open(cfg, progress, runner, data, tracking, lock, verify)
        except BaseException:
            self.close()  # a refused or failed opening leaves the directory free for the corrected call
            raise

    def _open(self, cfg: RunConfig, progress: bool, runner: JobRunner | None, data: RunData | None,
              tracking: Tracking | None, lock: bool, verify: bool) -> None:
        self.cfg = cfg = open_run(self.run_dir, cfg)
        if verify:
            self._verify()
        self.device = resolve_device(cfg.device)
        self.progress = progress
        self.runner = runner or SequentialRunner()
        if world()[1] > 1 and not isinstance(self.runner, SequentialRunner):
            raise ValueError("under torchrun every rank trains the same node: use the sequential job runner")
        fresh = not has_trained_state(self.run_dir)
        split_path = self.run_dir / SPLIT_FILE
        self._reuse_split = split_path.is_file() and not fresh  # a fresh run draws its split again
        self._data = data
        if data is not None or (lock and not self._reuse_split):
            _check_data_fits(cfg, self.data)  # a new split is recorded below; otherwise the data loads on first use
        self.train_cfg = cfg.train  # its epochs are the schedule's total (RunConfig derives them)
        tree_path = self.run_dir / TREE_FILE
        self.tree = PartitionTree.load(tree_path) if tree_path.is_file() else None
        if lock:
            remove_stale_temporaries(self.run_dir)
            cfg.save(self.run_dir / CONFIG_FILE)
            if not self._reuse_split:
                save_split(split_path, self.data.split)  # the same split, recorded in every run
        if self.tree is None:
            self.tree = PartitionTree(SubSpace(cfg.space, cfg.search_space), protocol=self._protocol())
        tracking_path = self.run_dir / TRACKING_FILE
        if tracking is not None and not fresh and tracking_path.is_file():
            _refuse_other_tracking(self.run_dir, Tracking.load(tracking_path), tracking)
        if tracking is not None and lock:
            tracking.save(tracking_path)  # workers and resumed runs read it from the directory
        elif tracking is None and tracking_path.is_file():
            tracking = Tracking.load(tracking_path)
        self.tracking = tracking
        self._proxy_batches: tuple[list, list] | None = None
        self._input_resolution: int | None = None

    @property
    def data(self) -> RunData:
        """The run's data and loaders, prepared on first use (opening a run to read its tree, checkpoints or
        results loads no data)."""
        if self._data is None:
            with memory_named(self.cfg, "preparing the data"):  # e.g. resizing to a huge --resolution
                data = prepare_data(self.cfg.data, self.cfg.train.batch_size, self.device,
                                    self.run_dir if self._reuse_split else None,
                                    channels_last=channels_last_for(self.cfg.train))
            _check_data_fits(self.cfg, data)
            self._data = data
        return self._data

    def __enter__(self) -> PartitionRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _verify(self) -> None:
        """Refuse a run directory whose tree, checkpoints and configuration disagree (one line: the first problem,
        with its file and repair); a missing leaf checkpoint is left to `redo_missing_checkpoints`."""
        from naslid.runs.verify import verify_run

        if not (self.run_dir / TREE_FILE).is_file():
            return  # a new run, or a root still in its first training: nothing to hold together yet
        problems = verify_run(self.run_dir, missing_ok=True)
        if problems:
            more = (f" ({len(problems) - 1} more: `naslid check {self.run_dir}` lists every one)"
                    if len(problems) > 1 else "")
            raise ValueError(problems[0] + more)

    def close(self) -> None:
        """Release the run directory for other writers (also done when the process ends)."""
        if self.owns_lock:
            release_run_directory(self.run_dir)
            self.owns_lock = False

    def _protocol(self) -> dict:
        return {
            "search_space": self.cfg.search_space,
            "method": self.cfg.schedule.method,
            "criterion": self.cfg.split.criterion if self.cfg.schedule.method == "split" else None,
            "schedule": self.cfg.schedule.to_dict(),
            "split": self.cfg.split.to_dict(),
            "data": self.cfg.data.to_dict(),
            "seed": self.cfg.seed,
        }

    def proxy_batches(self) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[torch.Tensor]]:
        """The evaluation batches (the proxy's split: valid or test) and the BN calibration images (only when the
        proxy recalibrates BN) that every proxy score of this run uses."""
        if self._proxy_batches is None:
            proxy = self.cfg.proxy
            evaluation = list(self.data.evaluation_loader(proxy.split, 500, proxy.evaluation_images).eval_batches())
            count = proxy.calibration_batches if proxy.batchnorm == "recalibrate" else 0
            calibration = [images for images, _ in self.data.batches(count, self.cfg.train.batch_size,
                                                                      seed=self.cfg.seed)]
            self._proxy_batches = evaluation, calibration
        return self._proxy_batches

    def epoch_scorer(self, node: PartitionNode, last_epoch: int, offset: int = 0) -> EpochScorer | None:
        """The tracking callback for training `node` (None when the run tracks nothing or the node owns none)."""
        if self.tracking is None:
            return None
        archs = [arch for arch in self.tracking.archs if node.subspace.contains(arch)]
        if not archs:
            return None
        evaluation, calibration = self.proxy_batches()
        return EpochScorer(archs, self.tracking.every, evaluation, calibration, self.cfg.proxy, offset=offset,
                           last_epoch=last_epoch)

    def node_histories(self) -> list[list[dict]]:
        """The training history of every node that has a checkpoint (ancestors' entries included)."""
        return list(self._histories_by_node().values())

    def _histories_by_node(self) -> dict[int, list[dict]]:
        return RunDirectory(self.run_dir).histories(self.tree)

    def write_metrics(self) -> Path | None:
        """RUN/metrics.jsonl from the checkpoints: one line per node and epoch it trained (naslid.runs.results)."""
        if not is_main_process():
            return None
        parents = {node.id: node.parent for node in self.tree.nodes.values()}
        return write_jsonl(self.run_dir / METRICS_FILE, epoch_rows(self._histories_by_node(), parents))

    def write_ranking_curve(self, curve: list[dict]) -> Path | None:
        """RUN/ranking_curve.jsonl: Kendall tau-b and Spearman per scored epoch (nothing when `curve` is empty)."""
        if not curve or not is_main_process():
            return None
        return write_jsonl(self.run_dir / RANKING_CURVE_FILE, curve)

    def ranking_curve(self, truth: Mapping[ChoiceArch, float],
                      histories: list[list[dict]] | None = None) -> list[dict]:
        """Kendall tau-b and Spearman of the tracked architectures at each scored epoch (empty: nothing tracked)."""
        if self.tracking is None:
            return []
        histories = self.node_histories() if histories is None else histories
        return ranking_curve(tracked_scores(histories), self.tracking.archs, truth)

    def input_resolution(self) -> int:
        """The side of the images the supernets see (the data's, after any resizing); read once."""
        if self._input_resolution is None:
            images, _ = self.data.batches(1, 1, seed=0)[0]
            self._input_resolution = int(images.shape[-1])
        return self._input_resolution

    def arch_costs(self) -> Callable[[ChoiceArch], dict[str, float]]:
        """A function giving each architecture's MFLOPs and parameters at the run's input resolution."""
        net = build_supernet(self.cfg, torch.device("cpu"))
        resolution = self.input_resolution()
        return lambda arch: net.arch_costs(arch, resolution)

    def save_tree(self) -> None:
        if is_main_process():
            self.tree.save(self.run_dir / TREE_FILE)

    def checkpoint_identity(self, node: PartitionNode) -> dict:
        """What a checkpoint records about whose it is, checked by `naslid.runs.verify` when a run is opened."""
        return {"node": node.id, "parent": node.parent, "subspace": node.subspace.to_json(),
                "config_digest": config_digest(self.cfg)}

    def checkpoint_path(self, node: PartitionNode) -> Path:
        return RunDirectory(self.run_dir).checkpoint_path(node.id)

    def load_network(self, node: PartitionNode) -> torch.nn.Module:
        """The supernet holding `node`'s current weights."""
        net = build_supernet(self.cfg, self.device)
        if node.checkpoint is not None:
            net.load_state_dict(self.read_checkpoint(node, self.device)["model"])
        return net

    def read_checkpoint(self, node: PartitionNode, device: str | torch.device = "cpu") -> dict:
        """`node`'s checkpoint; a missing or damaged file is an error that says how the run redoes it."""
        path = self.run_dir / node.checkpoint
        try:
            return load_checkpoint(path, device)
        except FileNotFoundError:
            raise FileNotFoundError(f"checkpoint {path} of node {node.id} is missing; run `naslid finetune "
                                    f"{self.run_dir}` to redo it: {self._redo_step(node)}") from None
        except ValueError as error:
            raise ValueError(f"{error}; delete {path} and run `naslid finetune {self.run_dir}` to redo it: "
                             f"{self._redo_step(node)}") from None

    def _redo_step(self, node: PartitionNode) -> str:
        """What the run does again when `node`'s checkpoint is gone (see `redo_missing_checkpoints`)."""
        if not node.is_leaf:
            return (f"node {node.id} was split already, so its checkpoint is not needed again unless one of its "
                    f"children {node.children} lost its own")
        if node.parent is None:
            return f"train the supernet from scratch ({self.train_cfg.epochs} epochs)"
        parent = self.tree.nodes[node.parent]
        return (f"copy node {parent.id}'s checkpoint (epoch {parent.trained_epochs}) and train node {node.id} "
                f"again to epoch {self.train_cfg.epochs}")

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
        augmented = split_cfg.measurement_augment
        if split_cfg.measurement_batches == "per-point":  # fresh batches for every point, drawn when measured
            def batches(point: int) -> list:
                point_seed = int(np.random.SeedSequence([seed, point]).generate_state(1)[0]) % (2**31)
                return self.data.batches(split_cfg.measured_batches, split_cfg.batch_size, seed=point_seed,
                                         augmented=augmented)
        else:
            batches = self.data.batches(split_cfg.measured_batches, split_cfg.batch_size, seed=seed % (2**31),
                                        augmented=augmented)
        return decide_split(net, node.subspace, batches, replace(split_cfg, seed=seed), self.candidate_edges(node),
                            progress=self.progress)

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
        path = RunDirectory(self.run_dir).checkpoint_path(leaf.id, schedule.finetune)
        cfg = self.fresh_cycle_config()
        if path.is_file():  # resumed: train_supernet continues from the file
            net, state = build_supernet(self.cfg, self.device), None
        else:
            net, state = self.fresh_leaf_start(leaf)
        with memory_named(self.cfg, f"fine-tuning node {leaf.id}"):
            train_supernet(net, leaf.subspace, self.data.train_loader, cfg, until_epoch=schedule.finetune_epochs,
                           state=state, checkpoint_path=path, checkpoint_extra=self.checkpoint_identity(leaf),
                           progress=self.progress, on_epoch_end=self.epoch_scorer(
                               leaf, schedule.finetune_epochs, offset=schedule.split_epochs[-1]))
        return str(path.relative_to(self.run_dir))

    def fresh_cycle_config(self):
        """The training settings of a leaf that starts a fresh optimizer and learning-rate cycle ("transfer",
        "restart"): the run's, with a cosine over the fine-tuning epochs (or the run's fixed period)."""
        return replace(self.cfg.train, epochs=max(self.cfg.schedule.finetune_epochs, 1))

    def fresh_leaf_start(self, leaf: PartitionNode) -> tuple[torch.nn.Module, TrainState]:
        """Where a "transfer" or "restart" leaf starts: its network and a fresh training state.

        "restart": a new initialisation (seeded by the leaf) and an empty optimizer; "transfer": the weights the
        leaf inherited at the split (its first checkpoint) and an empty optimizer, with the leaf's own sampler.
        """
        mode = self.cfg.schedule.finetune
        cfg = self.fresh_cycle_config()
        if mode == "restart":
            net = build_supernet(self.cfg, self.device, seed=_node_seed(self.cfg.seed, leaf.id) % (2**31))
            return net, new_train_state(net, cfg)
        if mode != "transfer":
            raise ValueError(f"finetune={mode!r} does not start leaves afresh")
        inherited = self.read_checkpoint(leaf, self.device)
        net = build_supernet(self.cfg, self.device)
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

