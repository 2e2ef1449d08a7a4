"""Export an architecture out of a run: its JSON spec, a standalone network with the inherited weights.

`export_architecture` takes the architecture's owning leaf, re-estimates the BatchNorm statistics for that
path on the run's calibration images (a supernet's running statistics mix every path), and extracts the
standalone network (`SuperNet.extract`). It writes, into one folder:

- ``arch.json`` (schema ``naslid.export/1``): the space, the architecture string and its choice per point,
  MFLOPs and parameters at the run's input size (and the latency a given latency table predicts), the spec a
  user rebuilds it from (MobileNet spaces: timm-style block strings) where the space has one, the owning leaf
  and the proxy protocol;
- ``weights.pt``: the standalone network's `state_dict`;
- ``model.pt2``: the same network as a `torch.export` program (any batch size), loadable with
  ``torch.export.load(path).module()`` alone (no naslid, no supernet code).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from naslid.atomic import write_json, write_with
from naslid.nn.latency import latency_function
from naslid.runs.lock import lock_run_directory, release_run_directory
from naslid.runs.opened import OpenedRun, memory_named
from naslid.search import recalibrate_batchnorm
from naslid.spaces import ChoiceArch, arch_to_json

EXPORT_SCHEMA = "naslid.export/1"
ARCH_FILE = "arch.json"
WEIGHTS_FILE = "weights.pt"
PROGRAM_FILE = "model.pt2"
# what a record keeps of the latency table behind a predicted latency
LATENCY_TABLE_FIELDS = ("path", "device", "device_name", "threads", "batch_size", "torch_version", "date")


@dataclass
class ExportedArchitecture:
    """What `export_architecture` wrote, and the largest difference between the exported and supernet outputs."""

    folder: Path
    record: dict[str, Any]
    max_output_difference: float


def _path_supernet(run: OpenedRun, arch: ChoiceArch) -> nn.Module:
    """A fresh copy of the leaf owning `arch`, in eval mode, its BN statistics re-estimated for that path (the
    copy is the caller's, so its buffers may change)."""
    net = run.load_network(run.tree.leaf_for(arch)).to(run.device)
    batches = run.cfg.proxy.calibration_batches
    if batches:
        recalibrate_batchnorm(net, arch, run.proxy_batches()[1][:batches], "fp32")
    return net.eval()


def standalone_network(run: OpenedRun, arch: ChoiceArch) -> nn.Module:
    """`arch`'s standalone network with its owning leaf's weights and BN statistics re-estimated for its path."""
    return _path_supernet(run, arch).extract(arch).to(run.device).eval()


def export_architecture(run: OpenedRun, arch: ChoiceArch, folder: str | os.PathLike,
                        latency_table: Mapping[str, Any] | None = None) -> ExportedArchitecture:
    """Write `arch`'s spec, weights and `torch.export` program (see the module docstring) into `folder`.

    With `latency_table` (`naslid.nn.latency`, built for the run's network and input resolution) the costs
    also hold the predicted ``latency_ms``, and the record says which table (device, threads) predicted it.

    Checks before returning that the exported network reproduces the supernet's path: the largest absolute
    difference of their logits on a held-out batch is returned (float rounding only, ~1e-6).
    """
    with memory_named(run.cfg, "exporting the architecture"):  # a failed allocation: one line naming the sizes
        return _export(run, arch, folder, latency_table)


def _export(run: OpenedRun, arch: ChoiceArch, folder: str | os.PathLike,
            latency_table: Mapping[str, Any] | None) -> ExportedArchitecture:
    folder = Path(folder)
    space = run.tree.root.subspace.space
    if not run.tree.root.subspace.contains(arch):
        raise ValueError(f"{space.format(arch)} is not in the run's space")
    leaf = run.tree.leaf_for(arch)
    if not leaf.finetuned:
        raise ValueError(f"leaf {leaf.id} owning {space.format(arch)} is not trained yet; finish the run first")
    net = _path_supernet(run, arch)
    network = net.extract(arch).to(run.device).eval()
    images = run.proxy_batches()[0][0][0][:16].float()
    with torch.no_grad():
        expected = net(images, arch)
        produced = network(images)
    difference = float((expected - produced).abs().max())
    resolution = int(images.shape[-1])
    costs = net.arch_costs(arch, resolution)
    latency_record = None
    if latency_table is not None:
        costs = {**costs, "latency_ms": latency_function(latency_table, net, resolution)(arch)}
        latency_record = {name: latency_table.get(name) for name in LATENCY_TABLE_FIELDS}
    spec = net.arch_spec(arch).to_json() if hasattr(net, "arch_spec") else None
    record = {
        "schema": EXPORT_SCHEMA,
        **arch_to_json(arch, space),
        "costs": {**costs, "input_resolution": resolution, "in_channels": int(images.shape[1])},
        "spec": spec,
        "latency_table": latency_record,
        "network_config": run.cfg.network.to_dict(),
        "num_classes": int(produced.shape[1]),
        "leaf": leaf.id,
        "run_dir": str(run.run_dir.resolve()),
        "bn_statistics": (f"re-estimated on {run.cfg.proxy.calibration_batches} training batches for this path"
                          if run.cfg.proxy.calibration_batches else "the supernet's running statistics"),
        "files": {"weights": WEIGHTS_FILE, "program": PROGRAM_FILE},
        "max_output_difference": difference,
    }
    took_lock = lock_run_directory(folder)  # one writer per folder, so the temporaries found here are a dead one's
    try:
        for stale in folder.glob("*.tmp*"):  # left by a killed export (NAME.<random>.tmp; before: .tmp<suffix>)
            stale.unlink(missing_ok=True)
        network_cpu = network.cpu()
        write_with(folder / WEIGHTS_FILE, lambda handle: torch.save(network_cpu.state_dict(), handle))
        batch = torch.export.Dim("batch", min=1)
        program = torch.export.export(network_cpu, (images.cpu(),), dynamic_shapes=({0: batch},))
        write_with(folder / PROGRAM_FILE, lambda handle: torch.export.save(program, handle))
        write_json(folder / ARCH_FILE, record, indent=1, trailing_newline=True)
    finally:
        if took_lock:
            release_run_directory(folder)
    return ExportedArchitecture(folder, record, difference)


def load_exported(folder: str | os.PathLike) -> nn.Module:
    """The exported network of `folder`, as a user without naslid loads it: ``torch.export.load(path).module()``."""
    path = Path(folder) / PROGRAM_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; is {folder} a folder written by `naslid export`?")
    return torch.export.load(str(path)).module()


def read_export(folder: str | os.PathLike) -> dict[str, Any]:
    """The ``arch.json`` record of an exported architecture."""
    path = Path(folder) / ARCH_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; is {folder} a folder written by `naslid export`?")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(record, dict) or record.get("schema") != EXPORT_SCHEMA:
        raise ValueError(f"{path} is not a naslid export (schema {EXPORT_SCHEMA!r})")
    return record
