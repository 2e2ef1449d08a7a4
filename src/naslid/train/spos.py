"""Single-path one-shot (SPOS) training of a (sub-)supernet: one sampled path per step.

The learning rate is a pure function of the global epoch (`lr_at`), so a child sub-supernet that inherits
its parent's weights and optimizer at epoch 20 continues the same cosine schedule. Every epoch ends with
an atomic checkpoint holding all state needed to continue exactly (weights, optimizer, sampler RNG).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from naslid.nn.init import INIT_SCHEMES
from naslid.options import flag, integer, memory_format, number
from naslid.spaces import ChoiceArch, SubSpace
from naslid.train.checkpoint import load_checkpoint, non_finite_tensors, save_checkpoint
from naslid.train.distributed import DataParallel, barrier, global_batchnorm
from naslid.train.steps import PRECISIONS, TRAIN_STEPS, TrainStep

logger = logging.getLogger(__name__)
# one line per epoch; the CLI shows it without -v when stderr is not a terminal (in place of progress bars)
epoch_logger = logging.getLogger("naslid.train.epochs")


class TrainingDiverged(ValueError):
    """The loss or the weights became NaN or infinite; nothing of the diverged epoch was saved.

    `detail` says what diverged where; `advice` what to change (a caller that knows where the learning rate came
    from, e.g. a compared variant that sets it, says so instead)."""

    def __init__(self, detail: str, advice: str = "lower the learning rate (--lr)") -> None:
        super().__init__(f"{detail}; {advice}")
        self.detail, self.advice = detail, advice

    def __reduce__(self) -> tuple:  # from a worker process: the same two parts
        return type(self), (self.detail, self.advice)


# on CUDA, how many steps may pass between checks of the loss (each check waits for the device)
_DIVERGENCE_CHECK_STEPS = 16


class EpochLoader(Protocol):
    """What training needs from a data loader: deterministic batches for a given epoch index."""

    def __len__(self) -> int: ...

    def epoch(self, epoch_index: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...


LR_STEPPINGS = ("step", "epoch")
OFF_PATH_GRADIENTS = ("none", "zero")
PATH_SAMPLERS = ("uniform", "no-repeat")


@dataclass
class TrainConfig:
    """SPOS training settings (SGD, Nesterov, cosine to `min_learning_rate`)."""

    epochs: int = 100  # length of the cosine schedule; NAS-LID splits at 20/40/60/80 of 100
    # the NAS-LID release's (GM-NAS and Few-shot NAS run 48: naslid.runs.protocols)
    batch_size: int = field(default=64, metadata=flag(
        "--batch-size", parse=integer(1), help="training batch size"))
    # GM-NAS's NB201 value, which it runs at batch 48 (the NAS-LID release: 0.001)
    learning_rate: float = field(default=0.025, metadata=flag(
        "--lr", parse=number(0), help="initial learning rate (cosine schedule)"))
    min_learning_rate: float = field(default=0.001, metadata=flag(
        "--min-lr", parse=number(0), help="the cosine's final learning rate"))  # GM-NAS's NB201 value
    warmup_epochs: float = 0.0
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = field(default=5e-4, metadata=flag(
        "--weight-decay", parse=number(0), help="SGD weight decay"))
    grad_clip: float = field(default=5.0, metadata=flag(
        "--grad-clip", parse=number(0), help="largest gradient norm (0: no clipping)"))  # max gradient norm; 0 disables
    label_smoothing: float = 0.0
    # "auto" (bf16 on CUDA, fp32 elsewhere), "fp32" or "bf16"
    precision: str = field(default="auto", metadata=flag(
        "--precision", choices=PRECISIONS, help="auto: bf16 on CUDA, fp32 on CPU"))
    # None: on (see `channels_last_for`); False: NCHW everywhere
    channels_last: bool | None = field(default=None, metadata=flag(
        "--memory-format", parse=memory_format, metavar="{channels-last,contiguous}",
        help="layout of images and weights: channels-last (default; faster on CUDA and on the CPU) or contiguous "
        "(NCHW; the CPU's BatchNorm then sums more exactly, a difference of float rounding)"))
    seed: int = 0  # seeds the path sampler
    # "module": one module per op, only the path's run (fast eagerly, the CPU's choice); "fixed-kernels": the
    # same step with a path-independent kernel sequence, captured once as a CUDA graph on CUDA (same result)
    step: str = field(default="module", metadata=flag(
        "--train-step", choices=TRAIN_STEPS,
        help="module (default): one module per op; fixed-kernels: the same SPOS step with a path-independent "
        "kernel sequence, replayed as one CUDA graph on a GPU"))
    # Options that reproduce how reference codes train their supernets (REFERENCE-PROTOCOLS.md); the defaults
    # keep naslid's protocol.
    # "step": the rate follows the cosine at every SGD step; "epoch": constant within an epoch, the value at the
    # epoch's start (torch's CosineAnnealingLR stepped once per epoch, as the NAS-LID authors' code does)
    lr_stepping: str = field(default="step", metadata=flag(
        "--lr-stepping", choices=LR_STEPPINGS,
        help="learning rate updated every SGD step or once per epoch (the NAS-LID release)"))
    # the cosine's period T_max in epochs; None: `epochs`. The NAS-LID release uses T_max 180 while training far
    # less, so its rate never reaches the minimum. Past the period the rate stays at the minimum (torch's
    # CosineAnnealingLR would rise again).
    lr_period_epochs: float | None = field(default=None, metadata=flag(
        "--lr-period", parse=number(0, above=True),
        help="the cosine's period T_max in epochs (default: the schedule's length; the NAS-LID release: 180)"))
    # "none": off-path weights keep grad None, so weight decay and momentum skip them; "zero": they get a zero
    # gradient, so SGD's decay and momentum still move them (the reference codes' `optimizer.zero_grad()`)
    off_path_gradients: str = field(default="none", metadata=flag(
        "--off-path-gradients", choices=OFF_PATH_GRADIENTS,
        help="none: ops off the path get no update; zero: zero gradients, so weight decay and momentum still move "
        "them (the reference codes)"))
    # "uniform": each point drawn uniformly and independently; "no-repeat": each point avoids the choice it took
    # at the previous step when it allows another (the NAS-LID authors' sampler; a 2-choice point alternates)
    path_sampler: str = field(default="uniform", metadata=flag(
        "--path-sampler", choices=PATH_SAMPLERS,
        help="uniform paths, or never the previous step's choice on a point (the NAS-LID release)"))
    # weight initialisation of a freshly built supernet (applied by whoever builds it, with `initialise_weights`):
    # "default": PyTorch's; "kaiming-normal": the NAS-LID authors' hyperbox rule for NB201 (see naslid.nn.init)
    init: str = field(default="default", metadata=flag(
        "--init", choices=INIT_SCHEMES,
        help="weight initialisation: PyTorch's default or kaiming normal (the NAS-LID release)"))

    def __post_init__(self) -> None:
        # (name, allowed values): one line per string option
        options = (("step", tuple(TRAIN_STEPS)), ("lr_stepping", LR_STEPPINGS),
                   ("off_path_gradients", OFF_PATH_GRADIENTS), ("path_sampler", PATH_SAMPLERS),
                   ("init", INIT_SCHEMES))
        for name, allowed in options:
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"{name}={value!r}; expected {' or '.join(repr(option) for option in allowed)}")
        if self.step == "fixed-kernels" and self.off_path_gradients != "none":
            raise ValueError(f"off_path_gradients={self.off_path_gradients!r} does not run with "
                             "step='fixed-kernels' (its masked update leaves off-path weights unchanged); "
                             "use step='module'")
        period = self.lr_period_epochs
        if period is not None and (isinstance(period, bool) or not isinstance(period, int | float)
                                   or not 0 < period < math.inf):
            raise ValueError(f"lr_period_epochs={period!r}; expected None or a finite number > 0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r}; expected one of {list(PRECISIONS)}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}; expected an integer >= 1")
        # (name, lowest allowed, bound not reached): NaN and infinity fail every range
        ranges = (("learning_rate", 0.0, math.inf), ("min_learning_rate", 0.0, math.inf),
                  ("warmup_epochs", 0.0, math.inf), ("momentum", 0.0, 1.0), ("weight_decay", 0.0, math.inf),
                  ("grad_clip", 0.0, math.inf), ("label_smoothing", 0.0, 1.0))
        for name, low, high in ranges:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value < high:
                raise ValueError(f"{name}={value!r}; expected a finite number in [{low:g}, {high:g})")
        if self.learning_rate == 0:
            raise ValueError("learning_rate=0; expected a positive finite number")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainState:
    """Where training stands: epochs done, optimizer, the path sampler and per-epoch history."""

    optimizer: torch.optim.Optimizer
    sampler: np.random.Generator
    epoch: int = 0
    step: int = 0
    history: list[dict] = field(default_factory=list)
    previous_path: ChoiceArch | None = None  # the last step's path ("no-repeat" avoids its choices)


def lr_at(epoch: float, cfg: TrainConfig) -> float:
    """Learning rate at a (fractional) global epoch: optional linear warm-up, then cosine to the minimum.

    The cosine spans `cfg.lr_period_epochs` (default: `cfg.epochs`) and stays at the minimum after it. With
    `cfg.lr_stepping == "epoch"` the epoch is floored first: the rate is constant within each epoch.
    """
    if cfg.lr_stepping == "epoch":
        epoch = math.floor(epoch)
    if cfg.warmup_epochs > 0 and epoch < cfg.warmup_epochs:
        return cfg.learning_rate * (epoch + 1e-3) / cfg.warmup_epochs
    period = cfg.epochs if cfg.lr_period_epochs is None else cfg.lr_period_epochs
    progress = min(max((epoch - cfg.warmup_epochs) / max(period - cfg.warmup_epochs, 1e-9), 0.0), 1.0)
    span = cfg.learning_rate - cfg.min_learning_rate
    return cfg.min_learning_rate + 0.5 * span * (1 + math.cos(math.pi * progress))


def channels_last_for(cfg: TrainConfig) -> bool:
    """Whether networks and batches use the channels_last memory format: `cfg.channels_last`, on when None.

    On by default on every device: faster on CUDA, and on the CPU too with PyTorch's oneDNN kernels (1.4-2.3x
    per SPOS step for the NB201, ProxylessNAS and OFA supernets with torch 2.13 on 2 cores; NCHW's avg_pool2d
    alone took a fifth of an NB201 step). The numbers are the same up to float rounding.
    """
    return True if cfg.channels_last is None else cfg.channels_last


def create_optimizer(net: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        net.parameters(), lr=cfg.learning_rate, momentum=cfg.momentum, nesterov=cfg.nesterov,
        weight_decay=cfg.weight_decay,
    )


def new_train_state(net: nn.Module, cfg: TrainConfig) -> TrainState:
    return TrainState(optimizer=create_optimizer(net, cfg), sampler=np.random.default_rng(cfg.seed))


def checkpoint_dict(net: nn.Module, state: TrainState, cfg: TrainConfig, subspace: SubSpace,
                    extra: dict | None = None) -> dict[str, Any]:
    """Everything needed to continue training exactly, as one plain dict."""
    return {
        "model": net.state_dict(),
        "model_config": getattr(getattr(net, "config", None), "to_dict", dict)(),
        "optimizer": state.optimizer.state_dict(),
        "sampler": state.sampler.bit_generator.state,
        "epoch": state.epoch,
        "step": state.step,
        "history": state.history,
        "previous_path": None if state.previous_path is None else list(state.previous_path.ops),
        "train_config": cfg.to_dict(),
        "subspace": subspace.to_json(),
        **(extra or {}),
    }


# settings a resumed run must share with the checkpoint (the learning rate follows `lr_at`, so it may change)
_RESUME_FIELDS = ("batch_size", "momentum", "nesterov", "weight_decay", "grad_clip", "label_smoothing", "seed",
                  "off_path_gradients", "path_sampler")


def restore_train_state(net: nn.Module, checkpoint: dict[str, Any], cfg: TrainConfig,
                        subspace: SubSpace | None = None) -> TrainState:
    """Load weights, optimizer and path sampler from a checkpoint dict into `net` and a fresh TrainState.

    The path sampler is the only random state training draws from (each epoch's data order and
    augmentation come from the loader's seed and the epoch index), so nothing global is touched.
    Refuses a checkpoint of another sub-space or with other optimisation settings.
    """
    if subspace is not None and SubSpace.from_json(checkpoint["subspace"]) != subspace:
        raise ValueError(f"the checkpoint was trained on {SubSpace.from_json(checkpoint['subspace'])}, "
                         f"not on {subspace}; use a new checkpoint path")
    saved = checkpoint.get("train_config", {})
    differ = [name for name in _RESUME_FIELDS if name in saved and saved[name] != getattr(cfg, name)]
    if differ:
        details = ", ".join(f"{name}: {saved[name]!r} -> {getattr(cfg, name)!r}" for name in differ)
        raise ValueError(f"cannot resume with different training settings ({details}); use a new checkpoint path")
    net.load_state_dict(checkpoint["model"])
    state = new_train_state(net, cfg)
    state.optimizer.load_state_dict(checkpoint["optimizer"])
    state.sampler.bit_generator.state = checkpoint["sampler"]
    state.epoch, state.step = int(checkpoint["epoch"]), int(checkpoint["step"])
    state.history = list(checkpoint.get("history", []))
    previous = checkpoint.get("previous_path")
    if previous is not None:
        space = (subspace or SubSpace.from_json(checkpoint["subspace"])).space
        state.previous_path = space.make_arch(tuple(previous))
    return state


def _progress_bar(iterable: Iterable, total: int, description: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=description, leave=False, dynamic_ncols=True)


def train_supernet(
    net: nn.Module,
    subspace: SubSpace,
    loader: EpochLoader,
    cfg: TrainConfig,
    *,
    until_epoch: int | None = None,
    state: TrainState | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_extra: dict | None = None,
    progress: bool = False,
    on_epoch_end: Callable[[nn.Module, TrainState], dict | None] | None = None,
) -> TrainState:
    """Train `net` with single paths from `subspace` (`cfg.path_sampler`) up to `until_epoch` (default `cfg.epochs`).

    Continues from `state` if given, else from `checkpoint_path` if that file exists, else from scratch.
    After every epoch the state is saved to `checkpoint_path` (when given), so an interrupted run resumes
    at its last finished epoch and ends with the same weights as an uninterrupted one. `on_epoch_end(net,
    state)` runs after each epoch, before the checkpoint; what it returns is added to that epoch's history
    entry (e.g. proxy scores while training). It must leave `net` as it found it.

    Under torchrun (an initialised process group) every rank trains the same path on its slice of the
    global batch (see `naslid.train.distributed`); only rank 0 writes the checkpoint.
    """
    until_epoch = cfg.epochs if until_epoch is None else until_epoch
    parallel = DataParallel()
    device = next(net.parameters()).device
    if state is None:
        if checkpoint_path is not None and Path(checkpoint_path).is_file():
            state = restore_train_state(net, load_checkpoint(checkpoint_path, map_location=device), cfg, subspace)
            logger.info("continuing from %s at epoch %d", checkpoint_path, state.epoch)
        else:
            state = new_train_state(net, cfg)
    channels_last = channels_last_for(cfg)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    net.train()
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise ValueError("the training loader yields no batch: the dataset is smaller than one batch")
    if state.epoch < until_epoch:  # (the fixed-kernel step builds a second network)
        stepper = TRAIN_STEPS[cfg.step](net, state.optimizer, cfg, device, parallel)
    while state.epoch < until_epoch:
        try:
            with global_batchnorm(net):
                metrics = _train_one_epoch(net, subspace, loader, cfg, state, device, channels_last, progress,
                                           stepper, parallel)
            bad = non_finite_tensors(net.state_dict())
            if bad:
                raise TrainingDiverged(f"training diverged: weights {', '.join(bad[:3])} became non-finite "
                                       f"in epoch {state.epoch + 1}")
        except TrainingDiverged as error:
            kept = (f"; {checkpoint_path} still holds the last finite state (epoch {state.epoch})"
                    if checkpoint_path is not None and Path(checkpoint_path).is_file() else "; nothing was saved")
            raise TrainingDiverged(f"{error.detail}{kept}", error.advice) from None
        state.epoch += 1
        state.history.append({"epoch": state.epoch, **metrics})
        if on_epoch_end is not None:
            state.history[-1].update(on_epoch_end(net, state) or {})
        epoch_logger.info("epoch %d/%d: loss %.4f, accuracy %.2f%%, %.0f images/s", state.epoch, until_epoch,
                          metrics["loss"], 100 * metrics["accuracy"], metrics["images_per_second"])
        if checkpoint_path is not None and parallel.rank == 0:
            save_checkpoint(checkpoint_path, checkpoint_dict(net, state, cfg, subspace, checkpoint_extra))
    barrier()  # other ranks may read the checkpoint next
    return state


def _train_one_epoch(net, subspace, loader, cfg, state, device, channels_last, progress, stepper: TrainStep,
                     parallel: DataParallel) -> dict[str, float]:
    steps = len(loader)
    total_loss = torch.zeros((), device=device)
    total_correct = torch.zeros((), device=device)
    non_finite = torch.zeros((), dtype=torch.bool, device=device)
    seen = 0
    start = time.perf_counter()
    batches = _progress_bar(loader.epoch(state.epoch), steps, f"epoch {state.epoch + 1}", progress)
    stepper.start_epoch()
    for index, (images, labels) in enumerate(batches):
        images, labels, batch_total = parallel.local_batch(images, labels)  # all of it with one process
        for group in state.optimizer.param_groups:
            group["lr"] = lr_at(state.epoch + index / steps, cfg)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        if cfg.path_sampler == "no-repeat":
            arch = subspace.sample_avoiding(state.sampler, state.previous_path)
        else:
            arch = subspace.sample(state.sampler)
        state.previous_path = arch
        loss, logits = stepper.forward(images, labels, arch, batch_total)
        batch_loss = parallel.sum(loss.detach())  # the global batch's mean loss, the same on every rank
        non_finite |= ~torch.isfinite(batch_loss)
        if (device.type != "cuda" or index % _DIVERGENCE_CHECK_STEPS == 0 or index == steps - 1) and bool(non_finite):
            raise TrainingDiverged(f"training diverged: the loss is {float(batch_loss)} at epoch {state.epoch + 1}, "
                                   f"step {index + 1} of {steps} (learning rate {group['lr']:.3g})")
        stepper.update(loss)  # a step that updated in forward (fixed kernels) is checked after the epoch
        state.step += 1
        total_loss += batch_loss * batch_total
        total_correct += (logits.argmax(1) == labels).sum()
        seen += batch_total
        if progress and index % 10 == 0 and hasattr(batches, "set_postfix"):
            elapsed = time.perf_counter() - start
            batches.set_postfix(loss=f"{float(total_loss) / seen:.3f}", acc=f"{100 * float(total_correct) / seen:.1f}%",
                                img_s=f"{seen / max(elapsed, 1e-9):.0f}")
    stepper.end_epoch()
    total_correct = parallel.sum(total_correct)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - start
    return {
        "loss": float(total_loss) / max(seen, 1),
        "accuracy": float(total_correct) / max(seen, 1),
        "images_per_second": seen / max(elapsed, 1e-9),
        "seconds": elapsed,
        "learning_rate": lr_at(state.epoch + 1, cfg),
    }
