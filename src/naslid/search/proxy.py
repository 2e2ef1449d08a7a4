"""Proxy evaluation: an architecture's accuracy with the weights of the (sub-)supernet that owns it.

Evaluation runs on a held-out split kept on the device as ready batches. By default BatchNorm statistics
are re-estimated for each architecture on a few training batches (a supernet's running statistics mix
every path); `ProxyConfig.batchnorm` also offers the reference codes' choices: the supernet's running
statistics as trained, or each evaluation batch's own statistics. The supernet's buffers are always
restored afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from naslid.nn.state import batchnorm_layers, preserved_state
from naslid.options import flag, integer
from naslid.spaces import ChoiceArch
from naslid.train import PRECISIONS, autocast_for

logger = logging.getLogger(__name__)

Batch = tuple[torch.Tensor, torch.Tensor]

BATCHNORM_MODES = ("recalibrate", "running", "batch")
SPLITS = ("valid", "test")


@dataclass
class ProxyConfig:
    """How the proxy score is measured.

    `batchnorm` picks the BN statistics an architecture is scored with: "recalibrate" (running statistics
    re-estimated per architecture over `calibration_batches` training batches; 0 keeps the supernet's),
    "running" (the supernet's running statistics as trained: the NAS-LID authors' `trainer.validate`) or
    "batch" (each evaluation batch normalised with its own statistics: GM-NAS, Few-shot NAS). `split` only
    records which held-out part the run scores on: "valid" or "test" (the NAS-LID authors score search
    candidates on CIFAR-10's test set); the run picks the batches.
    """

    # BN recalibration batches per architecture; 0 keeps the supernet's statistics
    calibration_batches: int = field(default=4, metadata=flag(
        "--calibration-batches", parse=integer(0),
        help="BN recalibration batches per evaluated arch (0: off)"))
    # class-balanced subset of the held-out split to score on; None: all
    evaluation_images: int | None = field(default=None, metadata=flag(
        "--proxy-images", parse=integer(1),
        help="held-out images each architecture is scored on"))
    precision: str = "auto"  # "auto": bf16 on CUDA, fp32 elsewhere; or "fp32", "bf16"
    # "recalibrate" (naslid), "running" (NAS-LID authors), "batch" (GM-NAS, Few-shot)
    batchnorm: str = field(default="recalibrate", metadata=flag(
        "--proxy-bn", choices=BATCHNORM_MODES,
        help="BN statistics of a proxy score: recalibrated per architecture (default), the supernet's running "
        "ones (the NAS-LID release) or each batch's own (GM-NAS, Few-shot NAS)"))
    # held-out part scored: "valid" (naslid) or "test" (NAS-LID authors); the run reads it
    split: str = field(default="valid", metadata=flag(
        "--proxy-split", choices=SPLITS,
        help="the part the proxy scores on: valid (held out of training) or test (the NAS-LID release)"))

    def __post_init__(self) -> None:
        for name in ("calibration_batches", "evaluation_images"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name}={value!r}; expected an integer")
        if self.evaluation_images is not None and self.evaluation_images < 1:
            raise ValueError(f"evaluation_images={self.evaluation_images}; expected a positive count or None")
        if self.calibration_batches < 0:
            raise ValueError(f"calibration_batches={self.calibration_batches}; expected >= 0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r}; expected one of {list(PRECISIONS)}")
        if self.batchnorm not in BATCHNORM_MODES:
            raise ValueError(f"batchnorm={self.batchnorm!r}; expected one of {list(BATCHNORM_MODES)}")
        if self.split not in SPLITS:
            raise ValueError(f"split={self.split!r}; expected one of {list(SPLITS)}")


@torch.no_grad()
def recalibrate_batchnorm(net: nn.Module, arch: ChoiceArch, images: Iterable[torch.Tensor],
                          precision: str = "auto") -> None:
    """Replace BN running statistics by the exact average over `images` for the path `arch`.

    Mutates `net`'s buffers: call inside `preserved_state` to keep the supernet unchanged.
    """
    device = next(net.parameters()).device
    layers = batchnorm_layers(net)
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
    net.train()
    with autocast_for(device, precision):
        for batch in images:
            net(batch, arch)
    net.eval()


@torch.no_grad()
def accuracy(net: nn.Module, arch: ChoiceArch, batches: Iterable[Batch], precision: str = "auto", *,
             batch_statistics: bool = False) -> float:
    """Top-1 accuracy (in [0, 1]) of `net` on path `arch` over `batches`, in eval mode.

    With `batch_statistics`, BN layers (and only they) run in train mode, so each batch is normalised with
    its own statistics; their buffers are left exactly as they were.
    """
    if batch_statistics:
        with preserved_state(net):
            net.eval()
            for layer in batchnorm_layers(net):
                layer.train()
            return _count_correct(net, arch, batches, precision)
    net.eval()
    return _count_correct(net, arch, batches, precision)


def _count_correct(net: nn.Module, arch: ChoiceArch, batches: Iterable[Batch], precision: str) -> float:
    device = next(net.parameters()).device
    correct = torch.zeros((), device=device, dtype=torch.long)
    total = 0
    with autocast_for(device, precision):
        for images, labels in batches:
            correct += (net(images, arch).argmax(1) == labels).sum()
            total += labels.shape[0]
    if total == 0:
        raise ValueError("no evaluation batch: the held-out split is empty")
    return correct.item() / total


class ProxyEvaluator:
    """Scores architectures with inherited weights: `owner(arch)` gives the supernet that holds each one.

    `evaluation` are (images, labels) batches of the held-out split, `calibration` training images for BN
    recalibration (used only with `batchnorm="recalibrate"`); both should already be on the supernets' device.
    """

    def __init__(
        self,
        owner: Callable[[ChoiceArch], nn.Module],
        evaluation: Sequence[Batch],
        calibration: Sequence[torch.Tensor] = (),
        config: ProxyConfig | None = None,
    ) -> None:
        self.owner = owner
        self.evaluation = list(evaluation)
        self.config = config or ProxyConfig()
        recalibrating = self.config.batchnorm == "recalibrate" and self.config.calibration_batches > 0
        self.calibration = list(calibration)[: self.config.calibration_batches] if recalibrating else []
        if recalibrating and not self.calibration:
            raise ValueError("BN recalibration is on but no calibration batch was given")
        self.evaluations = 0

    def __call__(self, arch: ChoiceArch) -> float:
        net = self.owner(arch)
        with preserved_state(net):
            if self.calibration:
                recalibrate_batchnorm(net, arch, self.calibration, self.config.precision)
            score = accuracy(net, arch, self.evaluation, self.config.precision,
                             batch_statistics=self.config.batchnorm == "batch")
        self.evaluations += 1
        return score

    def evaluate_many(self, archs: Sequence[ChoiceArch], progress: bool = False) -> list[float]:
        """Scores of `archs`, in order."""
        iterator: Iterable[ChoiceArch] = archs
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(archs, desc="evaluate", leave=False, dynamic_ncols=True)
        return [self(arch) for arch in iterator]
