"""Latency lookup tables: per-block latencies measured on one device, summed to predict a network's latency.

ProxylessNAS's and OFA's approach (a table of every block at its input shape, measured on the target device):
a MobileNet (`naslid.nn.mobilenet.MobileNetSpec`) is a stem, a sequence of blocks and a head, so its latency is
predicted as the sum of the stem's, each block's and the head's. An entry's key is a canonical string of the
block's resolved `LayerArgs` (type, kernel, stride, expansion, output channels, SE, activation, noskip) and its
input shape, e.g. ``ir_k5_s2_e6_c40_se0.25_nhs@24x16x16``; the stem's and head's keys say their shapes too.

A table (JSON schema ``naslid.latency_table/2``) belongs to one space, network configuration, input resolution
and batch size, and records the device, threads and torch version it was measured with. Each entry keeps the
median and the minimum of its timed repeats; the table says which one predictions sum (`statistic`, default the
minimum: on a shared machine other processes only ever add time, so the minimum is the least disturbed
estimate). A block timed alone runs with its input and weights hot in cache and without the calls between
blocks, so the plain sum runs short of a whole network; the table therefore also times a few seeded random
networks end to end (`calibration`) and scales every prediction by the median ratio measured / summed. Tables
of schema ``/1`` (medians, no calibration) are still read. Any supernet whose
`arch_spec(arch)` gives a `MobileNetSpec` gets one; NB201's cells are DAGs, not a sequence of blocks, so it has
none.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from naslid.atomic import write_json
from naslid.nn.mobilenet import (
    LayerArgs,
    MobileBlock,
    MobileNet,
    MobileNetSpec,
    conv_output_size,
)
from naslid.reading import read_json

LATENCY_TABLE_SCHEMA = "naslid.latency_table/2"
_READABLE_SCHEMAS = ("naslid.latency_table/1", LATENCY_TABLE_SCHEMA)
LATENCY_STATISTICS = ("min", "median")  # what a table's predictions sum, per entry
CALIBRATION_SEED = 20_231_207  # the calibration networks' draw; distinct from the seeds checks sample with
_ACTIVATION_CODE = {"relu": "re", "relu6": "r6", "hard_swish": "hs", "swish": "sw", "mish": "mi"}
_TARGET_SECONDS_PER_REPEAT = 0.002  # calls per timed repeat are chosen to fill this (timer and loop overheads)


def _shape(channels: int, height: int, width: int) -> str:
    return f"{channels}x{height}x{width}"


def block_key(layer: LayerArgs, height: int, width: int) -> str:
    """The table key of one block: its resolved arguments and its input shape (channels x H x W)."""
    parts = [layer.block_type, f"k{layer.kernel}", f"s{layer.stride}", f"e{layer.expand_ratio:g}",
             f"c{layer.out_channels}"]
    if layer.se_ratio:
        parts.append(f"se{layer.se_ratio:g}")
    parts.append("n" + _ACTIVATION_CODE[layer.activation])
    if layer.noskip:
        parts.append("noskip")
    return "_".join(parts) + "@" + _shape(layer.in_channels, height, width)


def stem_key(spec: MobileNetSpec, resolution: int) -> str:
    return (f"stem_k{spec.stem_kernel}_s{spec.stem_stride}_c{spec.stem_channels}_n"
            f"{_ACTIVATION_CODE[spec.stem_activation]}@{_shape(spec.in_channels, resolution, resolution)}")


def head_key(spec: MobileNetSpec, channels: int, height: int, width: int) -> str:
    return (f"head_x{spec.final_expand_channels or 0}_m{spec.feature_mix_channels or 0}"
            f"{'b' if spec.feature_mix_bias else ''}_n{_ACTIVATION_CODE[spec.head_activation]}"
            f"_c{spec.num_classes}@{_shape(channels, height, width)}")


def _parts(spec: MobileNetSpec, resolution: int) -> list[tuple[str, str, tuple[int, int, int], Any]]:
    """(kind, key, input shape, what builds it) for the stem, every block and the head, in order."""
    height = width = conv_output_size(resolution, spec.stem_stride)
    parts = [("stem", stem_key(spec, resolution), (spec.in_channels, resolution, resolution), None)]
    for stage in spec.layers():
        for layer in stage:
            parts.append(("block", block_key(layer, height, width), (layer.in_channels, height, width), layer))
            height, width = conv_output_size(height, layer.stride), conv_output_size(width, layer.stride)
    channels = spec.last_block_channels
    parts.append(("head", head_key(spec, channels, height, width), (channels, height, width), None))
    return parts


def latency_keys(spec: MobileNetSpec, resolution: int) -> list[str]:
    """The table keys a network's prediction sums: the stem's, each block's and the head's."""
    return [key for _, key, _, _ in _parts(spec, resolution)]


class _Head(nn.Module):
    """A MobileNet's head (final expand, pooling, feature mix, classifier) as one module to time."""

    def __init__(self, network: MobileNet) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.forward_head(x)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_latency(module: nn.Module, input_shape: tuple[int, ...], batch_size: int = 1, warmup: int = 10,
                    repeats: int = 30, device: str | torch.device = "cpu",
                    statistic: str = "median") -> tuple[float, float]:
    """Latency (ms) of one forward pass of `module` on a batch of `input_shape` (C, H, W), and its spread.

    The `statistic` ("median" or "min") of `repeats` timings, each covering enough back-to-back calls to last
    about 2 ms (fewer calls cannot be told apart from the timer's and the loop's overheads at batch size 1), so
    a repeat gives a mean per call. The spread is the interquartile range of the repeats (ms).
    """
    if statistic not in LATENCY_STATISTICS:
        raise ValueError(f"statistic={statistic!r}; expected one of {', '.join(LATENCY_STATISTICS)}")
    times = repeat_timings(module, input_shape, batch_size, warmup, repeats, device)
    quartiles = statistics.quantiles(times, n=4, method="inclusive") if len(times) > 1 else [times[0]] * 3
    value = min(times) if statistic == "min" else statistics.median(times)
    return value, quartiles[2] - quartiles[0]


def repeat_timings(module: nn.Module, input_shape: tuple[int, ...], batch_size: int = 1, warmup: int = 10,
                   repeats: int = 30, device: str | torch.device = "cpu") -> list[float]:
    """The `repeats` per-call timings (ms) `measure_latency` summarises.

    Eval mode and no gradients; on CUDA the device is synchronised around each timed repeat. The module's
    train/eval mode is restored.
    """
    for name, value in (("batch_size", batch_size), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r}; expected an integer >= 1")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup={warmup!r}; expected an integer >= 0")
    device = torch.device(device)
    was_training = module.training
    inputs = torch.randn(batch_size, *input_shape, device=device)
    try:
        module.eval()
        with torch.no_grad():
            for _ in range(warmup):
                module(inputs)
            _synchronize(device)
            start = time.perf_counter()
            module(inputs)
            _synchronize(device)
            once = max(time.perf_counter() - start, 1e-7)
            calls = max(1, min(10_000, int(_TARGET_SECONDS_PER_REPEAT / once)))
            times = []
            for _ in range(repeats):
                _synchronize(device)
                start = time.perf_counter()
                for _ in range(calls):
                    module(inputs)
                _synchronize(device)
                times.append((time.perf_counter() - start) / calls * 1e3)
    finally:
        module.train(was_training)
    return times


def _entry(times: list[float]) -> dict[str, float]:
    quartiles = statistics.quantiles(times, n=4, method="inclusive") if len(times) > 1 else [times[0]] * 3
    return {"min_ms": min(times), "median_ms": statistics.median(times), "spread_ms": quartiles[2] - quartiles[0]}


def _spec_of(supernet: nn.Module) -> Callable[[Any], MobileNetSpec]:
    spec_of = getattr(supernet, "arch_spec", None)
    if spec_of is None:
        name = getattr(getattr(supernet, "space", None), "name", type(supernet).__name__)
        raise ValueError(f"space {name!r} has no latency table: its networks are not a sequence of MobileNet blocks "
                         "(NB201's cells are DAGs); latency tables exist for proxyless and ofa")
    return spec_of


def reference_arch(supernet: nn.Module) -> Any:
    """The architecture that runs every block: at each point the choice giving the most blocks (e.g. OFA's d4,
    any MBConv rather than ProxylessNAS's `zero`); a latency table varies one point at a time around it."""
    space, spec_of = supernet.space, _spec_of(supernet)
    arch = space.make_arch(tuple(choices[0] for choices in space.choices))

    def blocks(candidate) -> int:
        return sum(len(stage) for stage in spec_of(candidate).layers())

    for point, choices in enumerate(space.choices):
        arch = max((arch.replace(point, choice) for choice in choices), key=blocks)  # first among equals
    return arch


def _json_config(config: Any) -> Any:
    """A network config as JSON data (tuples as lists), for storing and comparing."""
    data = config.to_dict() if hasattr(config, "to_dict") else config
    return json.loads(json.dumps(data))


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine() or "cpu"


def build_latency_table(supernet: nn.Module, resolution: int, device: str | torch.device = "cpu",
                        batch_size: int = 1, warmup: int = 10, repeats: int = 30, statistic: str = "min",
                        calibration_networks: int = 8, calibration_seed: int = CALIBRATION_SEED) -> dict[str, Any]:
    """Measure every block that an architecture of `supernet`'s space can contain, plus the stem and head.

    The blocks are those of the reference architecture (`reference_arch`) with one choice point at a time set
    to each of its choices, at their input shapes; this covers every (block, input shape) of spaces where a
    block's input shape does not depend on other points' choices (ProxylessNAS, OFA). Blocks are measured as
    freshly initialised standalone modules (`MobileBlock`), as latency does not depend on the weights' values.
    Predictions sum each entry's `statistic` ("min" or "median" of the repeats). Then `calibration_networks`
    random architectures (drawn with `calibration_seed`) are timed end to end as standalone `MobileNet`s and
    their median ratio measured / summed becomes the table's scale (0 networks: no calibration, scale 1).

    Returns the JSON-ready table (schema ``naslid.latency_table/2``); `save_latency_table` writes it.
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution={resolution!r}; expected an integer >= 1")
    if statistic not in LATENCY_STATISTICS:
        raise ValueError(f"statistic={statistic!r}; expected one of {', '.join(LATENCY_STATISTICS)}")
    if isinstance(calibration_networks, bool) or not isinstance(calibration_networks, int) or calibration_networks < 0:
        raise ValueError(f"calibration_networks={calibration_networks!r}; expected an integer >= 0")
    space, spec_of = supernet.space, _spec_of(supernet)
    device = torch.device(device)
    reference = reference_arch(supernet)
    specs = [spec_of(reference)] + [spec_of(reference.replace(point, choice))
                                    for point, choices in enumerate(space.choices) for choice in choices]
    base = specs[0]
    parts: dict[str, tuple[str, tuple[int, int, int], Any]] = {}
    for spec in specs:
        for kind, key, shape, layer in _parts(spec, resolution):
            parts.setdefault(key, (kind, shape, layer))
    network = MobileNet(base).to(device)
    bn = {"bn_eps": base.bn_eps, "bn_momentum": base.bn_momentum}
    entries = {}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)  # module initialisation only; it does not change latency
        for key, (kind, shape, layer) in sorted(parts.items()):
            if kind == "stem":
                module = network.stem
            elif kind == "head":
                module = _Head(network)
            else:
                module = MobileBlock(layer, **bn).to(device)
            entries[key] = {"kind": kind, **_entry(repeat_timings(module, shape, batch_size, warmup, repeats,
                                                                   device))}
    table = {
        "schema": LATENCY_TABLE_SCHEMA,
        "space": space.name,
        "resolution": resolution,
        "batch_size": batch_size,
        "device": str(device),
        "device_name": _device_name(device),
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "warmup": warmup,
        "repeats": repeats,
        "statistic": statistic,
        "spread": "interquartile range of the repeats (ms)",
        "network_config": _json_config(supernet.config),
        "entries": entries,
    }
    table["calibration"] = _calibrate(table, supernet, spec_of, device, calibration_networks, calibration_seed)
    return table


def _calibrate(table: dict[str, Any], supernet: nn.Module, spec_of: Callable[[Any], MobileNetSpec],
               device: torch.device, networks: int, seed: int) -> dict[str, Any]:
    """Time `networks` seeded random architectures end to end; the median measured / summed ratio is the scale."""
    rng = np.random.default_rng(seed)
    ratios, resolution, field = [], table["resolution"], table["statistic"] + "_ms"
    for _ in range(networks):
        spec = spec_of(supernet.space.sample(rng))
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(0)
            network = MobileNet(spec).to(device)
        timings = repeat_timings(network, (spec.in_channels, resolution, resolution), table["batch_size"],
                                 table["warmup"], table["repeats"], device)
        ratios.append(_entry(timings)[field] / predict_latency(table, spec, resolution, calibrated=False))
    return {"networks": networks, "seed": seed, "ratios": ratios,
            "scale": statistics.median(ratios) if ratios else 1.0}


def check_latency_table(table: Mapping[str, Any], space: str, network_config: Any, resolution: int) -> None:
    """Raise ValueError unless `table` was built for this space, network configuration and input resolution."""
    if table.get("space") != space:
        raise ValueError(f"the latency table was built for space {table.get('space')!r}, not {space!r}")
    if table.get("resolution") != resolution:
        raise ValueError(f"the latency table was built at resolution {table.get('resolution')}, not {resolution}; "
                         f"build one with `naslid latency-table --resolution {resolution}`")
    wanted, stored = _json_config(network_config), table.get("network_config") or {}
    if wanted != stored:
        differ = sorted(name for name in set(wanted) | set(stored) if wanted.get(name) != stored.get(name))
        details = ", ".join(f"{name}: table {stored.get(name)!r}, network {wanted.get(name)!r}" for name in differ)
        raise ValueError(f"the latency table was built for another network configuration ({details}); build one "
                         "for this network (`naslid latency-table --run RUN_DIR`)")


def predict_latency(table: Mapping[str, Any], spec: MobileNetSpec, resolution: int, calibrated: bool = True) -> float:
    """Predicted latency (ms) of `spec`'s network at `resolution`: the sum of its stem's, blocks' and head's
    entries (the table's statistic), times the table's calibration scale unless `calibrated` is False. A key the
    table lacks is a ValueError (the table was built for another network or resolution)."""
    if table.get("resolution") != resolution:
        raise ValueError(f"the latency table was built at resolution {table.get('resolution')}, not {resolution}")
    entries, field = table["entries"], table.get("statistic", "median") + "_ms"
    total = 0.0
    for key in latency_keys(spec, resolution):
        if key not in entries:
            raise ValueError(f"the latency table has no entry {key!r}: it was built for another network or "
                             f"resolution ({table.get('space')} at {table.get('resolution')}px)")
        total += entries[key][field]
    scale = (table.get("calibration") or {}).get("scale", 1.0) if calibrated else 1.0
    return total * scale


def latency_function(table: Mapping[str, Any], supernet: nn.Module, resolution: int) -> Callable[[Any], float]:
    """arch -> predicted latency (ms) with `table`, after checking it was built for `supernet`'s space and
    configuration at `resolution`."""
    spec_of = _spec_of(supernet)
    check_latency_table(table, supernet.space.name, supernet.config, resolution)
    return lambda arch: predict_latency(table, spec_of(arch), resolution)


def save_latency_table(table: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write `table` as JSON through a temporary file and a rename; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json(path, dict(table), indent=1)


def load_latency_table(path: str | os.PathLike) -> dict[str, Any]:
    """Read a table written by `save_latency_table`; refuses other files and schemas."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"latency table not found: {path} (build one with `naslid latency-table`)")
    table = read_json(path, what="latency table")
    schema = table.get("schema", "") if isinstance(table, dict) else ""
    if not str(schema).startswith("naslid.latency_table/"):
        raise ValueError(f"{path} is not a naslid latency table (schema {schema!r})")
    if schema not in _READABLE_SCHEMAS:
        raise ValueError(f"unsupported latency table schema {schema!r}; this naslid reads {LATENCY_TABLE_SCHEMA!r}")
    problem = _table_problem(table)
    if problem:
        raise ValueError(f"latency table {path}: {problem}; build it again with `naslid latency-table`")
    return table


def _table_problem(table: Mapping[str, Any]) -> str | None:
    """What makes a table's times unusable: a time that is not a finite number > 0 (the summed blocks would
    predict a negative or undefined latency), or a calibration scale that is not one."""
    entries, statistic = table.get("entries"), table.get("statistic", "median")
    if statistic not in LATENCY_STATISTICS:
        return f"its statistic is {statistic!r}; expected one of {', '.join(LATENCY_STATISTICS)}"
    if not isinstance(entries, Mapping) or not entries:
        return "it holds no entries"
    for key, entry in entries.items():  # the statistic predictions sum, and any other a table stores
        for name in (f"{statistic}_ms", *(f"{other}_ms" for other in LATENCY_STATISTICS if other != statistic)):
            value = entry.get(name) if isinstance(entry, Mapping) else None
            if (name.startswith(statistic) or value is not None) and not _positive(value):
                return f"entry {str(key)[:80]!r} has {name}={value!r}; expected a finite number of milliseconds > 0"
    calibration = table.get("calibration") or {}
    scale = calibration.get("scale", 1.0) if isinstance(calibration, Mapping) else calibration
    if not _positive(scale):
        return f"its calibration scale is {scale!r}; expected a finite number > 0"
    return None


def _positive(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            and value > 0)
