"""Data-parallel SPOS across processes (torchrun): every rank takes the same path, a slice of the same batch.

Every rank builds the same loader and sampler, so each step all ranks draw the same global batch and the same
path; rank r trains on its contiguous slice of the batch. The loss is each rank's share of the global mean,
the gradients of the on-path weights are summed across ranks (one flat bucket: the path, so the set of
gradients, is the same on every rank), and BatchNorm uses the statistics of the whole global batch (its
forward is synchronised while training), so a step equals a single process's step on the global batch up to
float rounding. Only rank 0 writes files. Outside torchrun (no process group) every function is a no-op.
"""

from __future__ import annotations

import logging
import os
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

logger = logging.getLogger(__name__)


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) when no process group is initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """Whether this process writes files and prints (rank 0, or no process group)."""
    return world()[0] == 0


def barrier() -> None:
    """Wait for every rank (e.g. until rank 0 has written a checkpoint the others read)."""
    if world()[1] > 1:
        dist.barrier()


def broadcast_object(value: object) -> object:
    """Rank 0's `value` on every rank (e.g. a split decision taken once)."""
    if world()[1] == 1:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def init_from_environment() -> torch.device | None:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT).

    NCCL and `cuda:LOCAL_RANK` when CUDA is available, else gloo on the CPU. Returns this rank's device,
    or None when the process was not started by torchrun (or with one process).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or "RANK" not in os.environ:
        return None
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    logger.info("rank %d of %d on %s (%s)", dist.get_rank(), dist.get_world_size(), device, backend)
    return device


class DataParallel:
    """This rank's part of each SPOS step; with one process every method returns its input unchanged."""

    def __init__(self) -> None:
        self.rank, self.size = world()

    @property
    def active(self) -> bool:
        return self.size > 1

    def local_batch(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """This rank's contiguous slice of the global batch, and the global batch size."""
        total = labels.shape[0]
        if not self.active:
            return images, labels, total
        if total < self.size:
            raise ValueError(f"a batch of {total} images cannot be split over {self.size} ranks; raise the batch "
                             f"size to at least {self.size}")
        bounds = [total * r // self.size for r in range(self.size + 1)]
        part = slice(bounds[self.rank], bounds[self.rank + 1])
        return images[part], labels[part], total

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, total: int, label_smoothing: float) -> torch.Tensor:
        """Cross-entropy, this rank's share of the mean over the global batch (the ranks' shares sum to it)."""
        if not self.active:
            return F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
        return F.cross_entropy(logits, labels, label_smoothing=label_smoothing, reduction="sum") / total

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """`value` summed over the ranks (a copy; the input is unchanged)."""
        if not self.active:
            return value
        value = value.detach().clone()
        dist.all_reduce(value)
        return value

    def reduce_gradients(self, parameters: Sequence[nn.Parameter]) -> None:
        """Sum the gradients of `parameters` (those on the path) over the ranks, in one flat bucket."""
        if not self.active:
            return
        grads = [p.grad for p in parameters]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset:offset + grad.numel()].view_as(grad))
            offset += grad.numel()


class _AllReduceSum(torch.autograd.Function):
    """all_reduce(SUM) whose backward sums the incoming gradients over the ranks as well."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def _global_batchnorm(self: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm over the union of every rank's slice: training-mode statistics are summed across ranks.

    Two passes (mean, then the mean squared deviation) in float32, as exact as a single process's kernel up to
    rounding; running statistics are updated as `F.batch_norm` does (unbiased variance, momentum or average).
    """
    if not self.training and self.track_running_stats:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
    dims = [0, *range(2, x.dim())]
    shape = [1, -1] + [1] * (x.dim() - 2)
    values = x.float()
    local = torch.cat([values.sum(dims), values.new_tensor([x.numel() / x.shape[1]])])
    total = _AllReduceSum.apply(local)
    count = total[-1]
    mean = total[:-1] / count
    centred = values - mean.view(shape)
    variance = _AllReduceSum.apply(centred.square().sum(dims)) / count
    y = centred * torch.rsqrt(variance + self.eps).view(shape)
    if self.affine:
        y = y * self.weight.view(shape) + self.bias.view(shape)
    if self.training and self.track_running_stats:
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            unbiased = variance * (count / (count - 1).clamp(min=1))
            self.running_mean.mul_(1 - factor).add_(mean.to(self.running_mean.dtype), alpha=factor)
            self.running_var.mul_(1 - factor).add_(unbiased.to(self.running_var.dtype), alpha=factor)
    return y.to(x.dtype)


@contextmanager
def global_batchnorm(net: nn.Module) -> Iterator[None]:
    """While inside, every BatchNorm of `net` normalises with the whole global batch's statistics (no-op with
    one process). Only ops on the path run, the same on every rank, so the collectives pair up."""
    if world()[1] == 1:
        yield
        return
    layers = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for layer in layers:
        layer.forward = types.MethodType(_global_batchnorm, layer)
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward
