"""The outcome of a search: every evaluation in order, the best architecture, and its JSON file."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from naslid.atomic import write_json
from naslid.spaces import ChoiceArch, SearchSpace, get_space

SEARCH_SCHEMA = "naslid.search/1"


@dataclass(frozen=True)
class Evaluation:
    """One distinct architecture the search scored: its 0-based evaluation index and generation."""

    arch: ChoiceArch
    score: float
    index: int
    generation: int


@dataclass
class SearchResult:
    """Every evaluation of one search run, in order; higher scores are better.

    `settings` records how the search ran (its config as a dict) and `protocol` what the score means
    (data split, ground-truth column, ...), filled in by the caller; both go into the JSON file.
    """

    method: str
    history: list[Evaluation]
    settings: dict[str, Any] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    exhausted: bool = False  # the search stopped because no unvisited architecture was left
    space: str = "nb201"  # the search space's name (naslid.spaces.SPACES): how the arch strings read
    # architectures that were the same network as one scored before (the space's `network_key`): their score
    # was reused, with no objective call and no budget spent
    cache_hits: int = 0
    # why the search ended: "budget" (the evaluation budget was spent), "generations" (an evolution ran all its
    # generations first) or "exhausted" (no unvisited architecture was left); "" when unknown (older files)
    stopped_by: str = ""

    @property
    def num_evaluations(self) -> int:
        return len(self.history)

    @property
    def best(self) -> Evaluation:
        """The best evaluation; the earliest one among equal scores."""
        if not self.history:
            raise ValueError("the search evaluated no architecture, so there is no best one")
        best = self.history[0]
        for evaluation in self.history[1:]:
            if evaluation.score > best.score:
                best = evaluation
        return best

    @property
    def best_arch(self) -> ChoiceArch:
        return self.best.arch

    @property
    def best_score(self) -> float:
        return self.best.score

    def best_so_far(self) -> list[float]:
        """The best score after each evaluation (the search trajectory)."""
        trajectory = []
        best = -math.inf
        for evaluation in self.history:
            best = max(best, evaluation.score)
            trajectory.append(best)
        return trajectory

    def top(self, count: int) -> list[Evaluation]:
        """The `count` best evaluations, best first (earlier first among ties)."""
        return sorted(self.history, key=lambda evaluation: (-evaluation.score, evaluation.index))[:count]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with official arch strings, never op indices."""
        best = self.best if self.history else None
        space: SearchSpace = get_space(self.space)
        return {
            "schema": SEARCH_SCHEMA,
            "space": self.space,
            "method": self.method,
            "settings": dict(self.settings),
            "protocol": dict(self.protocol),
            "num_evaluations": self.num_evaluations,
            "exhausted": self.exhausted,
            "stopped_by": self.stopped_by,
            "cache_hits": self.cache_hits,
            "best": None
            if best is None
            else {"arch": space.format(best.arch), "score": best.score, "index": best.index},
            "history": [
                {
                    "index": evaluation.index,
                    "generation": evaluation.generation,
                    "arch": space.format(evaluation.arch),
                    "score": evaluation.score,
                }
                for evaluation in self.history
            ],
            "best_so_far": self.best_so_far(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SearchResult:
        schema = data.get("schema", "")
        if not str(schema).startswith("naslid.search/"):
            raise ValueError(f"not a naslid search result (schema {schema!r}, expected {SEARCH_SCHEMA!r})")
        if schema != SEARCH_SCHEMA:
            raise ValueError(
                f"unsupported search result schema {schema!r}; this naslid reads {SEARCH_SCHEMA!r}"
            )
        space_name = str(data.get("space", "nb201"))
        space = get_space(space_name)
        history = [
            Evaluation(
                arch=space.parse(item["arch"]),
                score=float(item["score"]),
                index=int(item["index"]),
                generation=int(item["generation"]),
            )
            for item in data["history"]
        ]
        return cls(
            method=str(data["method"]),
            history=history,
            settings=dict(data.get("settings", {})),
            protocol=dict(data.get("protocol", {})),
            exhausted=bool(data.get("exhausted", False)),
            space=space_name,
            cache_hits=int(data.get("cache_hits", 0)),  # files written before the cache have none
            stopped_by=str(data.get("stopped_by", "")),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON file through a temporary file and a rename; return its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_json(path, self.to_json(), indent=1)


def load_search_result(path: str | os.PathLike[str]) -> SearchResult:
    """Read a search result written by `SearchResult.save`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"search result file not found: {path}")
    with path.open(encoding="utf-8") as handle:
        return SearchResult.from_json(json.load(handle))
