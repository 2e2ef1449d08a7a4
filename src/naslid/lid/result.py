"""The LID profile of a model (one LID per layer, over batches) and its JSON file ("naslid.lid_profile/1")."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from naslid.atomic import write_json

LID_PROFILE_SCHEMA = "naslid.lid_profile/1"


@dataclass
class LIDProfile:
    """LID of each layer of one model, measured on several batches of the same size n.

    `values[b][i]` is the LID of layer i on batch b; `mean` and `std` summarise them over batches (std is
    the population standard deviation, 0 for one batch). `depth` is the relative depth (i + 1) / L of layer
    i in forward order, so that models of different lengths share one axis. LID depends on n and k:
    compare profiles measured with the same n, k and estimator only. `notes` are remarks a reader should see
    with the values (an untrained model, noise inputs, samples found along another axis than the first);
    files written before notes existed read with none.
    """

    layers: list[str]
    depth: list[float]
    mean: list[float]
    std: list[float]
    values: list[list[float]]
    n: int
    k: int
    estimator: str
    estimator_params: dict = field(default_factory=dict)
    mode: str = "eval"
    label: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def num_batches(self) -> int:
        return len(self.values)

    def to_json(self) -> dict:
        """A JSON-ready dict of this profile (one entry of a profile file's "profiles" list)."""
        return {
            "label": self.label,
            "layers": list(self.layers),
            "relative_depth": list(self.depth),
            "lid_mean": list(self.mean),
            "lid_std": list(self.std),
            "lid_per_batch": [list(row) for row in self.values],
            "n": self.n,
            "k": self.k,
            "num_batches": self.num_batches,
            "estimator": self.estimator,
            "estimator_params": dict(self.estimator_params),
            "mode": self.mode,
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, data: Mapping) -> LIDProfile:
        """The profile `to_json` wrote; KeyError names a missing field."""
        missing = [key for key in ("layers", "relative_depth", "lid_mean", "lid_std", "n", "k", "estimator")
                   if key not in data]
        if missing:
            raise KeyError(f"LID profile record lacks the fields {missing}; has {sorted(data)}")
        return cls(
            layers=[str(name) for name in data["layers"]],
            depth=[float(value) for value in data["relative_depth"]],
            mean=[float(value) for value in data["lid_mean"]],
            std=[float(value) for value in data["lid_std"]],
            values=[[float(value) for value in row] for row in data.get("lid_per_batch", [])],
            n=int(data["n"]),
            k=int(data["k"]),
            estimator=str(data["estimator"]),
            estimator_params=dict(data.get("estimator_params", {})),
            mode=str(data.get("mode", "eval")),
            label=str(data.get("label", "")),
            notes=[str(note) for note in data.get("notes", [])],
        )


def summarize(layers: Sequence[str], values: Sequence[Sequence[float]], **fields: object) -> LIDProfile:
    """A profile from per-batch values (batches x layers): relative depth, mean and spread filled in."""
    count = len(layers)
    columns = list(zip(*values, strict=True)) if values else [() for _ in layers]
    means = [math.fsum(column) / len(column) for column in columns]
    spreads = [
        math.sqrt(math.fsum((value - mean) ** 2 for value in column) / len(column))
        for column, mean in zip(columns, means, strict=True)
    ]
    return LIDProfile(
        layers=list(layers),
        depth=[(index + 1) / count for index in range(count)],
        mean=means,
        std=spreads,
        values=[list(row) for row in values],
        **fields,
    )


def save_profiles(path: str | os.PathLike, profiles: Sequence[LIDProfile], protocol: Mapping | None = None) -> Path:
    """Write `profiles` as one JSON file with the schema and a protocol block, via a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "schema": LID_PROFILE_SCHEMA,
        "protocol": dict(protocol or {}),
        "profiles": [profile.to_json() for profile in profiles],
    }
    return write_json(path, document, indent=1, allow_nan=False)


def load_profiles(path: str | os.PathLike) -> tuple[list[LIDProfile], dict]:
    """The profiles and protocol block of a file `save_profiles` wrote; refuses another schema major."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LID profile file {path} not found")
    document = json.loads(path.read_text())
    schema = document.get("schema") if isinstance(document, dict) else None
    if schema != LID_PROFILE_SCHEMA:
        raise ValueError(f"{path} has schema {schema!r}; this naslid reads {LID_PROFILE_SCHEMA!r}")
    return [LIDProfile.from_json(item) for item in document.get("profiles", [])], dict(document.get("protocol", {}))
