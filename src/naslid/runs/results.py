"""Results back into Python: tidy rows (one observation per row) from run directories and comparisons.

Three plain files, each documented in docs/results.md:

- ``RUN/metrics.jsonl``: one JSON line per (node, epoch) of training: loss, accuracy, learning rate, images/s,
  seconds, and how many tracked architectures were scored. Written from the checkpoints after every level of a
  run, so it always agrees with them; a node's line holds its own epochs only (a child that inherited its
  parent's history is not repeated).
- ``RUN/ranking_curve.jsonl``: Kendall tau-b and Spearman of the tracked architectures per scored epoch, when a
  run tracks a ranking against ground truth.
- ``COMPARE/compare.csv``: one row per (seed, method, ranking subset), the flat view of compare.json.

`load_results(path)` reads whichever a path holds; `as_frame(rows)` turns rows into a pandas DataFrame
(``pip install 'naslid[pandas]'``).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from naslid.atomic import write_text
from naslid.bench.scoring import RANKING_METRICS
from naslid.runs.run_directory import COMPARE_FILE, METRICS_FILE

# compare.csv's first columns, in order; then one per other metric (per k of the comparison for precision@k and
# tau@top-k: `naslid.bench.RANKING_METRICS`), sorted by name
COMPARE_COLUMNS = ("seed", "method", "protocol", "leaves", "supernet_epochs", "subset", "n", "kendall_tau_b",
                   "spearman", "pearson", "train_and_split_seconds", "best_arch", "best_proxy_score",
                   "best_ground_truth")
_RANKING_DESCRIPTION = ("subset", "rule", "n", "column", "proxy", "note")


def own_history(history: Sequence[dict], parent_history: Sequence[dict] | None) -> list[dict]:
    """The entries of `history` that its node trained itself: without the copy of its parent's it starts with."""
    if parent_history and list(history[:len(parent_history)]) == list(parent_history):
        return list(history[len(parent_history):])
    return list(history)


def epoch_rows(histories: Mapping[int, Sequence[dict]], parents: Mapping[int, int | None]) -> list[dict]:
    """Tidy per-epoch rows from each node's training history (`histories`: node id -> history)."""
    rows = []
    for node in sorted(histories):
        parent = parents.get(node)
        for entry in own_history(histories[node], histories.get(parent) if parent is not None else None):
            row: dict[str, Any] = {"node": node, "parent": parent}
            for key, value in entry.items():
                if key == "tracked":
                    row["tracked_archs"] = len((value or {}).get("scores", {}))
                    row["tracking_seconds"] = (value or {}).get("seconds")
                elif isinstance(value, int | float | str | bool) or value is None:
                    row[key] = value
            rows.append(row)
    return rows


def write_jsonl(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]]) -> Path:
    """`rows` as JSON lines, written atomically."""
    return write_text(path, "".join(json.dumps(dict(row)) + "\n" for row in rows))


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """The rows of a JSON-lines file; an unreadable line names the file and line."""
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number}: not JSON ({error})") from None
    return rows


def compare_rows(results: Mapping[str, Any]) -> list[dict]:
    """One row per (seed, method, ranking subset) of a comparison (compare.json's content)."""
    column = (results["protocol"].get("ground_truth") or {}).get("column")
    per_method = results["protocol"].get("method_protocols", {})
    rows = []
    for run in results["runs"]:
        for method, summary in run["methods"].items():
            search = summary.get("search") or {}
            truth = (search.get("ground_truth") or {}).get(column) if column else None
            base = {"seed": run["seed"], "method": method,
                    "protocol": per_method.get(method, {}).get("protocol", "ours"),
                    "leaves": summary.get("leaves"), "supernet_epochs": summary.get("supernet_epochs")}
            seconds = (summary.get("seconds") or {}).get("train_and_split")
            for ranking in summary.get("ranking") or [{}]:
                row = {**dict.fromkeys(COMPARE_COLUMNS), **base, "subset": ranking.get("subset"), "n": ranking.get("n"),
                       "train_and_split_seconds": seconds, "best_arch": search.get("best_arch"),
                       "best_proxy_score": search.get("proxy_score"), "best_ground_truth": truth}
                for name, value in ranking.items():  # every metric the ranking holds, registered or not
                    if name not in _RANKING_DESCRIPTION:
                        row.update(_metric_columns(name, value))
                rows.append(row)
    return rows


def _metric_columns(name: str, value: Any) -> dict:
    metric = RANKING_METRICS.get(name)
    if not isinstance(value, Mapping):
        return {metric.column_name() if metric else name: value}
    return {(metric.column_name(k) if metric else f"{name}_{k}"): v for k, v in value.items()}


def compare_csv(results: Mapping[str, Any]) -> str:
    """compare.csv's text: `compare_rows` with a header; empty cells for missing values."""
    rows = compare_rows(results)
    extra = sorted({key for row in rows for key in row} - set(COMPARE_COLUMNS))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*COMPARE_COLUMNS, *extra], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return out.getvalue()


def load_results(path: str | os.PathLike, as_dataframe: bool = False) -> Any:
    """Tidy rows of whatever `path` holds: a comparison folder or compare.json (one row per seed, method and
    subset), a run directory (its per-epoch metrics.jsonl) or a JSON-lines file. A list of dicts, or a pandas
    DataFrame with `as_dataframe`."""
    path = Path(path)
    if path.is_dir() and (path / COMPARE_FILE).is_file():
        path = path / COMPARE_FILE
    elif path.is_dir() and (path / METRICS_FILE).is_file():
        path = path / METRICS_FILE
    elif path.is_dir():
        raise ValueError(f"{path} holds neither {COMPARE_FILE} nor {METRICS_FILE}: is it a comparison or a run "
                         "directory? (a run written before metrics files: run `naslid finetune RUN` once)")
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    if path.suffix == ".jsonl":
        rows = read_jsonl(path)
    else:
        try:
            document = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON ({error})") from None
        if not isinstance(document, dict) or not str(document.get("schema", "")).startswith("naslid.compare/"):
            raise ValueError(f"{path} is not a naslid comparison (schema naslid.compare/N)")
        rows = compare_rows(document)
    return as_frame(rows) if as_dataframe else rows


def as_frame(rows: Sequence[Mapping[str, Any]]) -> Any:
    """`rows` as a pandas DataFrame (pandas is an optional dependency: ``pip install 'naslid[pandas]'``)."""
    try:
        import pandas
    except ImportError:
        raise ImportError("a DataFrame needs pandas: pip install 'naslid[pandas]' (or use the rows as they are)") \
            from None
    return pandas.DataFrame(list(rows))
