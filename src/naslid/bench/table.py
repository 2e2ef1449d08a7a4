"""NAS-Bench-201 ground truth from a table with one row per architecture, keyed by the official arch string.

The table format is that of ``nb201_merged.csv``: an ``arch_str`` column, an optional ``index`` column (the
official index; row order otherwise), an optional ``unique_str`` text column, and numeric metric columns
whose names end in the number of training epochs (``c10_test_acc_200``). Every metric value is taken as
stored; for ``nb201_merged.csv`` that is the mean over the benchmark's trained seeds.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from naslid.spaces import NB201Arch, format_arch, parse_arch

# CIFAR-10 test accuracy at 200 epochs, trained on all 50k images: the "CIFAR-10 test" papers report.
DEFAULT_COLUMN = "c10_test_acc_200"
ARCH_COLUMN = "arch_str"
INDEX_COLUMN = "index"
# Columns that hold text, not metrics.
TEXT_COLUMNS = ("unique_str",)

_EPOCHS_SUFFIX = re.compile(r"_(\d+)$")
# The compact NB201 table shipped with naslid (provenance and licences in naslid/bench/data/README.md).
PACKAGED_TABLE = "nb201_compact.csv.gz"


def packaged_table_path() -> Path:
    """The NB201 table shipped as package data: all 15,625 archs, the columns users rank against."""
    path = Path(str(resources.files("naslid.bench") / "data" / PACKAGED_TABLE))
    if not path.is_file():
        raise FileNotFoundError(f"the packaged NB201 table {path} is missing; reinstall naslid, or pass --benchmark")
    return path


def epochs_of_column(column: str) -> int | None:
    """The training epochs a column name states by its suffix (``c10_test_acc_200`` -> 200), else None."""
    match = _EPOCHS_SUFFIX.search(column)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class ColumnInfo:
    """What one ground-truth column holds: its name, training epochs and how seeds were combined."""

    column: str
    epochs: int | None
    seeds: str
    source: str

    def describe(self) -> str:
        epochs = f"{self.epochs} epochs" if self.epochs is not None else "epochs not stated"
        return f"{self.column} ({epochs}, seeds: {self.seeds})"

    def to_json(self) -> dict:
        return {"benchmark": self.source, "column": self.column, "epochs": self.epochs, "seeds": self.seeds}


@dataclass(frozen=True)
class GroundTruth:
    """Ground-truth values of one column for a set of architectures, with what the values are."""

    values: dict[NB201Arch, float]
    info: ColumnInfo

    @property
    def column(self) -> str:
        return self.info.column


class BenchmarkTable:
    """Benchmark results in memory: one row per architecture, metric columns by name.

    Build it with `from_csv` (a file such as ``nb201_merged.csv``) or `from_mapping` (arch -> value).
    """

    def __init__(
        self,
        archs: Sequence[NB201Arch],
        indices: Sequence[int],
        columns: Sequence[str],
        values: np.ndarray,
        *,
        source: str,
        seeds: str = "mean",
        default_column: str = DEFAULT_COLUMN,
    ) -> None:
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(archs), len(columns)):
            raise ValueError(
                f"benchmark values have shape {values.shape}, "
                f"expected ({len(archs)} archs, {len(columns)} columns)"
            )
        if len(indices) != len(archs):
            raise ValueError(f"got {len(indices)} indices for {len(archs)} archs; expected one per arch")
        if not columns:
            raise ValueError(f"benchmark {source} has no metric column; expected at least one numeric column")
        self._archs = tuple(archs)
        self._indices = tuple(int(index) for index in indices)
        self._columns = tuple(columns)
        self._values = values
        self._row_of_arch = {arch: row for row, arch in enumerate(self._archs)}
        self._row_of_index = {index: row for row, index in enumerate(self._indices)}
        if len(self._row_of_arch) != len(self._archs):
            raise ValueError(f"benchmark {source} lists an architecture twice")
        if len(self._row_of_index) != len(self._indices):
            raise ValueError(f"benchmark {source} lists an index twice")
        self.source = source
        self.seeds = seeds
        self._default_column = default_column

    @classmethod
    def from_csv(cls, path: str | Path, *, seeds: str = "mean") -> BenchmarkTable:
        """Read a CSV table (format of ``nb201_merged.csv``); raise a clear error on any malformed row.

        `seeds` states how the file's values combine the benchmark's seeds; ``nb201_merged.csv`` holds
        seed means (the official API with ``is_random=False``).
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"benchmark table {str(path)!r} not found; expected a CSV file such as nb201_merged.csv"
            )
        if path.is_dir():
            raise ValueError(f"benchmark table {str(path)!r} is a directory; expected a CSV file")
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", newline="") as handle:
            rows = csv.reader(handle)
            header = next(rows, None)
            if header is None or not any(cell.strip() for cell in header):
                raise ValueError(
                    f"benchmark table {str(path)!r} is empty; expected a header row with {ARCH_COLUMN!r}"
                )
            header = [cell.strip() for cell in header]
            archs, indices, values, columns = _read_rows(path, header, rows)
        return cls(archs, indices, columns, values, source=str(path), seeds=seeds)

    @classmethod
    def from_mapping(
        cls, values: Mapping[NB201Arch, float], *, column: str, source: str, seeds: str = "as stored"
    ) -> BenchmarkTable:
        """A one-column table from arch -> value; the index of an arch is its position in `values`."""
        archs = list(values)
        matrix = np.array([[float(values[arch])] for arch in archs], dtype=np.float64).reshape(len(archs), 1)
        return cls(archs, range(len(archs)), [column], matrix, source=source, seeds=seeds, default_column=column)

    def __len__(self) -> int:
        return len(self._archs)

    def __contains__(self, arch: object) -> bool:
        return arch in self._row_of_arch

    def __repr__(self) -> str:
        return f"BenchmarkTable({self.source!r}, {len(self)} archs, columns={list(self._columns)})"

    @property
    def columns(self) -> tuple[str, ...]:
        """The metric columns, in file order."""
        return self._columns

    @property
    def default_column(self) -> str:
        """The column used when none is named: `DEFAULT_COLUMN` for a CSV table (never another column in
        its place: a 12-epoch column must be asked for), the single column of a `from_mapping` table."""
        if self._default_column in self._columns:
            return self._default_column
        raise KeyError(
            f"benchmark {self.source} has no {self._default_column!r} column; name the column to rank against "
            f"(--column), one of {list(self._columns)}"
        )

    def archs(self) -> tuple[NB201Arch, ...]:
        """Every architecture of the table, in row order."""
        return self._archs

    def column_info(self, column: str | None = None) -> ColumnInfo:
        """What `column` (default: `default_column`) holds: epochs from its name, seeds, source."""
        column = self._check_column(column)
        return ColumnInfo(column, epochs_of_column(column), self.seeds, self.source)

    def index_of(self, arch: NB201Arch) -> int:
        """The index of `arch` (the official index when the table has an ``index`` column)."""
        return self._indices[self._row(arch)]

    def arch_at(self, index: int) -> NB201Arch:
        """The architecture with index `index`."""
        try:
            return self._archs[self._row_of_index[int(index)]]
        except KeyError:
            low, high = min(self._indices), max(self._indices)
            raise KeyError(
                f"no architecture with index {index} in {self.source}; indices run {low}..{high}"
            ) from None

    def value(self, arch: NB201Arch, column: str | None = None) -> float:
        """The value of `arch` in `column` (default: `default_column`)."""
        column = self._check_column(column)
        return float(self._values[self._row(arch), self._columns.index(column)])

    def values(self, archs: Iterable[NB201Arch], column: str | None = None) -> np.ndarray:
        """The values of `archs` in `column` (default: `default_column`), in the order given."""
        column = self._check_column(column)
        rows = [self._row(arch) for arch in archs]
        return self._values[rows, self._columns.index(column)].copy()

    def ground_truth(self, column: str | None = None, archs: Iterable[NB201Arch] | None = None) -> GroundTruth:
        """Values of `column` for `archs` (default: all), stating the column, epochs and seeds."""
        info = self.column_info(column)
        archs = self._archs if archs is None else tuple(archs)
        values = self.values(archs, info.column)
        return GroundTruth(dict(zip(archs, values.tolist(), strict=True)), info)

    def _check_column(self, column: str | None) -> str:
        if column is None:
            return self.default_column
        if column not in self._columns:
            raise KeyError(
                f"unknown benchmark column {column!r} in {self.source}; available: {list(self._columns)}"
            )
        return column

    def _row(self, arch: NB201Arch) -> int:
        try:
            return self._row_of_arch[arch]
        except KeyError:
            shown = format_arch(arch) if isinstance(arch, NB201Arch) else repr(arch)
            raise KeyError(
                f"architecture {shown} is not in benchmark {self.source} ({len(self)} archs); "
                "expected an NB201 NB201Arch listed in the table"
            ) from None


def _read_rows(
    path: Path, header: list[str], rows: Iterable[list[str]]
) -> tuple[list[NB201Arch], list[int], np.ndarray, list[str]]:
    """Parse the data rows of a benchmark CSV; every error names the file, line and column."""
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise ValueError(f"benchmark table {path} repeats column(s) {duplicates} in its header")
    if ARCH_COLUMN not in header:
        raise ValueError(
            f"benchmark table {path} has no {ARCH_COLUMN!r} column; expected the official arch string "
            f"per row; header is {header}"
        )
    arch_position = header.index(ARCH_COLUMN)
    index_position = header.index(INDEX_COLUMN) if INDEX_COLUMN in header else None
    skip = {ARCH_COLUMN, INDEX_COLUMN, *TEXT_COLUMNS}
    metric_positions = [position for position, name in enumerate(header) if name not in skip]
    columns = [header[position] for position in metric_positions]
    if not columns:
        raise ValueError(f"benchmark table {path} has no metric column; header is {header}")
    archs: list[NB201Arch] = []
    indices: list[int] = []
    matrix: list[list[float]] = []
    line_of_arch: dict[NB201Arch, int] = {}
    line_of_index: dict[int, int] = {}
    for line, row in enumerate(rows, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ValueError(
                f"{path}, line {line}: {len(row)} fields, expected {len(header)} as in the header"
            )
        try:
            arch = parse_arch(row[arch_position])
        except ValueError as error:
            raise ValueError(f"{path}, line {line}, column {ARCH_COLUMN!r}: {error}") from None
        if arch in line_of_arch:
            raise ValueError(
                f"{path}, line {line}: architecture {row[arch_position].strip()} already listed on line "
                f"{line_of_arch[arch]}; expected one row per architecture"
            )
        line_of_arch[arch] = line
        if index_position is None:
            index = len(archs)
        else:
            text = row[index_position].strip()
            if not text.lstrip("-").isdigit():
                raise ValueError(
                    f"{path}, line {line}, column {INDEX_COLUMN!r}: {text!r} is not an integer index"
                )
            index = int(text)
            if index in line_of_index:
                raise ValueError(
                    f"{path}, line {line}: index {index} already used on line {line_of_index[index]}"
                )
            line_of_index[index] = line
        numbers = [
            _parse_number(path, line, header[position], row[position]) for position in metric_positions
        ]
        archs.append(arch)
        indices.append(index)
        matrix.append(numbers)
    if not archs:
        raise ValueError(f"benchmark table {path} has a header but no data rows")
    return archs, indices, np.array(matrix, dtype=np.float64), columns


def _parse_number(path: Path, line: int, column: str, text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise ValueError(
            f"{path}, line {line}, column {column!r}: {text.strip()!r} is not a number; metric columns "
            f"(all but {[ARCH_COLUMN, INDEX_COLUMN, *TEXT_COLUMNS]}) must hold finite numbers"
        ) from None
    if not math.isfinite(number):
        raise ValueError(f"{path}, line {line}, column {column!r}: {text.strip()!r} is not finite")
    return number
