"""Open a ground-truth source by path: a CSV table, an arch -> value JSON file, or official files."""

from __future__ import annotations

from pathlib import Path

from naslid.bench.official import OfficialBenchmark
from naslid.bench.predictions import read_predictions
from naslid.bench.table import BenchmarkTable, packaged_table_path

Benchmark = BenchmarkTable | OfficialBenchmark
# The single column of a benchmark read from an arch -> value JSON file.
JSON_COLUMN = "value"
FORMATS = (
    ".csv or .csv.gz table",
    ".json arch -> value",
    ".pth NAS-Bench-201 file",
    ".pickle.pbz2 NATS file or directory",
)


def load_benchmark(path: str | Path | None = None, *, api: str = "auto", seed: int | None = None) -> Benchmark:
    """The ground truth at `path`, chosen by its form: see `FORMATS`; None: the packaged NB201 table.

    `api` and `seed` apply to official files only (see `OfficialBenchmark`). A JSON file becomes a
    one-column table named ``value`` whose epochs and seeds are whatever the file's author used.
    """
    path = packaged_table_path() if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"benchmark {str(path)!r} not found; expected one of {list(FORMATS)}")
    suffix = path.suffix.lower()
    if path.is_file() and (suffix == ".csv" or path.name.lower().endswith(".csv.gz")):
        return BenchmarkTable.from_csv(path)
    if path.is_file() and suffix == ".json":
        values = read_predictions(path).values
        return BenchmarkTable.from_mapping(values, column=JSON_COLUMN, source=str(path))
    if path.is_dir() or suffix in (".pth", ".pbz2", ".pickle"):
        return OfficialBenchmark(path, api=api, seed=seed)
    raise ValueError(f"benchmark {path} has suffix {suffix!r}; expected one of {list(FORMATS)}")
