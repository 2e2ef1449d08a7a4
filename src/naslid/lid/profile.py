"""Layer-wise LID of any torch model: forward hooks reduce each layer's output to one LID as it is produced.

The profiler keeps no features: each hook turns its layer's output into a 0-dim tensor on the device at
once, so memory grows by one layer's working set, not by all layers' features, and nothing is copied to
the host until a batch has finished. The model is measured under no-grad and handed
back exactly as it was found (see `measuring`).

Samples: n is the batch size of the input fed (its first axis), unless a layout-declaring module
(``batch_first=False`` attention, transformer or RNN) takes that very input sequence-first, which makes n its
axis 1. Each layer output is cut into n samples along the one axis of length n (moved to the front when it is
not axis 0); `sample_axis` names the axis where that cannot be told.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from naslid.hooks import first_tensor, per_sample, watching_inputs, watching_outputs
from naslid.lid.estimators import Estimator, get_estimator
from naslid.lid.model_state import check_mode, measuring
from naslid.lid.result import LIDProfile, summarize

logger = logging.getLogger(__name__)

LayerSpec = str | type[nn.Module]
SampleAxis = int | Mapping[str, int] | None
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_BLOCK_LISTS = (nn.Sequential, nn.ModuleList)


def default_layers(model: nn.Module) -> list[str]:
    """The model's blocks: its direct children, with containers and layer stacks replaced by their blocks.

    A container child (Sequential, ModuleList, ModuleDict) gives its children. A layer stack (an
    encoder-like module that holds a Sequential or ModuleList of two or more blocks of one type, such as
    `nn.TransformerEncoder` or a ViT encoder) is descended into, so each of its blocks is one point, not
    the whole stack. Wrappers with a single child are looked through, so a model wrapped in one module
    profiles alike.
    """
    prefix = ""
    module = model
    while len(children := list(module.named_children())) == 1:
        name, child = children[0]
        if isinstance(child, _CONTAINERS) or not any(True for _ in child.children()):
            break  # a container is expanded below, and a leaf is the one block
        module, prefix = child, f"{prefix}{name}."
    names = _blocks(module, prefix)
    if not names:
        raise ValueError(f"{type(model).__name__} has no submodules to profile; pass layers explicitly")
    return names


def _blocks(module: nn.Module, prefix: str) -> list[str]:
    """Names of the blocks of `module` (see `default_layers`), in definition order."""
    names = []
    for name, child in module.named_children():
        path = f"{prefix}{name}"
        if _is_stack(child):
            names.extend(_blocks(child, f"{path}."))
        elif isinstance(child, _CONTAINERS) and len(child) > 0:
            for grandchild_name, grandchild in child.named_children():
                grandchild_path = f"{path}.{grandchild_name}"
                names.extend(_blocks(grandchild, f"{grandchild_path}.") if _is_stack(grandchild) else [grandchild_path])
        else:
            names.append(path)
    return names


def _is_stack(module: nn.Module) -> bool:
    """An encoder-like module: it holds a Sequential or ModuleList of >= 2 blocks of one type with submodules."""
    if isinstance(module, _CONTAINERS):
        return False
    for child in module.children():
        if isinstance(child, _BLOCK_LISTS) and len(child) >= 2:
            blocks = list(child)
            if len({type(block) for block in blocks}) == 1 and all(any(True for _ in block.children())
                                                                  for block in blocks):
                return True
    return False


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


def _declared_batch_axis(module: nn.Module) -> int | None:
    """The batch axis a module declares for its 3-D inputs and outputs: 0, 1 (batch_first=False) or None.

    Read from a boolean `batch_first` (attention, RNNs, nn.Transformer) or, for transformer encoder and
    decoder layers and their stacks, from their self-attention.
    """
    flag = getattr(module, "batch_first", None)
    if isinstance(flag, bool):
        return 0 if flag else 1
    if isinstance(module, nn.TransformerEncoderLayer | nn.TransformerDecoderLayer):
        return _declared_batch_axis(module.self_attn)
    if isinstance(module, nn.TransformerEncoder | nn.TransformerDecoder) and len(module.layers) > 0:
        return _declared_batch_axis(module.layers[0])
    return None


def _check_sample_axis(sample_axis: SampleAxis, names: Sequence[str]) -> None:
    if sample_axis is None:
        return
    if isinstance(sample_axis, Mapping):
        unknown = [name for name in sample_axis if name not in names]
        if unknown:
            raise ValueError(f"sample_axis names layers {unknown} that are not profiled; profiled: {list(names)}")
        axes = list(sample_axis.values())
    else:
        axes = [sample_axis]
    if not all(isinstance(axis, int) and not isinstance(axis, bool) for axis in axes):
        raise ValueError(f"sample_axis is an int or a mapping of layer names to ints; got {sample_axis!r}")


_RESOLVE = ("pass sample_axis=AXIS (--sample-axis AXIS in naslid profile) for every layer, or sample_axis="
            "{{{name!r}: AXIS}} for this layer alone, or use a batch size that differs from the other dimensions")


class _LayerRecorder:
    """Forward hooks that turn each chosen layer's output into its LID, in firing order, for one batch.

    n, the number of samples, is set once per batch by the first of: an explicit `sample_axis` of a
    layer; a layout-declaring module (batch_first) whose input has the shape of the batch fed, which makes n
    that input's batch axis; the first axis of the batch fed; the first axis of the first layer's output.
    """

    def __init__(self, estimator: Estimator, sample_axis: SampleAxis, layouts: dict[str, int],
                 sequence_first: bool) -> None:
        self.estimator = estimator
        self.sample_axis = sample_axis
        self.layouts = layouts  # profiled layer name -> the batch axis its module declares
        self.sequence_first = sequence_first  # the model holds batch_first=False modules
        self.axes: dict[str, int] = {}  # layer label -> the axis its samples were taken along
        self.names: list[str] = []
        self.values: list[torch.Tensor] = []
        self.n: int | None = None
        self.n_source = ""
        self.fed_shape: tuple[int, ...] | None = None
        self._calls: dict[str, int] = {}

    def start_batch(self, batch: Any) -> None:
        self.names, self.values, self.n, self.n_source = [], [], None, ""
        fed = first_tensor(batch)
        self.fed_shape = tuple(fed.shape) if fed is not None and fed.ndim > 0 else None
        self._calls = {}

    def on_input(self, layout: tuple[str, int], args: tuple, kwargs: dict) -> None:
        """A layout-declaring module (name, batch axis) is called: see `_declare` (`watching_inputs` callback)."""
        name, axis = layout
        self._declare(name, axis, first_tensor([*args, *kwargs.values()]))

    def on_output(self, name: str, output: Any) -> None:
        """A profiled layer returned: see `_record` (`watching_outputs` callback)."""
        self._record(name, output)

    def _declare(self, name: str, axis: int, tensor: torch.Tensor | None) -> None:
        """A layout module takes an input shaped as the batch fed: its batch axis gives n, or contradicts it."""
        if tensor is None or tensor.ndim != 3 or tuple(tensor.shape) != self.fed_shape:
            return
        size = tensor.shape[axis]
        if self.n is None:
            self.n = size
            self.n_source = f"axis {axis} of the input, as {name or 'the model'!r} takes it (batch_first={axis == 0})"
        elif size != self.n:
            raise ValueError(
                f"module {name or 'the model'!r} has batch_first={axis == 0}, so its input of shape "
                f"{tuple(tensor.shape)} holds {size} samples along axis {axis}, but n={self.n} was taken from "
                f"{self.n_source}; if the inputs are sequence-first, pass sample_axis={axis} (--sample-axis "
                f"{axis} in naslid profile), else feed the batch along the first axis"
            )

    def _take_n(self, size: int, label: str, source: str) -> None:
        if self.n is None:
            self.n, self.n_source = size, source
        elif size != self.n:
            raise ValueError(f"layer {label!r} has {size} samples along {source}, but n={self.n} was taken from "
                             f"{self.n_source}; every profiled layer must hold the same samples")

    def _sample_axis(self, name: str, label: str, shape: tuple[int, ...]) -> int:
        """The axis of a layer output (of `shape`) that indexes the n samples."""
        explicit = self.sample_axis.get(name) if isinstance(self.sample_axis, Mapping) else self.sample_axis
        if explicit is not None:
            if not -len(shape) <= explicit < max(len(shape), 1):
                raise ValueError(f"sample_axis {explicit} is out of range for layer {label!r}, whose output has "
                                 f"shape {shape}")
            axis = explicit % len(shape)
            self._take_n(shape[axis], label, f"sample_axis {explicit} of layer {label!r}")
            return axis
        declared = self.layouts.get(name) if len(shape) == 3 else None
        if self.n is None:
            if self.fed_shape is not None:
                self.n, self.n_source = self.fed_shape[0], "the first axis of the input batch"
            elif shape:
                axis = declared or 0
                self.n, self.n_source = shape[axis], f"axis {axis} of the output of {label!r}"
        if declared is not None:  # the module says where its batch is
            if shape[declared] != self.n:
                raise ValueError(
                    f"layer {label!r} has batch_first={declared == 0}, so its output of shape {shape} holds "
                    f"{shape[declared]} samples along axis {declared}, but n={self.n} was taken from "
                    f"{self.n_source}; pass sample_axis (--sample-axis in naslid profile) to name the axis"
                )
            return declared
        matches = [axis for axis, size in enumerate(shape) if size == self.n]
        if not matches:
            raise ValueError(
                f"layer {label!r} output of shape {shape} has no axis of length n={self.n} (taken from "
                f"{self.n_source}); profile layers whose output keeps one axis per sample, or pass sample_axis"
            )
        if len(matches) == 1 or (matches[0] == 0 and not self.sequence_first):
            return matches[0]  # a batch-first model keeps the batch first when other axes match by chance
        raise ValueError(
            f"layer {label!r} output of shape {shape} has n={self.n} along axes {matches}, and which of them holds "
            "the samples cannot be told (the model has batch_first=False modules, so its outputs may be "
            "sequence-first); " + _RESOLVE.format(name=name)
        )

    def _record(self, name: str, output: Any) -> None:
        tensor = first_tensor(output)
        if tensor is None:
            raise ValueError(
                f"layer {name!r} returned {type(output).__name__}, not a tensor or a tuple or list holding one; "
                "choose layers whose output is a tensor"
            )
        calls = self._calls.get(name, 0) + 1
        self._calls[name] = calls
        label = name if calls == 1 else f"{name}#{calls}"  # a module run twice per forward: one LID per call
        shape = tuple(tensor.shape)
        if not shape:
            raise ValueError(f"layer {label!r} returned a scalar; profile layers whose output keeps one axis per "
                             "sample")
        axis = self._sample_axis(name, label, shape)
        self.axes[label] = axis
        features = per_sample(tensor, axis)
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
    sample_axis: SampleAxis = None,
    notes: Sequence[str] = (),
) -> LIDProfile:
    """The LID of each chosen layer of `model`, averaged over `batches`, with its spread.

    Parameters
    ----------
    model : nn.Module
        Any model; it is returned unchanged (parameters, buffers, train/eval flags).
    batches : iterable of batches, or one tensor
        What `forward` takes; all batches must hold the same number n of samples (LID depends on n). Batches
        are fed as they are: integer token ids stay integer.
    layers : sequence of module names and/or module types, default None
        Names as in `model.named_modules()`; a type selects every module of that type. None: the model's
        blocks, descending into containers and layer stacks (`default_layers`). Layers are ordered as they
        run in the forward pass, which sets depth.
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
    sample_axis : int, or mapping of layer name to int, default None
        The axis of the layer outputs that indexes the samples, for every layer or for the layers named.
        None (and layers a mapping leaves out): n is the batch size of the input fed (its first axis, or
        axis 1 when a batch_first=False module takes that input as it is), and each output's samples lie
        along its one axis of length n (moved to the front); the batch axis a module declares
        (batch_first) is used for its own output. Several axes of length n in a model with
        batch_first=False modules cannot be told apart and raise ValueError.
    notes : sequence of str
        Notes to store with the profile (for example that the model is untrained); the profiler adds one
        when it took samples along another axis than the first.
    """
    check_mode(mode)
    estimator = _as_estimator(estimator)
    run = forward or _default_forward
    selected = resolve_layers(model, layers)
    _check_sample_axis(sample_axis, [name for name, _ in selected])
    if isinstance(batches, torch.Tensor):
        batches = [batches]
    declared = {name: axis for name, module in model.named_modules()
                if (axis := _declared_batch_axis(module)) is not None}
    layouts = {name: declared[name] for name, _ in selected if name in declared}
    recorder = _LayerRecorder(estimator, sample_axis, layouts, sequence_first=1 in declared.values())
    order: list[str] = []
    sizes: list[int] = []
    rows: list[list[float]] = []
    modules = dict(model.named_modules())
    # an explicit axis for every layer needs no layouts
    layout_modules = [] if isinstance(sample_axis, int) else [((name, axis), modules[name])
                                                              for name, axis in declared.items()]
    with (measuring(model, mode), watching_inputs(layout_modules, recorder.on_input),
          watching_outputs(selected, recorder.on_output)):
        for batch in tqdm(batches, desc="LID profile", disable=not progress, leave=False):
            recorder.start_batch(batch)
            run(model, batch)
            rows.append(_finish_batch(recorder, order, sizes))
            order = order or list(recorder.names)
    if not rows:
        raise ValueError("batches is empty; profile_layers needs at least one batch")
    logger.debug("profiled %d layers of %s on %d batches of %d", len(order), label or "model", len(rows), sizes[0])
    return summarize(
        order, rows, n=sizes[0], k=int(estimator.k), estimator=estimator.name,
        estimator_params=estimator.params(), mode=mode, label=label,
        notes=[*notes, *_axis_notes(recorder.axes, order, sample_axis)],
    )


def _axis_notes(axes: dict[str, int], order: list[str], sample_axis: SampleAxis) -> list[str]:
    """A note for each axis other than the first that samples were found along (not named by the user)."""
    if isinstance(sample_axis, int):
        return []
    named = set(sample_axis or {})
    moved: dict[int, list[str]] = {}
    for label in order:
        if axes.get(label, 0) != 0 and label.partition("#")[0] not in named:
            moved.setdefault(axes[label], []).append(label)
    return [f"samples taken along axis {axis} (sequence-first outputs) of the layers {labels}"
            + (", along axis 0 in the others" if len(labels) < len(order) else "")
            for axis, labels in sorted(moved.items())]


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
