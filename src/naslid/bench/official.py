"""NAS-Bench-201 ground truth from the official benchmark files, through the optional official APIs.

``NAS-Bench-201-v1_*.pth`` files are read with `nas_201_api` (``pip install nas-bench-201``, API >= 2.0);
NATS-Bench topology files (``NATS-tss-v1_0-3ffb9.pickle.pbz2`` or its ``-simple`` directory) with
`nats_bench` (``pip install nats_bench``). Neither is a naslid dependency: the API is imported and the
multi-GB file loaded on the first query. Queries ask for seed means (``is_random=False``) unless a `seed`
is given, at the epochs (``hp``) that the column name ends with, and use the same column names as
``nb201_merged.csv``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from naslid.bench.table import DEFAULT_COLUMN, ColumnInfo, GroundTruth, epochs_of_column
from naslid.spaces import NB201Arch, format_arch, parse_arch

logger = logging.getLogger(__name__)

API_CHOICES = ("auto", "nas-bench-201", "nats-bench")
# Column prefix -> (official dataset name, {split: key prefix in get_more_info's result}).
_DATASETS: dict[str, tuple[str, dict[str, str]]] = {
    "c10v": ("cifar10-valid", {"train": "train", "valid": "valid", "test": "test"}),
    "c10": ("cifar10", {"train": "train", "test": "test"}),
    "c100": ("cifar100", {"train": "train", "valid": "valid", "test": "test"}),
    "in16": ("ImageNet16-120", {"train": "train", "valid": "valid", "test": "test"}),
}
EPOCH_CHOICES = (12, 200)


def _official_columns() -> dict[str, tuple[str, str, int]]:
    """Column name -> (dataset, get_more_info key, epochs), named as in nb201_merged.csv."""
    columns = {}
    for prefix, (dataset, splits) in _DATASETS.items():
        for epochs in EPOCH_CHOICES:
            for split, key in splits.items():
                columns[f"{prefix}_{split}_acc_{epochs}"] = (dataset, f"{key}-accuracy", epochs)
            columns[f"{prefix}_train_time_{epochs}"] = (dataset, "train-all-time", epochs)
    return columns


OFFICIAL_COLUMNS = _official_columns()


class OfficialBenchmark:
    """Lazy adapter over the official NB201 / NATS-Bench API, with the query interface of `BenchmarkTable`."""

    def __init__(self, path: str | Path, *, api: str = "auto", seed: int | None = None) -> None:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"official benchmark file {str(path)!r} not found; expected a NAS-Bench-201 .pth file or a "
                "NATS-Bench tss .pickle.pbz2 file or directory"
            )
        if api not in API_CHOICES:
            raise ValueError(f"unknown benchmark api {api!r}; expected one of {list(API_CHOICES)}")
        if api == "auto":
            api = "nas-bench-201" if path.suffix == ".pth" else "nats-bench"
        self._setup(path, api, seed, str(path), api_object=None)

    @classmethod
    def from_api(
        cls, api: object, *, source: str = "official api", seed: int | None = None
    ) -> OfficialBenchmark:
        """Wrap an API object the caller already created (`NASBench201API` or a NATS `create(...)` result)."""
        benchmark = cls.__new__(cls)
        benchmark._setup(None, type(api).__name__, seed, source, api_object=api)
        return benchmark

    def _setup(
        self, path: Path | None, api_name: str, seed: int | None, source: str, api_object: object
    ) -> None:
        self.path = path
        self.api_name = api_name
        self.seed = seed
        self.source = source
        self._api = api_object
        self._archs: tuple[NB201Arch, ...] | None = None
        self._index_of: dict[NB201Arch, int] = {}
        self._cache: dict[tuple[int, str], float] = {}

    def __repr__(self) -> str:
        return f"OfficialBenchmark({self.source!r}, api={self.api_name!r}, seed={self.seed})"

    @property
    def seeds(self) -> str:
        return "mean" if self.seed is None else f"seed {self.seed}"

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(OFFICIAL_COLUMNS)

    @property
    def default_column(self) -> str:
        return DEFAULT_COLUMN

    def column_info(self, column: str | None = None) -> ColumnInfo:
        column = self._check_column(column)
        return ColumnInfo(column, epochs_of_column(column), self.seeds, self.source)

    def __len__(self) -> int:
        return len(self.archs())

    def __contains__(self, arch: object) -> bool:
        self.archs()
        return arch in self._index_of

    def archs(self) -> tuple[NB201Arch, ...]:
        """Every architecture of the benchmark, in official index order."""
        if self._archs is None:
            self._archs = tuple(parse_arch(text) for text in self._load_api().meta_archs)
            self._index_of = {arch: index for index, arch in enumerate(self._archs)}
        return self._archs

    def index_of(self, arch: NB201Arch) -> int:
        self.archs()
        try:
            return self._index_of[arch]
        except KeyError:
            shown = format_arch(arch) if isinstance(arch, NB201Arch) else repr(arch)
            raise KeyError(f"architecture {shown} is not in the official benchmark {self.source}") from None

    def arch_at(self, index: int) -> NB201Arch:
        archs = self.archs()
        if not 0 <= int(index) < len(archs):
            raise KeyError(
                f"no architecture with index {index} in {self.source}; indices run 0..{len(archs) - 1}"
            )
        return archs[int(index)]

    def value(self, arch: NB201Arch, column: str | None = None) -> float:
        """One value of `column` (default ``c10_test_acc_200``): seed mean unless `seed` was given."""
        column = self._check_column(column)
        index = self.index_of(arch)
        if (index, column) not in self._cache:
            dataset, key, epochs = OFFICIAL_COLUMNS[column]
            is_random: bool | int = False if self.seed is None else self.seed
            info = self._load_api().get_more_info(
                index, dataset, iepoch=None, hp=str(epochs), is_random=is_random
            )
            if key not in info:
                raise KeyError(f"the official API gives no {key!r} for {dataset}; it gives {sorted(info)}")
            self._cache[(index, column)] = float(info[key])
        return self._cache[(index, column)]

    def values(self, archs: Iterable[NB201Arch], column: str | None = None) -> np.ndarray:
        column = self._check_column(column)
        return np.array([self.value(arch, column) for arch in archs], dtype=np.float64)

    def ground_truth(self, column: str | None = None, archs: Iterable[NB201Arch] | None = None) -> GroundTruth:
        info = self.column_info(column)
        archs = self.archs() if archs is None else tuple(archs)
        values = self.values(archs, info.column)
        return GroundTruth(dict(zip(archs, values.tolist(), strict=True)), info)

    def _check_column(self, column: str | None) -> str:
        if column is None:
            return DEFAULT_COLUMN
        if column not in OFFICIAL_COLUMNS:
            raise KeyError(
                f"unknown benchmark column {column!r} for {self.source}; available: {list(OFFICIAL_COLUMNS)}"
            )
        return column

    def _load_api(self) -> Any:
        if self._api is None:
            logger.info(
                "loading the official benchmark %s with %s (this can take minutes)", self.path, self.api_name
            )
            if self.api_name == "nas-bench-201":
                module = _import_api("nas_201_api", "nas-bench-201")
                self._api = module.NASBench201API(str(self.path), verbose=False)
            else:
                module = _import_api("nats_bench", "nats_bench")
                self._api = module.create(str(self.path), "tss", fast_mode=self.path.is_dir(), verbose=False)
        return self._api


def _import_api(module_name: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(
            f"reading official benchmark files needs the optional package {package!r} "
            f"(pip install {package}), which is not installed ({error}); "
            "or pass a CSV table such as nb201_merged.csv instead"
        ) from error
