"""The configuration of a run: one dataclass per stage, gathered in `RunConfig` and saved as JSON."""

from __future__ import annotations

import hashlib
import json
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

from naslid.atomic import write_json
from naslid.nn import network_config_class
from naslid.partition import ScheduleConfig, SplitConfig
from naslid.reading import read_json
from naslid.runs.datasets import DataConfig
from naslid.search import ProxyConfig, SearchConfig
from naslid.train import TrainConfig

RUN_CONFIG_SCHEMA = "naslid.run_config/1"
# the parts of a run's configuration that decide its training and splits; the rest may change on resume
TRAINING_SECTIONS = ("search_space", "data", "network", "train", "schedule", "split", "space", "seed")
# the parts that decide a supernet's weights up to its first split: every checkpoint records their digest (methods
# of a comparison share a root trained under these alone, so the schedule and split rules stay out)
WEIGHT_SECTIONS = ("search_space", "data", "network", "train", "space", "seed")


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
        unknown = sorted(set(data) - {"schema", *(item.name for item in fields(cls))})
        if unknown:
            raise ValueError(f"run config has no setting {unknown[0]!r}; expected only schema, "
                             f"{', '.join(item.name for item in fields(cls))}")
        for name in types:
            if name in data and not isinstance(data[name], dict):
                raise ValueError(f"run config section {name!r} is a {type(data[name]).__name__}; expected an object")
            if name in data:
                _check_section(name, types[name], data[name])
        _check_section("", cls, {name: data[name] for name in ("space", "device", "seed") if name in data})
        try:
            kwargs = {name: kind(**data[name]) for name, kind in types.items() if name in data}
        except TypeError as error:  # a check of the section's own that the type checks above did not foresee
            raise ValueError(f"run config has a setting of the wrong kind ({error})") from None
        return cls(**kwargs, space=data.get("space"), device=data.get("device", "auto"), seed=data.get("seed", 0),
                   search_space=search_space)

    def save(self, path: Path) -> None:
        """Write the configuration through a temporary file and a rename (workers may write it at once)."""
        path = Path(path)
        write_json(path, self.to_dict(), indent=1, trailing_newline=True)

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        """Read a run configuration; every error names the file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"run configuration {path} not found")
        try:
            data = read_json(path, what="run configuration")
        except ValueError as error:
            raise ValueError(f"{error}; restore it, or delete the run directory and start again") from None
        try:
            return cls.from_dict(data)
        except ValueError as error:
            raise ValueError(f"run configuration {path}: {error}") from None


def with_resolved_paths(cfg: RunConfig) -> RunConfig:
    """`cfg` with its data paths made absolute, so that `x.npz` and `/abs/x.npz` name the same run (a run records
    its digest over these)."""
    data = cfg.data
    resolved = {name: str(Path(getattr(data, name)).expanduser().resolve())
                for name in ("path", "cache_dir") if getattr(data, name)}
    return replace(cfg, data=replace(data, **resolved)) if resolved else cfg


def config_digest(cfg: RunConfig) -> str:
    """A short digest of `cfg`'s WEIGHT_SECTIONS, which each checkpoint records to be matched to its config."""
    whole = cfg.to_dict()
    text = json.dumps({name: whole[name] for name in WEIGHT_SECTIONS}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_section(section: str, kind: type, values: dict) -> None:
    """Every key of `values` is a field of dataclass `kind` and every value is of its declared type; an error names
    the setting (`train.batch_size`), the value and the expected type, never Python's own message."""
    known = {item.name for item in fields(kind)}
    for key in values:
        if key not in known:
            raise ValueError(f"run config section {section!r} has no setting {key!r}; expected one of "
                             f"{', '.join(sorted(known))}")
    try:
        hints = typing.get_type_hints(kind)
    except Exception:  # an annotation that does not resolve at run time: the class checks its values itself
        return
    for key, value in values.items():
        hint = hints.get(key, Any)
        if not _fits(value, hint):
            name = f"{section}.{key}" if section else key
            raise ValueError(f"run config {name}={value!r}; expected {_describe(hint)}")


def _fits(value: object, hint: Any) -> bool:
    """Whether a JSON value fits a field's type hint (a JSON list fits a tuple); unknown hints fit anything."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, argument) for argument in arguments)
    if origin is typing.Literal:
        return value in arguments
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and arguments and arguments[-1] is not Ellipsis:
            return len(value) == len(arguments) and all(map(_fits, value, arguments))
        return not arguments or all(_fits(item, arguments[0]) for item in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    return True


def _describe(hint: Any) -> str:
    """A field's type in words: 'an integer', 'a list of integers or null'."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(argument) for argument in arguments)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(argument) for argument in arguments)
    if origin in (tuple, list):
        return f"a list of {_plural(arguments[0])}" if arguments else "a list"
    words = {type(None): "null", bool: "true or false", int: "an integer", float: "a number", str: "a string",
             dict: "an object"}
    return words.get(hint, getattr(hint, "__name__", str(hint)))


def _plural(hint: Any) -> str:
    if typing.get_origin(hint) in (tuple, list):
        arguments = typing.get_args(hint)
        return f"lists of {_plural(arguments[0])}" if arguments else "lists"
    words = {bool: "true or false values", int: "integers", float: "numbers", str: "strings"}
    return words.get(hint, _describe(hint))


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
