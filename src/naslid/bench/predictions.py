"""Read proxy predictions (architecture -> value) from JSON or CSV files, from naslid or another tool.

An architecture key is either the official string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` or the
Python-literal tuple of nodes that Few-shot NAS and the official API's `str2lists` use,
``[(('op', 0),), (('op', 0), ('op', 1)), (('op', 0), ('op', 1), ('op', 2))]``, read with
`ast.literal_eval` (never `eval`).

JSON: an object mapping keys to numbers, or an object whose ``"predictions"`` holds that mapping, with an
optional ``"protocol"`` object saying how the proxy was measured. CSV: a header with an ``arch_str`` (or
``arch``) column and a value column, or two columns without a header.
"""

from __future__ import annotations

import ast
import csv
import functools
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from naslid.reading import DATA_LIMIT, read_text
from naslid.spaces import NB201Arch, NB201Space, format_arch, parse_arch

ARCH_KEY_COLUMNS = ("arch_str", "arch")
# (node, position of its first edge in NB201Arch.ops) for the 3 computed nodes of a cell.
_NODE_STARTS = ((1, 0), (2, 1), (3, 3))
# Columns of a CSV that never hold the prediction values.
_NON_VALUE_COLUMNS = ("index", "unique_str")


@dataclass(frozen=True)
class Predictions:
    """Proxy values per architecture, where they came from, and the file's protocol block if it had one."""

    values: dict[NB201Arch, float]
    source: str
    protocol: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.values)

    def describe(self) -> str:
        """How the proxy was measured, as far as the file says."""
        if self.protocol:
            return f"predictions file {self.source}; protocol {json.dumps(self.protocol, sort_keys=True)}"
        return f"predictions file {self.source} (no protocol stated in the file)"


PROXY_SCORES_SCHEMA = "naslid.proxy_scores/1"  # what a comparison writes per method (runs/compare.py)


def parse_arch_key(key: str) -> NB201Arch:
    """An architecture from an official string or a Python-literal tuple of ``(op, input)`` nodes."""
    if not isinstance(key, str):
        raise ValueError(f"an architecture key must be a str, got {type(key).__name__}: {key!r}")
    text = key.strip()
    if text.startswith("|"):
        return parse_arch(text)
    known = _tuple_keys().get(text)
    if known is not None:
        return known
    if not text.startswith(("[", "(")):
        raise ValueError(
            f"architecture key {key!r} is neither an official NB201 string (|op~0|+|op~0|op~1|+...) nor a "
            "tuple of nodes ([(('op', 0),), (('op', 0), ('op', 1)), ...])"
        )
    try:
        nodes = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise ValueError(f"architecture key {key!r} is not a valid Python literal of nodes") from None
    return _arch_from_nodes(nodes, key)


@functools.cache
def _tuple_keys() -> dict[str, NB201Arch]:
    """The list-of-tuples key of every NB201 arch, as Few-shot NAS writes it (faster than `literal_eval`)."""
    keys = {}
    for arch in NB201Space().all():
        nodes = [
            tuple((arch.ops[first + source], source) for source in range(node))
            for node, first in _NODE_STARTS
        ]
        keys[repr(nodes)] = arch
    return keys


def _arch_from_nodes(nodes: object, key: str) -> NB201Arch:
    if not isinstance(nodes, list | tuple) or len(nodes) != 3:
        raise ValueError(f"architecture key {key!r} must list 3 nodes, each a tuple of (op, input) pairs")
    ops: list[str] = []
    for node, inputs in enumerate(nodes, start=1):
        if not isinstance(inputs, list | tuple) or len(inputs) != node:
            raise ValueError(f"node {node} of architecture key {key!r} must have {node} (op, input) pairs")
        for expected_input, pair in enumerate(inputs):
            if not (isinstance(pair, list | tuple) and len(pair) == 2 and isinstance(pair[0], str)):
                raise ValueError(
                    f"edge {pair!r} of node {node} in {key!r} must be an (op name, input node) pair"
                )
            op, source = pair
            if source != expected_input or isinstance(source, bool):
                raise ValueError(
                    f"edge {pair!r} of node {node} in {key!r} reads input {source!r}, "
                    f"expected {expected_input}"
                )
            ops.append(op)
    return NB201Arch(tuple(ops))


def read_predictions(path: str | Path, value_column: str | None = None) -> Predictions:
    """Read a predictions file (``.json`` or ``.csv``); `value_column` picks the value column of a CSV."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"predictions file {str(path)!r} not found")
    if path.is_dir():
        raise ValueError(f"predictions file {str(path)!r} is a directory; expected a .json or .csv file")
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise ValueError(f"predictions file {path} has suffix {suffix!r}; expected one of ['.json', '.csv']")
    text = read_text(path, limit=DATA_LIMIT, what="predictions file")  # a regular file of bounded size, UTF-8
    if suffix == ".json":
        if value_column is not None:
            raise ValueError(f"value_column={value_column!r} applies to CSV predictions only, not {path}")
        return _read_json(path, text)
    return _read_csv(path, text, value_column)


def predictions_from_mapping(mapping: Mapping[str, object], source: str) -> dict[NB201Arch, float]:
    """Parse arch keys and numeric values; raise ValueError naming a bad key, value or duplicate."""
    values: dict[NB201Arch, float] = {}
    key_of_arch: dict[NB201Arch, str] = {}
    for key, raw in mapping.items():
        try:
            arch = parse_arch_key(key)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None
        if arch in key_of_arch:
            raise ValueError(
                f"{source}: keys {key_of_arch[arch]!r} and {key!r} are the same architecture "
                f"{format_arch(arch)}; expected one value per architecture"
            )
        key_of_arch[arch] = key
        values[arch] = _as_number(raw, key, source)
    if not values:
        raise ValueError(f"{source} holds no predictions; expected architecture -> value entries")
    return values


def _as_number(raw: object, key: str, source: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"{source}: value {raw!r} of {key!r} is not a number")
    try:
        number = float(raw)
    except ValueError:
        raise ValueError(f"{source}: value {raw!r} of {key!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{source}: value {raw!r} of {key!r} is not finite; expected a finite number")
    return number


class _DuplicateKey(ValueError):
    pass


def _refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    """`json` object hook: a key given twice would silently keep the last value, so refuse it."""
    data: dict = {}
    for key, value in pairs:
        if key in data:
            raise _DuplicateKey(f"key {key!r} appears twice (values {data[key]!r} and {value!r})")
        data[key] = value
    return data


def _read_json(path: Path, text: str) -> Predictions:
    try:
        data = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except _DuplicateKey as error:
        raise ValueError(f"predictions file {path}: {error}; expected one value per architecture") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"predictions file {path} is not valid JSON: {error}") from None
    except RecursionError:
        raise ValueError(f"predictions file {path} nests too deeply to be read as JSON") from None
    if not isinstance(data, dict):
        raise ValueError(f"predictions file {path} holds a JSON {type(data).__name__}; expected an object")
    protocol: dict = {}
    schema = data.get("schema")
    if schema == PROXY_SCORES_SCHEMA:  # a comparison's proxy_scores.json: {"scores": {arch: accuracy}}
        protocol, data = data.get("protocol") or {}, data.get("scores")
        if not isinstance(data, dict) or not isinstance(protocol, dict):
            raise ValueError(f"predictions file {path}: a {schema} file needs 'scores' and 'protocol' objects")
        return Predictions(predictions_from_mapping(data, str(path)), str(path), protocol)
    if isinstance(schema, str) and schema.startswith("naslid.search/"):  # `naslid search`: every evaluation
        return Predictions(_search_scores(data, path), str(path), data.get("protocol") or {})
    if "predictions" in data:
        protocol = data.get("protocol") or {}
        if not isinstance(protocol, dict):
            raise ValueError(
                f"predictions file {path}: 'protocol' must be an object, got {type(protocol).__name__}"
            )
        data = data["predictions"]
        if not isinstance(data, dict):
            raise ValueError(f"predictions file {path}: 'predictions' must map architectures to numbers")
    return Predictions(predictions_from_mapping(data, str(path)), str(path), protocol)


def _search_scores(data: dict, path: Path) -> dict[NB201Arch, float]:
    """The proxy score of every architecture a search evaluated (each one once; a repeat must agree)."""
    if data.get("space", "nb201") != "nb201":
        raise ValueError(f"predictions file {path} is a search of the {data['space']} space; only NB201 "
                         "architectures have ground truth to score against")
    history = data.get("history")
    if not isinstance(history, list) or not all(isinstance(item, dict) and "arch" in item for item in history):
        raise ValueError(f"predictions file {path}: a search file needs a 'history' list of evaluations")
    scores: dict[str, object] = {}
    for item in history:
        previous = scores.setdefault(item["arch"], item.get("score"))
        if previous != item.get("score"):
            raise ValueError(f"predictions file {path}: {item['arch']} was scored {previous} and {item['score']}")
    return predictions_from_mapping(scores, str(path))


def _read_csv(path: Path, text: str, value_column: str | None) -> Predictions:
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row and any(cell.strip() for cell in row)]
    except csv.Error as error:
        raise ValueError(f"predictions file {path} is not CSV ({error})") from None
    if not rows:
        raise ValueError(f"predictions file {path} is empty; expected rows of architecture and value")
    first = [cell.strip() for cell in rows[0]]
    if _looks_like_arch(first[0]):
        header = None
        if len(first) != 2:
            raise ValueError(f"{path}: a CSV without header needs 2 columns (arch, value), got {len(first)}")
        if value_column is not None:
            raise ValueError(f"{path} has no header, so value_column={value_column!r} cannot be found")
        arch_position, value_position, data = 0, 1, rows
    else:
        header = first
        arch_names = [name for name in ARCH_KEY_COLUMNS if name in header]
        if not arch_names:
            raise ValueError(
                f"{path} has no architecture column; expected one of {list(ARCH_KEY_COLUMNS)} in {header}"
            )
        arch_position = header.index(arch_names[0])
        candidates = [name for name in header if name not in (*ARCH_KEY_COLUMNS, *_NON_VALUE_COLUMNS)]
        if value_column is None:
            if len(candidates) != 1:
                raise ValueError(f"{path} has {len(candidates)} value columns; choose one of {candidates}")
            value_column = candidates[0]
        if value_column not in candidates:
            raise KeyError(f"unknown value column {value_column!r} in {path}; available: {candidates}")
        value_position = header.index(value_column)
        data = rows[1:]
    mapping: dict[str, str] = {}
    for line, row in enumerate(data, start=1 if header is None else 2):
        if len(row) != len(first):
            raise ValueError(f"{path}, row {line}: {len(row)} fields, expected {len(first)}")
        key = row[arch_position].strip()
        if key in mapping:
            raise ValueError(f"{path}, row {line}: architecture {key} is listed twice")
        mapping[key] = row[value_position].strip()
    protocol = {"value_column": value_column} if value_column is not None else {}
    return Predictions(predictions_from_mapping(mapping, str(path)), str(path), protocol)


def _looks_like_arch(text: str) -> bool:
    try:
        parse_arch_key(text)
    except ValueError:
        return False
    return True
