"""Layer-wise LID of any torch model: forward hooks reduce each layer's output to one LID as it is produced.

The profiler keeps no features: each hook turns its layer's output into a 0-dim tensor on the device at
once, so memory grows by one layer's working set, not by all layers' features, and nothing is copied to
the host until a batch has finished. The model is measured under no-grad and handed
back exactly as it was found (see `measuring`).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from naslid.lid.estimators import Estimator, get_estimator
from naslid.lid.model_state import check_mode, measuring
from naslid.lid.result import LIDProfile, summarize

logger = logging.getLogger(__name__)

LayerSpec = str | type[nn.Module]
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def default_layers(model: nn.Module) -> list[str]:
    """The model's top-level blocks: its direct children, with container children replaced by theirs.

    Wrappers with a single child are looked through, so a model wrapped in one module profiles alike.
    """
    prefix = ""
    module = model
    while len(children := list(module.named_children())) == 1:
        name, child = children[0]
        if isinstance(child, _CONTAINERS) or not any(True for _ in child.children()):
            break  # a container is expanded below, and a leaf is the one block
        module, prefix = child, f"{prefix}{name}."
    names = []
    for name, child in module.named_children():
        if isinstance(child, _CONTAINERS) and len(child) > 0:
            names.extend(f"{prefix}{name}.{grandchild}" for grandchild, _ in child.named_children())
        else:
            names.append(f"{prefix}{name}")
    if not names:
        raise ValueError(f"{type(model).__name__} has no submodules to profile; pass layers explicitly")
    return names


def resolve_layers(model: nn.Module, layers: Sequence[LayerSpec] | None) -> list[tuple[str, nn.Module]]:
    """(name, module) for each requested layer: module names as given, module types expanded in model order."""
    named = dict(model.named_modules())
    if layers is None:
        layers = default_layers(model)
    if isinstance(layers, str | type):
        layers = [layers]
    chosen: dict[str, nn.Module] = {}
    for spec in layers:
        if isinstance(spec, str):
            if spec not in named or spec == "":
                close = difflib.get_close_matches(spec, [name for name in named if name], n=5)
                raise ValueError(
                    f"layer {spec!r} is not a module name of {type(model).__name__}; "
                    f"close names: {close or 'none'} (list them with model.named_modules())"
                )
            chosen[spec] = named[spec]
        elif isinstance(spec, type) and issubclass(spec, nn.Module):
            matches = {name: module for name, module in named.items() if name and isinstance(module, spec)}
            if not matches:
                raise ValueError(f"layer type {spec.__name__} matches no module of {type(model).__name__}")
            chosen.update(matches)
        else:
            raise ValueError(f"a layer is a module name (str) or an nn.Module subclass; got {spec!r}")
    return list(chosen.items())


def _default_forward(model: nn.Module, batch: Any) -> Any:
    """model(batch), or model(batch[0]) for an (inputs, labels, ...) tuple or list as loaders yield."""
    if isinstance(batch, tuple | list):
        return model(batch[0])
    return model(batch)


def _as_estimator(estimator: str | Estimator) -> Estimator:
    return get_estimator(estimator) if isinstance(estimator, str) else estimator


class _LayerRecorder:
    """Forward hooks that turn each chosen layer's output into its LID, in firing order, for one batch."""

    def __init__(self, estimator: Estimator) -> None:
        self.estimator = estimator
        self.names: list[str] = []
        self.values: list[torch.Tensor] = []
        self.n: int | None = None
        self._calls: dict[str, int] = {}

    def start_batch(self) -> None:
        self.names, self.values, self.n = [], [], None
        self._calls = {}

    def hook_for(self, name: str) -> Callable[[nn.Module, Any, Any], None]:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            self._record(name, output)

        return hook

    def _record(self, name: str, output: Any) -> None:
        if not isinstance(output, torch.Tensor):
            raise ValueError(
                f"layer {name!r} returned {type(output).__name__}, not a tensor; choose layers whose output "
                "is one tensor with the batch first"
            )
        calls = self._calls.get(name, 0) + 1
        self._calls[name] = calls
        label = name if calls == 1 else f"{name}#{calls}"  # a module run twice per forward: one LID per call
        features = output.detach().reshape(output.shape[0], -1) if output.ndim > 0 else output.reshape(1, 1)
        if self.n is None:
            self.n = features.shape[0]
        elif features.shape[0] != self.n:
            raise ValueError(
                f"layer {label!r} output has {features.shape[0]} samples along its first axis, but the batch has "
                f"{self.n}; profiled layers must keep the batch first"
            )
        self.names.append(label)
        self.values.append(self.estimator.estimate(features))  # NaN when the features are not finite


def profile_layers(
    model: nn.Module,
    batches: Iterable[Any] | torch.Tensor,
    layers: Sequence[LayerSpec] | None = None,
    estimator: str | Estimator = "mle",
    forward: Callable[[nn.Module, Any], Any] | None = None,
    *,
    mode: str = "eval",
    label: str = "",
    progress: bool = False,
) -> LIDProfile:
    """The LID of each chosen layer of `model`, averaged over `batches`, with its spread.

    Parameters
    ----------
    model : nn.Module
        Any model; it is returned unchanged (parameters, buffers, train/eval flags).
    batches : iterable of batches, or one tensor
        What `forward` takes; all batches must hold the same number n of samples (LID depends on n).
    layers : sequence of module names and/or module types, default None
        Names as in `model.named_modules()`; a type selects every module of that type. None: the top-level
        blocks (`default_layers`). Layers are ordered as they run in the forward pass, which sets depth.
    estimator : str or estimator, default 'mle'
        A name from `ESTIMATORS` (default parameters) or an estimator instance such as `MLE(k=20)`.
    forward : callable(model, batch), default None
        How to run one batch; None calls `model(batch)` (`model(batch[0])` for a tuple or list). Use it
        for models whose forward needs more arguments, e.g. ``lambda net, x: net(x, arch)``.
    mode : {'eval', 'train', 'keep'}, default 'eval'
        Module mode while measuring (see `measuring`); BatchNorm statistics are restored in every mode.
    label : str
        Name of the model in plots and files.
    progress : bool
        Show a progress bar over batches.
    """
    check_mode(mode)
    estimator = _as_estimator(estimator)
    run = forward or _default_forward
    selected = resolve_layers(model, layers)
    if isinstance(batches, torch.Tensor):
        batches = [batches]
    recorder = _LayerRecorder(estimator)
    order: list[str] = []
    sizes: list[int] = []
    rows: list[list[float]] = []
    handles = []
    with measuring(model, mode):
        try:
            for name, module in selected:
                handles.append(module.register_forward_hook(recorder.hook_for(name)))
            for batch in tqdm(batches, desc="LID profile", disable=not progress, leave=False):
                recorder.start_batch()
                run(model, batch)
                rows.append(_finish_batch(recorder, order, sizes))
                order = order or list(recorder.names)
        finally:
            for handle in handles:
                handle.remove()
    if not rows:
        raise ValueError("batches is empty; profile_layers needs at least one batch")
    logger.debug("profiled %d layers of %s on %d batches of %d", len(order), label or "model", len(rows), sizes[0])
    return summarize(
        order, rows, n=sizes[0], k=int(estimator.k), estimator=estimator.name,
        estimator_params=estimator.params(), mode=mode, label=label,
    )


def _finish_batch(recorder: _LayerRecorder, order: list[str], sizes: list[int]) -> list[float]:
    """Check one finished batch against the first one and copy its LIDs to the host (one transfer)."""
    if not recorder.names:
        raise ValueError("none of the chosen layers ran during the forward pass; check the layers and forward")
    if order and recorder.names != order:
        raise ValueError(
            f"batch {len(sizes)} ran the layers {recorder.names}, but the first batch ran {order}; "
            "the layer sequence must be the same for every batch"
        )
    if sizes and recorder.n != sizes[0]:
        raise ValueError(
            f"batch {len(sizes)} holds n={recorder.n} samples but the first held n={sizes[0]}; LID depends on n, "
            "so use equal batches (e.g. drop_last=True)"
        )
    sizes.append(recorder.n)
    values = torch.stack([value.to(torch.float64) for value in recorder.values]).cpu()
    finite = torch.isfinite(values)
    if not bool(finite.all()):
        bad = [name for name, ok in zip(recorder.names, finite.tolist(), strict=True) if not ok]
        raise ValueError(
            f"layers {bad} produced non-finite features (NaN or inf, or squared norms beyond the float range) "
            f"on batch {len(sizes) - 1}"
        )
    return values.tolist()
