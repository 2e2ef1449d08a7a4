"""Training steps as objects: how one SGD step on one sampled path runs, chosen once per run.

`TRAIN_STEPS` maps `TrainConfig.step` to a builder `(net, optimizer, cfg, device, parallel) -> TrainStep`;
`register_train_step` adds one.
The SPOS loop (`naslid.train.spos`) calls, per epoch, `start_epoch`, then per batch `forward` (loss and
logits; the loop checks the loss is finite) and `update(loss)`, then `end_epoch`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

import torch
from torch import nn

from naslid.nn.nb201_step import FixedKernelStep
from naslid.registry import register
from naslid.train.distributed import DataParallel

PRECISIONS = ("auto", "fp32", "bf16")  # "auto": bf16 on CUDA, fp32 elsewhere (`autocast_for`)


class TrainStep(Protocol):
    """One SPOS step on a given path; `forward` may already update (then `update` does nothing)."""

    def start_epoch(self) -> None: ...

    def forward(self, images: torch.Tensor, labels: torch.Tensor, arch: Any,
                batch_total: int) -> tuple[torch.Tensor, torch.Tensor]: ...

    def update(self, loss: torch.Tensor) -> None: ...

    def end_epoch(self) -> None: ...


def autocast_for(device: torch.device, precision: str, cache: bool = True) -> AbstractContextManager:
    """bf16 autocast on CUDA when asked (or by default), nothing elsewhere; `cache=False` for CUDA graphs."""
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if not use_bf16:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=cache)


class ModuleStep:
    """The module-per-op step of any supernet: forward the path, backward, clip, SGD; data-parallel too.

    Off-path weights keep grad None, so weight decay and momentum skip them, unless
    `cfg.off_path_gradients == "zero"` (the reference codes' zeroed gradients: decay and momentum act).
    """

    def __init__(self, net: nn.Module, optimizer: torch.optim.Optimizer, cfg: Any, device: torch.device,
                 parallel: DataParallel) -> None:
        self.net, self.optimizer, self.cfg, self.device, self.parallel = net, optimizer, cfg, device, parallel

    def start_epoch(self) -> None:
        pass

    def forward(self, images: torch.Tensor, labels: torch.Tensor, arch: Any,
                batch_total: int) -> tuple[torch.Tensor, torch.Tensor]:
        with autocast_for(self.device, self.cfg.precision):
            logits = self.net(images, arch)
            loss = self.parallel.loss(logits.float(), labels, batch_total, self.cfg.label_smoothing)
        return loss, logits

    def update(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        on_path = [p for p in self.net.parameters() if p.grad is not None]
        self.parallel.reduce_gradients(on_path)  # summed over ranks before clipping: the global batch's gradient
        if self.cfg.off_path_gradients == "zero":
            for parameter in self.net.parameters():
                if parameter.grad is None:
                    parameter.grad = torch.zeros_like(parameter)
        if self.cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(on_path, self.cfg.grad_clip)
        self.optimizer.step()

    def end_epoch(self) -> None:
        pass


def _fixed_kernel_step(net: nn.Module, optimizer: torch.optim.Optimizer, cfg: Any, device: torch.device,
                       parallel: DataParallel) -> FixedKernelStep:
    if parallel.active:
        raise ValueError(f"step={cfg.step!r} does not run data-parallel; use step='module' (--train-step module) "
                         "with torchrun")
    return FixedKernelStep(net, optimizer, cfg, lambda: autocast_for(device, cfg.precision, cache=False))


TRAIN_STEPS: dict[str, Callable[..., TrainStep]] = {}


def register_train_step(name: str, builder: Callable[..., TrainStep], *, replace: bool = False
                        ) -> Callable[..., TrainStep]:
    """Make `builder` (`(net, optimizer, cfg, device, parallel) -> TrainStep`) the training step `TrainConfig(step=
    name)` and `--train-step NAME` choose; the builder. A name registered already with another builder is a
    ValueError unless `replace`."""
    register(TRAIN_STEPS, name, builder, replace=replace, kind="training step")
    return builder


register_train_step("module", ModuleStep)
register_train_step("fixed-kernels", _fixed_kernel_step)
