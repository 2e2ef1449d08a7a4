"""A run directory opened with its configuration, for reading what it trained: tree, checkpoints, networks, data.

`OpenedRun` checks the configuration against the one stored, refuses a directory whose files disagree
(`naslid.runs.verify`), and gives readers (search, export, evaluate, rank) the run's networks and batches. It writes
nothing and takes no lock; `naslid.runs.partition.PartitionRun` builds on it to drive the schedule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path

import torch

from naslid.memory import out_of_memory_named, run_flags
from naslid.nn import build_supernet_for, initialise_weights
from naslid.partition import JobRunner, PartitionNode, PartitionTree, SequentialRunner
from naslid.runs.config import TRAINING_SECTIONS, RunConfig, config_digest, resolve_device, with_resolved_paths
from naslid.runs.datasets import RunData, prepare_data
from naslid.runs.run_directory import TRACKING_FILE, RunDirectory
from naslid.runs.tracking import EpochScorer, Tracking, ranking_curve, tracked_scores
from naslid.spaces import ChoiceArch, SubSpace
from naslid.train import channels_last_for, load_checkpoint
from naslid.train.distributed import world


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


def open_run(run_dir: Path, cfg: RunConfig) -> RunConfig:
    """Check `cfg` against the run stored in `run_dir`, writing nothing; returns `cfg` with resolved paths.

    A directory with trained state refuses different training settings; settings that do not change
    training or splits (proxy, search, device) may differ on resume. A directory holding only a
    configuration (a first call that failed before training) accepts a corrected one.
    """
    cfg = with_resolved_paths(cfg)
    directory = RunDirectory(run_dir)
    if directory.has_config() and directory.has_trained_state():
        stored, wanted = with_resolved_paths(RunConfig.load(directory.config_path)).to_dict(), cfg.to_dict()
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


def check_data_fits(cfg: RunConfig, data: RunData) -> None:
    """Batch sizes the data cannot serve fail now, not after the root has trained."""
    images = len(data.train)
    outputs = getattr(cfg.network, "num_classes", data.num_classes)
    if outputs != data.num_classes:
        raise ValueError(f"the network has {outputs} outputs but the data ({cfg.data.dataset}) has {data.num_classes} "
                         f"classes; expected network num_classes={data.num_classes}")
    if cfg.schedule.method == "split" and cfg.split.batch_size > images:
        raise ValueError(f"split batch_size={cfg.split.batch_size} (--lid-batch-size) exceeds the {images} training "
                         f"images; expected at most {images}")


class OpenedRun:
    """One run directory and the configuration it was (or will be) trained with, opened for reading.

    The tree is the stored one (a fresh root when the run has not trained yet); the data loads on first use, so
    opening a run to read its tree or checkpoints loads no data.
    """

    def __init__(self, run_dir: str | Path, cfg: RunConfig, *, runner: JobRunner | None = None,
                 data: RunData | None = None, tracking: Tracking | None = None, verify: bool = True) -> None:
        self.directory = RunDirectory(run_dir)
        self.run_dir = self.directory.path
        self.cfg = cfg = open_run(self.run_dir, cfg)
        if verify:
            self._verify()
        self.device = resolve_device(cfg.device)
        self.runner = runner or SequentialRunner()
        if world()[1] > 1 and not isinstance(self.runner, SequentialRunner):
            raise ValueError("under torchrun every rank trains the same node: use the sequential job runner")
        # a run that trained reads its recorded split; a fresh one draws it again
        self._reuse_split = self.directory.split_path.is_file() and self.directory.has_trained_state()
        self._data = data
        if data is not None:
            check_data_fits(cfg, data)
        self.train_cfg = cfg.train  # its epochs are the schedule's total (RunConfig derives them)
        self.tree = (self.directory.read_tree() if self.directory.has_tree()
                     else PartitionTree(SubSpace(cfg.space, cfg.search_space), protocol=self._protocol()))
        tracking_path = self.directory.file(TRACKING_FILE)
        self.tracking = tracking if tracking is not None or not tracking_path.is_file() else Tracking.load(
            tracking_path)
        self._proxy_batches: tuple[list, list] | None = None
        self._input_resolution: int | None = None

    @property
    def data(self) -> RunData:
        """The run's data and loaders, prepared on first use."""
        if self._data is None:
            with memory_named(self.cfg, "preparing the data"):  # e.g. resizing to a huge --resolution
                data = prepare_data(self.cfg.data, self.cfg.train.batch_size, self.device,
                                    self.run_dir if self._reuse_split else None,
                                    channels_last=channels_last_for(self.cfg.train))
            check_data_fits(self.cfg, data)
            self._data = data
        return self._data

    def _verify(self) -> None:
        """Refuse a run directory whose tree, checkpoints and configuration disagree (one line: the first problem,
        with its file and repair); a missing leaf checkpoint is left to `redo_missing_checkpoints`."""
        from naslid.runs.verify import verify_run

        if not self.directory.has_tree():
            return  # a new run, or a root still in its first training: nothing to hold together yet
        problems = verify_run(self.run_dir, missing_ok=True)
        if problems:
            more = (f" ({len(problems) - 1} more: `naslid check {self.run_dir}` lists every one)"
                    if len(problems) > 1 else "")
            raise ValueError(problems[0] + more)

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
        return list(self.directory.histories(self.tree).values())

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

    def checkpoint_identity(self, node: PartitionNode) -> dict:
        """What a checkpoint records about whose it is, checked by `naslid.runs.verify` when a run is opened."""
        return {"node": node.id, "parent": node.parent, "subspace": node.subspace.to_json(),
                "config_digest": config_digest(self.cfg)}

    def checkpoint_path(self, node: PartitionNode) -> Path:
        return self.directory.checkpoint_path(node.id)

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
        """What the run does again when `node`'s checkpoint is gone (`PartitionRun.redo_missing_checkpoints`)."""
        if not node.is_leaf:
            return (f"node {node.id} was split already, so its checkpoint is not needed again unless one of its "
                    f"children {node.children} lost its own")
        if node.parent is None:
            return f"train the supernet from scratch ({self.train_cfg.epochs} epochs)"
        parent = self.tree.nodes[node.parent]
        return (f"copy node {parent.id}'s checkpoint (epoch {parent.trained_epochs}) and train node {node.id} "
                f"again to epoch {self.train_cfg.epochs}")
