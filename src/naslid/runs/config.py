"""The configuration of a run: one dataclass per stage, gathered in `RunConfig` and saved as JSON."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

from naslid._file_mode import umask_file_mode
from naslid.nn import network_config_class
from naslid.partition import ScheduleConfig, SplitConfig
from naslid.runs.datasets import DataConfig
from naslid.search import ProxyConfig, SearchConfig
from naslid.train import TrainConfig

RUN_CONFIG_SCHEMA = "naslid.run_config/1"
# the parts of a run's configuration that decide its training and splits; the rest may change on resume
TRAINING_SECTIONS = ("search_space", "data", "network", "train", "schedule", "split", "space", "seed")


@dataclass
class RunConfig:
    """Everything that decides what a run computes."""

    data: DataConfig = field(default_factory=lambda: DataConfig(dataset="digits"))
    # the network configuration of `search_space`'s supernet (e.g. NB201Config); None: its defaults
    network: Any = None
    train: TrainConfig = field(default_factory=TrainConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    space: list[list[str]] | None = None  # allowed choice names per point of the root; None: the whole space
    device: str = "auto"  # "auto": CUDA when available, else CPU
    seed: int = 0  # seeds the supernet initialisation
    search_space: str = "nb201"  # a name of naslid.spaces.SPACES with a supernet (nb201, proxyless, ofa)

    def __post_init__(self) -> None:
        config_class = network_config_class(self.search_space)  # an unknown space fails here, naming the known
        if self.network is None:
            self.network = config_class()
        elif not isinstance(self.network, config_class):
            raise ValueError(f"search space {self.search_space!r} takes a {config_class.__name__} network "
                             f"configuration, got a {type(self.network).__name__}")
        from naslid.spaces import SubSpace, get_space

        if self.space is not None:
            SubSpace(self.space, self.search_space)  # checks the names now, not after data loading
        points = get_space(self.search_space).points
        if self.schedule.fewshot_edge >= len(points):
            raise ValueError(f"fewshot_edge={self.schedule.fewshot_edge}; the {self.search_space} space has choice "
                             f"points 0..{len(points) - 1} ({points[0]} ... {points[-1]})")
        if self.data.valid_fraction == 0 and self.proxy.split == "valid":
            raise ValueError("data.valid_fraction=0 trains on every training image and leaves no valid part to score "
                             "the proxy on; set proxy.split='test' (--proxy-split test) or a valid fraction")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed={self.seed!r}; expected an integer >= 0")
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(f"device={self.device!r}; expected 'auto', 'cpu', 'cuda' or 'cuda:N'")
        # the cosine schedule spans the whole method schedule: train.epochs is derived, never set apart
        if self.train.epochs != self.schedule.total_epochs:
            self.train = replace(self.train, epochs=self.schedule.total_epochs)

    def to_dict(self) -> dict:
        out: dict = {"schema": RUN_CONFIG_SCHEMA}
        for item in fields(self):
            value = getattr(self, item.name)
            out[item.name] = value.to_dict() if hasattr(value, "to_dict") else _plain(value)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        if not isinstance(data, dict):
            raise ValueError(f"a run config is a JSON object with schema {RUN_CONFIG_SCHEMA!r}, "
                             f"not a {type(data).__name__}")
        schema = data.get("schema")
        if schema != RUN_CONFIG_SCHEMA:
            raise ValueError(f"run config schema {schema!r} is not {RUN_CONFIG_SCHEMA!r}")
        search_space = data.get("search_space", "nb201")
        if not isinstance(search_space, str):
            raise ValueError(f"run config search_space {search_space!r}; expected a space name such as 'nb201'")
        types = {"data": DataConfig, "network": network_config_class(search_space), "train": TrainConfig,
                 "schedule": ScheduleConfig, "split": SplitConfig, "proxy": ProxyConfig, "search": SearchConfig}
        for name in types:
            if name in data and not isinstance(data[name], dict):
                raise ValueError(f"run config section {name!r} is a {type(data[name]).__name__}; expected an object")
        try:
            kwargs = {name: kind(**data[name]) for name, kind in types.items() if name in data}
        except TypeError as error:
            raise ValueError(f"run config has an unknown or missing setting: {error}") from None
        return cls(**kwargs, space=data.get("space"), device=data.get("device", "auto"), seed=data.get("seed", 0),
                   search_space=search_space)

    def save(self, path: Path) -> None:
        """Write the configuration through a temporary file and a rename (workers may write it at once)."""
        path = Path(path)
        handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        os.fchmod(handle, umask_file_mode())  # mkstemp makes 0600 files
        with os.fdopen(handle, "w") as stream:
            stream.write(json.dumps(self.to_dict(), indent=1) + "\n")
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        """Read a run configuration; every error names the file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"run configuration {path} not found")
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as error:
            raise ValueError(f"run configuration {path} is not valid JSON ({error}); restore it, or delete the "
                             "run directory and start again") from None
        except ValueError as error:
            raise ValueError(f"run configuration {path}: {error}") from None


def _plain(value: object) -> object:
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple):
        return list(value)
    return value


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when available; anything else is passed to torch.device, with a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"device {name!r} is not a torch device (try 'cpu', 'cuda' or 'cuda:1')") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but this torch build sees no CUDA device")
    return device
