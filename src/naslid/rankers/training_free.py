"""Training-free rankers: statistics of a freshly initialised network on one batch (NASWOT, jacob_cov, SNIP,
grad_norm, synflow), each as its source computes it, on the architecture's path through the context's seeded
supernet (see `naslid.rankers.base`).

Every network runs in train mode, so BatchNorm normalises each batch with its own statistics (a fresh module's
mode in both sources), in fp32 (synflow in float64, as its source does). Sources read:
`BayesWatch/nas-without-training` (`score_networks.py`, `scores.py`) for NASWOT and `SamsungLabs/zero-cost-nas`
(`foresight/pruners/predictive.py`, `foresight/pruners/measures/*.py`, `nasbench2_pred.py`) for the others.
Where ours differs from the source, the ranker's docstring says so.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from naslid.hooks import watching_inputs
from naslid.rankers.base import Ranker, RankerUnavailable, ScoringContext, register_ranker
from naslid.spaces import ChoiceArch


def _check_batch_size(value: int, name: str = "batch_size", minimum: int = 2) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}={value!r}; expected an integer >= {minimum}")


def _relu_modules(net: nn.Module) -> list[tuple[str, nn.Module]]:
    # NASWOT hooks every module whose type name contains 'ReLU' (nn.ReLU, nn.ReLU6)
    return [(name, module) for name, module in net.named_modules() if "ReLU" in type(module).__name__]


# NASWOT's score of a singular kernel (see NASWOT.score)
SINGULAR_SCORE = -1.0


@dataclass(frozen=True)
class NASWOT(Ranker):
    """NASWOT (Mellor et al., ICML 2021): log|det K| of the batch's activation-pattern kernel.

    Its source (`score_networks.py`, score `hook_logdet`) takes one batch of 128 CIFAR-10 training images, hooks the
    input of every module whose type name contains 'ReLU', codes each sample's pre-activations as c = (x > 0),
    adds c c^T + (1 - c)(1 - c)^T of every hooked layer into an n x n matrix K, and scores `slogdet(K)`'s log
    absolute determinant; the network is as built (train mode), fp32 with float64 accumulation. A singular K, whose
    log-determinant the source reports as -inf, scores -1 here (finite, and below every nonsingular K). Its hook counts
    only modules that took part in a backward pass; with NB201's zero op, which multiplies by zero, that is every
    ReLU that runs, which is what we hook on the single path. The name test also matches NB201's `ReLUConvBN` (the
    source's class and ours share the name), whose input is its ReLU's: each convolution's pattern counts twice, in
    the source as here.
    """

    name: ClassVar[str] = "naswot"
    definition: ClassVar[str] = ("log |det K|, K the Hamming-similarity kernel of the batch's ReLU activation "
                                 "patterns over every ReLU of the network (NASWOT, Mellor et al. 2021)")
    batch_size: int = 128  # the source's default (--batch_size 128)

    def __post_init__(self) -> None:
        _check_batch_size(self.batch_size)

    def score(self, arch: ChoiceArch, context: ScoringContext) -> float:
        net = context.network_for(arch)
        images, _ = context.batch(self.batch_size)
        relus = _relu_modules(net)
        if not relus:
            raise RankerUnavailable(f"naswot hooks ReLU modules; the {context.space_name} network has none")
        n = images.shape[0]
        kernel = torch.zeros(n, n, dtype=torch.float64, device=images.device)

        def add(_: str, args: tuple, kwargs: dict) -> None:
            nonlocal kernel
            codes = (args[0].detach().reshape(n, -1) > 0).float()
            ones = codes.sum(1)
            # c c^T + (1 - c)(1 - c)^T = 2 c c^T - |c_a| - |c_b| + d, in one product
            agree = 2 * codes @ codes.T - ones[:, None] - ones[None, :] + codes.shape[1]
            kernel += agree.double()

        with torch.no_grad(), watching_inputs(relus, add):
            net(images, arch)
        sign, logdet = torch.linalg.slogdet(kernel)
        # K is an integer matrix: a nonsingular one has |det K| >= 1, so log|det K| >= 0. A singular one (two samples
        # with one activation pattern everywhere), where the source's slogdet gives -inf, scores SINGULAR_SCORE:
        # below every nonsingular network, and finite
        return float(logdet) if sign != 0 and torch.isfinite(logdet) else SINGULAR_SCORE


@dataclass(frozen=True)
class JacobianCovariance(Ranker):
    """jacob_cov (Mellor et al. 2020, as zero-cost-nas computes it): how uncorrelated the input Jacobians are.

    Its source (`measures/jacob_cov.py`, batch 64 from `nasbench2_pred.py`) backpropagates ones from the output,
    takes each sample's gradient with respect to its input, forms the n x n correlation matrix of those rows with
    `np.corrcoef`, and scores -sum(log(v + k) + 1 / (v + k)) over its eigenvalues v with k = 1e-5. We take the
    eigenvalues with `eigvalsh` (the matrix is symmetric; the source's `eig` can return complex rounding noise).
    Where it is undefined (a network whose output does not depend on its input: every Jacobian row is zero, which
    the source turns into NaN), the rows are identical, so we score them as perfectly correlated: the formula's
    minimum, the worst score.
    """

    name: ClassVar[str] = "jacob-cov"
    definition: ClassVar[str] = ("-sum(log(v + 1e-5) + 1 / (v + 1e-5)) over the eigenvalues v of the correlation "
                                 "matrix of the per-sample input Jacobians (jacob_cov, zero-cost-nas)")
    batch_size: int = 64  # zero-cost-nas's nasbench2_pred.py (--batch_size 64)

    def __post_init__(self) -> None:
        _check_batch_size(self.batch_size)

    def score(self, arch: ChoiceArch, context: ScoringContext) -> float:
        net = context.network_for(arch)
        images, _ = context.batch(self.batch_size)
        images = images.detach().clone().requires_grad_(True)
        output = net(images, arch)
        (jacobian,) = torch.autograd.grad(output, images, torch.ones_like(output), allow_unused=True)
        n = images.shape[0]
        rows = np.zeros((n, images[0].numel())) if jacobian is None else jacobian.reshape(n, -1).double().cpu().numpy()
        return jacobian_covariance_score(rows)


def jacobian_covariance_score(rows: np.ndarray, k: float = 1e-5) -> float:
    """jacob_cov's score of the (n, d) Jacobian rows; constant rows count as perfectly correlated (the minimum)."""
    centred = rows - rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    n = rows.shape[0]
    if np.any(norms == 0):  # a constant row has no correlation: take it as identical to the others (all ones)
        eigenvalues = np.zeros(n)
        eigenvalues[-1] = n
    else:
        unit = centred / norms[:, None]
        eigenvalues = np.linalg.eigvalsh(unit @ unit.T)
    return float(-np.sum(np.log(eigenvalues + k) + 1.0 / (eigenvalues + k)))


def _weighted_layers(net: nn.Module) -> list[nn.Module]:
    """The convolutions and linear layers with a weight gradient after a backward pass (the path's), in order."""
    return [module for module in net.modules() if isinstance(module, nn.Conv2d | nn.Linear)
            and module.weight.grad is not None]


def _loss_gradients(net: nn.Module, arch: ChoiceArch, images: torch.Tensor, labels: torch.Tensor) -> list[nn.Module]:
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(images, arch), labels).backward()
    return _weighted_layers(net)


@dataclass(frozen=True)
class SNIP(Ranker):
    """SNIP (Lee et al. 2019) as a NAS proxy (Abdelfattah et al., ICLR 2021): sum of |w * dL/dw|.

    Its source (`measures/snip.py`) attaches a mask of ones to every Conv2d and Linear weight, backpropagates the
    cross-entropy loss of one batch of 64 training images with their labels (BatchNorm kept, train mode), and sums
    the absolute mask gradients, which equal |w * dL/dw|.
    """

    name: ClassVar[str] = "snip"
    definition: ClassVar[str] = ("sum over convolution and linear weights of |w * dL/dw| for the cross-entropy of one "
                                 "labelled batch (SNIP, zero-cost-nas)")
    batch_size: int = 64

    def __post_init__(self) -> None:
        _check_batch_size(self.batch_size, minimum=1)

    def score(self, arch: ChoiceArch, context: ScoringContext) -> float:
        net = context.network_for(arch)
        layers = _loss_gradients(net, arch, *context.batch(self.batch_size))
        with torch.no_grad():
            total = sum(float((layer.weight * layer.weight.grad).abs().sum()) for layer in layers)
        net.zero_grad(set_to_none=True)
        return total


@dataclass(frozen=True)
class GradNorm(Ranker):
    """grad_norm (Abdelfattah et al., ICLR 2021): the sum over layers of the norm of the loss gradient.

    Its source (`measures/grad_norm.py`) backpropagates the cross-entropy loss of one batch of 64 labelled training
    images (BatchNorm kept, train mode) and sums, over every Conv2d and Linear layer, the Frobenius norm of its
    weight gradient.
    """

    name: ClassVar[str] = "grad-norm"
    definition: ClassVar[str] = ("sum over convolution and linear layers of ||dL/dW|| for the cross-entropy of one "
                                 "labelled batch (grad_norm, zero-cost-nas)")
    batch_size: int = 64

    def __post_init__(self) -> None:
        _check_batch_size(self.batch_size, minimum=1)

    def score(self, arch: ChoiceArch, context: ScoringContext) -> float:
        net = context.network_for(arch)
        layers = _loss_gradients(net, arch, *context.batch(self.batch_size))
        total = sum(float(layer.weight.grad.norm()) for layer in layers)
        net.zero_grad(set_to_none=True)
        return total


def _synflow_twin(supernet: nn.Module) -> nn.Module:
    """A float64 copy of `supernet` with every parameter and buffer made positive and BatchNorm skipped."""
    twin = copy.deepcopy(supernet).double()
    with torch.no_grad():
        for tensor in twin.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    for name, module in list(twin.named_modules()):
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            _replace_module(twin, name, _PassThrough())
    return twin


class _PassThrough(nn.Module):
    """Returns its input whatever else it is given (an elastic BatchNorm is called with its active channels too)."""

    def forward(self, x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        return x


def _replace_module(root: nn.Module, dotted: str, new: nn.Module) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


@dataclass(frozen=True)
class Synflow(Ranker):
    """synflow (Tanaka et al. 2020) as a NAS proxy (Abdelfattah et al., ICLR 2021): sum of |w * dR/dw|.

    Its source (`measures/synflow.py`, measure 'synflow' with bn=False) copies the network without BatchNorm, takes
    the absolute value of every parameter, converts it to float64, feeds one input of ones, backpropagates the sum
    of the outputs R, and sums |w * dR/dw| over every Conv2d and Linear weight. No data and no labels.
    """

    name: ClassVar[str] = "synflow"
    definition: ClassVar[str] = ("sum over convolution and linear weights of |w * dR/dw|, R the summed output for an "
                                 "all-ones input through the absolute-valued, BatchNorm-free network in float64 "
                                 "(synflow, zero-cost-nas)")
    needs_images: ClassVar[bool] = False

    def score(self, arch: ChoiceArch, context: ScoringContext) -> float:
        twin = context.derived("synflow", _synflow_twin)
        channels = getattr(context.network, "in_channels", 3)
        ones = torch.ones(1, channels, context.resolution, context.resolution, dtype=torch.float64,
                          device=context.device)
        twin.zero_grad(set_to_none=True)
        twin(ones, arch).sum().backward()
        with torch.no_grad():
            total = sum(float((layer.weight * layer.weight.grad).abs().sum()) for layer in _weighted_layers(twin))
        twin.zero_grad(set_to_none=True)
        return total


for _ranker in (NASWOT, JacobianCovariance, SNIP, GradNorm, Synflow):
    register_ranker(_ranker)
