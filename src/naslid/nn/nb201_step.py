"""The NB201 supernet's fixed-kernel SPOS step: one CUDA graph, captured once, replayed for every path.

`FixedKernelStep` trains an `NB201SuperNet` through its `NB201StaticSuperNet` twin. The optimizer (SGD with
momentum, Nesterov, weight decay and gradient clipping, as `torch.optim.SGD` and `clip_grad_norm_` do it) is
written with masks: rows of weights that the module-per-op supernet would leave without a gradient keep
their value and their momentum buffer, so single-path semantics hold exactly while every step runs the
same kernels. `load` and `store` move weights, BN buffers and momentum buffers between the two layouts.
It lives beside the supernet it steps; `naslid.train.steps` offers it as the training step "fixed-kernels".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

import torch
from torch.nn import functional as F

from naslid.nn.nb201 import NB201SuperNet
from naslid.nn.nb201_static import NB201StaticSuperNet, arch_row, encode_all_paths
from naslid.spaces import NB201Arch


class SGDSettings(Protocol):
    """The training settings a step reads (`naslid.train.TrainConfig` has them all)."""

    momentum: float
    nesterov: bool
    weight_decay: float
    grad_clip: float
    label_smoothing: float


logger = logging.getLogger(__name__)


def masked_sgd_(params: list[torch.Tensor], grads: list[torch.Tensor], buffers: list[torch.Tensor],
                masks: list[torch.Tensor], lr: torch.Tensor, momentum: float, nesterov: bool,
                weight_decay: float) -> None:
    """`torch.optim.SGD`'s update where `masks` is 1; elsewhere parameters and momentum buffers keep their bits.

    Each mask is 0/1 with its parameter's shape and layout. A buffer that does not exist yet is zero, which
    gives SGD's first step exactly. Capturable (lr a tensor, no host sync), and a few multi-tensor kernels
    for all parameters, not several kernels per parameter.
    """
    if weight_decay != 0:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    if momentum != 0:
        stepped = torch._foreach_mul(buffers, momentum)
        torch._foreach_add_(stepped, grads)
        keep = torch._foreach_neg(masks)
        torch._foreach_add_(keep, 1.0)
        torch._foreach_mul_(buffers, keep)  # off: buffer * 1 + stepped * 0; on: buffer * 0 + stepped * 1
        torch._foreach_addcmul_(buffers, stepped, masks)
        grads = torch._foreach_add(grads, buffers, alpha=momentum) if nesterov else buffers
    torch._foreach_addcmul_(params, grads, torch._foreach_mul(masks, lr), value=-1)


def _clip_grad_norm_(grads: list[torch.Tensor], max_norm: float) -> None:
    """`nn.utils.clip_grad_norm_` on a list of gradients, without a host sync."""
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))


class FixedKernelStep:
    """Single-path training steps of `supernet` whose kernels do not depend on the path.

    Parameters
    ----------
    supernet : NB201SuperNet
        The network to train; it holds the weights between `store` and the next `load`.
    optimizer : torch.optim.SGD
        Over `supernet.parameters()`; its momentum buffers are read by `load` and written by `store`.
    cfg : SGDSettings (a TrainConfig, say)
        momentum, nesterov, weight_decay, grad_clip and label_smoothing are used.
    autocast : callable
        Returns the mixed-precision context of the forward pass (with the autocast cache off for graphs).
    graphs : bool or None, default=None
        Capture the step as a CUDA graph (None: on CUDA). The CPU always runs it eagerly.
    """

    def __init__(self, supernet: NB201SuperNet, optimizer: torch.optim.Optimizer, cfg: SGDSettings,
                 autocast: Callable[[], AbstractContextManager], graphs: bool | None = None) -> None:
        if not isinstance(supernet, NB201SuperNet):
            raise ValueError(f"step='fixed-kernels' trains an NB201SuperNet, got {type(supernet).__name__}")
        self.supernet = supernet
        self.optimizer = optimizer
        self.cfg = cfg
        self.autocast = autocast
        self.device = next(supernet.parameters()).device
        self.graphs = self.device.type == "cuda" if graphs is None else graphs
        if self.graphs and self.device.type != "cuda":
            raise ValueError("CUDA graphs need a CUDA device")
        self.net = NB201StaticSuperNet(supernet.config).to(self.device)
        if not supernet.stem[0].weight.is_contiguous():  # channels_last: the 4-d weights follow (stacked ones
            for module in self.net.modules():           # are 5-d; the cells lay them out per step)
                if isinstance(module, torch.nn.Conv2d):
                    module.to(memory_format=torch.channels_last)
        self.net.train()
        self.params = list(self.net.parameters())
        position = {name: i for i, (name, _) in enumerate(self.net.named_parameters())}
        # supernet parameter name -> (index into self.params, row of that tensor)
        self._slots = {name: (position[own], where) for name, (own, where) in self.net.module_slots().items()
                       if own in position}
        self.buffers = [torch.zeros_like(p) for p in self.params]
        self.has_buffer = [torch.zeros_like(p) for p in self.params]  # 1 where SGD has stepped (has a buffer)
        self.lr = torch.zeros((), device=self.device)
        self.paths = encode_all_paths(self.device)  # one row per architecture: a step copies one row
        self.path = self.paths[0].clone()
        self._graph: torch.cuda.CUDAGraph | None = None
        self._static: dict[str, torch.Tensor] = {}

    def start_epoch(self) -> None:
        """`naslid.train.steps.TrainStep`: the supernet and optimizer hold the state between epochs."""
        self.load()

    def forward(self, images: torch.Tensor, labels: torch.Tensor, arch: NB201Arch,
                batch_total: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`TrainStep.forward`: the whole step (the update runs inside it) at the optimizer's rate."""
        return self.step(images, labels, arch, self.optimizer.param_groups[0]["lr"])

    def update(self, loss: torch.Tensor) -> None:
        """`TrainStep.update`: nothing left to do; `forward` updated the weights."""

    def end_epoch(self) -> None:
        """`TrainStep.end_epoch`: weights and momentum back to the supernet and its optimizer."""
        self.store()

    def step(self, images: torch.Tensor, labels: torch.Tensor, arch: NB201Arch, lr: float) -> tuple[torch.Tensor,
                                                                                                  torch.Tensor]:
        """One SGD step on `arch`; returns the (detached) loss and logits, valid until the next step."""
        self.path.copy_(self.paths[arch_row(arch)])
        self.lr.fill_(lr)
        if not self.graphs:
            return self._step(images, labels)
        if self._graph is None:
            self._capture(images, labels)
        static = self._static
        if images.shape != static["images"].shape or labels.shape != static["labels"].shape:
            return self._step(images, labels)  # a batch of another size: run it eagerly
        static["images"].copy_(images)
        static["labels"].copy_(labels)
        self._graph.replay()
        return static["loss"], static["logits"]

    def _step(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        with self.autocast():
            logits = self.net(images, self.path)
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=cfg.label_smoothing)
        grads = list(torch.autograd.grad(loss, self.params))
        if cfg.grad_clip > 0:
            _clip_grad_norm_(grads, cfg.grad_clip)
        with torch.no_grad():
            masks = [torch.empty_like(p).copy_(m) for p, m in zip(self.params, self.net.update_masks(self.path),
                                                                   strict=True)]
            masked_sgd_(self.params, grads, self.buffers, masks, self.lr, cfg.momentum, cfg.nesterov,
                        cfg.weight_decay)
            torch._foreach_maximum_(self.has_buffer, masks)
        return loss.detach(), logits.detach()

    def _capture(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """Warm up on a side stream (state restored afterwards), then record one step as a CUDA graph."""
        static = {"images": images.clone(), "labels": labels.clone()}
        saved = [t.clone() for t in self._state_tensors()]
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):
                self._step(static["images"], static["labels"])
        torch.cuda.current_stream(self.device).wait_stream(side)
        with torch.no_grad():
            for tensor, value in zip(self._state_tensors(), saved, strict=True):
                tensor.copy_(value)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static["loss"], static["logits"] = self._step(static["images"], static["labels"])
        self._graph, self._static = graph, static
        logger.info("captured the fixed-kernel SPOS step as a CUDA graph (batch %d)", images.shape[0])

    def _state_tensors(self) -> list[torch.Tensor]:
        return [*self.net.parameters(), *self.net.buffers(), *self.buffers, *self.has_buffer]

    @torch.no_grad()
    def load(self) -> None:
        """Copy weights, BN buffers and SGD momentum buffers from the supernet and its optimizer."""
        self.net.load_supernet_state_dict(self.supernet.state_dict())
        for name, param in self.supernet.named_parameters():
            i, where = self._slots[name]
            buffer = self.optimizer.state.get(param, {}).get("momentum_buffer")
            self.has_buffer[i][where] = float(buffer is not None)
            self.buffers[i][where].copy_(buffer if buffer is not None else torch.zeros_like(param))

    @torch.no_grad()
    def store(self) -> None:
        """Copy weights, BN buffers and the momentum buffers of stepped rows back to the supernet."""
        self.supernet.load_state_dict(self.net.supernet_state_dict())
        if self.cfg.momentum == 0:
            return  # torch SGD keeps no momentum buffer then
        has = [flags.cpu() for flags in self.has_buffer]
        for name, param in self.supernet.named_parameters():
            i, where = self._slots[name]
            if bool(has[i][where].any()):
                self.optimizer.state[param]["momentum_buffer"] = self.buffers[i][where].clone()

