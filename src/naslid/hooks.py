"""Forward hooks on chosen modules, removed when done: the one place naslid registers hooks.

Every LID profile is read from layer outputs as the layers produce them: the profiler
(`naslid.lid.profile_layers`), the split criterion (`naslid.partition.lid_profile`) and, through the criterion,
the figures of a comparison. FLOP counts (`naslid.nn.count_flops`) read the outputs of convolutions. All of
them watch modules with `watching_outputs` (and `watching_inputs`); `capture_outputs` is the common case: one
forward pass, each layer's output cut into one row per sample and reduced as it is produced.

A shared module rather than a room (like `naslid.atomic`), so that both `nn` and the isolated `lid` room can
use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
from torch import nn

Key = TypeVar("Key")
Reduced = TypeVar("Reduced")


@contextmanager
def watching_outputs(layers: Iterable[tuple[Key, nn.Module]], callback: Callable[[Key, Any], None]) -> Iterator[None]:
    """Within the block, `callback(key, output)` runs each time a module of the (key, module) pairs returns.

    It runs in the order the modules run, once per call (a module run twice in a forward pass reports twice),
    with the output as the module returned it. The hooks are removed on exit, also when the block raises.
    """
    handles = []
    try:
        for key, module in layers:
            handles.append(module.register_forward_hook(_output_hook(key, callback)))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def watching_inputs(layers: Iterable[tuple[Key, nn.Module]],
                    callback: Callable[[Key, tuple, dict], None]) -> Iterator[None]:
    """Within the block, `callback(key, args, kwargs)` runs before each call of a module of the (key, module)
    pairs, with the positional and keyword arguments it is called with. Removed on exit, as `watching_outputs`."""
    handles = []
    try:
        for key, module in layers:
            handles.append(module.register_forward_pre_hook(_input_hook(key, callback), with_kwargs=True))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _output_hook(key: Any, callback: Callable[[Any, Any], None]) -> Callable[[nn.Module, Any, Any], None]:
    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        callback(key, output)

    return hook


def _input_hook(key: Any, callback: Callable[[Any, tuple, dict], None]) -> Callable[[nn.Module, tuple, dict], None]:
    def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
        callback(key, args, kwargs)

    return hook


def first_tensor(value: Any) -> torch.Tensor | None:
    """`value` if it is a tensor, else the first tensor of a tuple or list (attention's (output, weights))."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, tuple | list):
        return next((item for item in value if isinstance(item, torch.Tensor)), None)
    return None


def per_sample(tensor: torch.Tensor, axis: int = 0) -> torch.Tensor:
    """`tensor` as one row per sample, shape (n, features): its axis `axis` (n samples) first, the rest
    flattened in order; detached (for axis 0 the values and layout of ``tensor.flatten(1)``)."""
    return tensor.detach().movedim(axis, 0).reshape(tensor.shape[axis], -1)


def capture_outputs(layers: Iterable[tuple[Key, nn.Module]], run: Callable[[], Any],
                    reduce: Callable[[torch.Tensor], Reduced] | None = None) -> list[tuple[Key, Reduced]]:
    """Call `run()` (one forward pass) and return (key, value) for each layer output, in the order they came.

    The value is the output (its first tensor, see `first_tensor`) as one row per sample along axis 0
    (`per_sample`), passed through `reduce` at once when given, so that a reduction to a few numbers (an LID)
    keeps no more than one layer's features alive at a time. Raises ValueError for an output that holds no
    tensor.
    """
    captured: list[tuple[Key, Any]] = []

    def keep(key: Key, output: Any) -> None:
        tensor = first_tensor(output)
        if tensor is None:
            raise ValueError(f"layer {key!r} returned {type(output).__name__}, not a tensor or a tuple or list "
                             "holding one")
        rows = per_sample(tensor)
        captured.append((key, rows if reduce is None else reduce(rows)))

    with watching_outputs(layers, keep):
        run()
    return captured
