"""Retrain an exported architecture from scratch with a standard recipe, through the one training loop.

The standalone network is rebuilt from the run's space and configuration (`SuperNet.extract`), every
layer re-initialised with a seed, and trained by `train_supernet` on a one-architecture sub-space, so resume,
divergence checks and checkpoints are those of every other run. It trains on the run's training split and
reports top-1 accuracy on the held-out (valid) and test splits.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from naslid.atomic import write_json
from naslid.runs.config import RunConfig
from naslid.runs.datasets import prepare_data
from naslid.runs.export import read_export
from naslid.runs.lock import lock_run_directory, release_run_directory
from naslid.runs.opened import build_supernet, memory_named
from naslid.runs.run_directory import CONFIG_FILE, RunDirectory
from naslid.search import accuracy
from naslid.spaces import SubSpace, get_space
from naslid.train import TrainConfig, channels_last_for, train_supernet

logger = logging.getLogger(__name__)

RETRAIN_SCHEMA = "naslid.retrain/1"


@dataclass
class RetrainConfig:
    """A standard from-scratch recipe: SGD with Nesterov momentum, cosine to zero, label smoothing."""

    epochs: int = 100
    batch_size: int = 128
    learning_rate: float = 0.05
    weight_decay: float = 4e-5  # MobileNet-style; NB201's own recipe uses 5e-4 (set --weight-decay)
    label_smoothing: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}; expected an integer >= 1")
        if not (isinstance(self.learning_rate, int | float) and 0 < self.learning_rate < math.inf):
            raise ValueError(f"learning_rate={self.learning_rate!r}; expected a positive finite number")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed={self.seed!r}; expected an integer >= 0")

    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                           min_learning_rate=0.0, weight_decay=self.weight_decay,
                           label_smoothing=self.label_smoothing, seed=self.seed)


class _OneArchitecture(nn.Module):
    """A standalone network behind the supernet call signature `net(x, arch)` the training loop uses."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor, arch: object = None) -> torch.Tensor:
        return self.network(x)


def fresh_network(config: RunConfig, arch, seed: int) -> nn.Module:
    """`arch`'s standalone network with every layer re-initialised (seeded, global RNG untouched)."""
    network = build_supernet(config, torch.device("cpu")).extract(arch).cpu()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in network.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            if hasattr(module, "reset_running_stats"):
                module.reset_running_stats()
    return network


def retrain_exported(export_folder: str | os.PathLike, out_dir: str | os.PathLike, cfg: RetrainConfig,
                     device: str = "auto", progress: bool = False) -> dict[str, Any]:
    """Retrain the architecture exported in `export_folder` from scratch; writes and returns ``retrain.json``.

    Resumes from ``out_dir/retrain.pt`` when an earlier call was interrupted.
    """
    from naslid.runs.config import resolve_device

    record = read_export(export_folder)
    run_dir = Path(record["run_dir"])
    config = RunConfig.load(run_dir / CONFIG_FILE)
    space = get_space(record["space"])
    arch = space.parse(record["arch"])
    torch_device = resolve_device(device)
    out_dir = Path(out_dir)
    took_lock = lock_run_directory(out_dir)  # one writer: a second retrain into the folder is refused
    try:
        # a killed call's half-written retrain.pt goes; its last whole one resumes
        RunDirectory(out_dir).remove_stale_temporaries()
        train_cfg = cfg.train_config()
        # an out-of-memory message names retrain's --batch-size with the run's network
        sized = replace(config, train=replace(config.train, batch_size=cfg.batch_size))
        with memory_named(sized, "retraining the exported architecture"):
            data = prepare_data(config.data, cfg.batch_size, torch_device, run_dir,
                                channels_last=channels_last_for(train_cfg))
            net = _OneArchitecture(fresh_network(sized, arch, cfg.seed)).to(torch_device)
            one = SubSpace([[choice] for choice in arch.ops], space)
            state = train_supernet(net, one, data.train_loader, train_cfg, checkpoint_path=out_dir / "retrain.pt",
                                   progress=progress)
            scores = {part: 100.0 * accuracy(net, arch, data.evaluation_loader(part, 500).eval_batches(), "fp32")
                      for part in ("valid", "test")}
        result = {
            "schema": RETRAIN_SCHEMA,
            "space": space.name,
            "arch": space.format(arch),
            "export": str(Path(export_folder).resolve()),
            "recipe": {**asdict(cfg), "optimizer": "SGD, Nesterov momentum 0.9, cosine to 0, grad clip 5",
                       "data": f"{config.data.dataset}: the run's training split ({len(data.train)} images)"},
            "valid_accuracy": scores["valid"],
            "test_accuracy": scores["test"],
            "history": state.history,
        }
        write_json(out_dir / "retrain.json", result, indent=1, trailing_newline=True)
        logger.info("retrained %s: test accuracy %.2f%%", space.format(arch), scores["test"])
        return result
    finally:
        if took_lock:
            release_run_directory(out_dir)
