"""Score proxy values against benchmark ground truth on declared subsets; the ``naslid.scores/1`` file.

Every result states its subset (and the rule that chose it), the ground-truth column with its epochs and
seeds, and how the proxy was measured. Inside a subset, architectures are in benchmark index order, which
is the tie-break for precision@k.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from naslid.atomic import write_json
from naslid.bench.loading import Benchmark
from naslid.bench.metrics import kendall_tau_b, pearson, precision_at_k, spearman, top_k_kendall
from naslid.bench.subsets import Subset, SubsetUnavailable, select_subset
from naslid.bench.table import ColumnInfo, GroundTruth
from naslid.spaces import NB201Arch, format_arch

SCORES_SCHEMA = "naslid.scores/1"
# k for precision@k and for Kendall tau inside the ground-truth top-k; a k above a subset's size is skipped.
DEFAULT_KS = (10, 100)
DEFINITIONS = {
    "kendall_tau_b": "Kendall tau-b (tie-corrected) between proxy and ground truth",
    "spearman": "Spearman rank correlation, average ranks for ties",
    "pearson": "Pearson linear correlation",
    "precision_at_k": "|top-k by proxy & top-k by ground truth| / k; exactly k each, ties to the lower index",
    "top_k_kendall": "Kendall tau-b over the archs >= the k-th best ground truth (ties at the cut included)",
    "undefined": "null where a side is constant inside the subset",
}


@dataclass(frozen=True)
class RankingResult:
    """Ranking quality on one subset, with what was ranked against what."""

    subset: str
    rule: str
    n: int
    column: str
    proxy: str
    kendall_tau_b: float
    spearman: float
    pearson: float
    precision_at_k: dict[int, float]
    top_k_kendall: dict[int, float]
    note: str | None = None  # why the subset could not be ranked (metrics are then NaN / null)

    def to_json(self) -> dict:
        data = asdict(self)
        for name in ("kendall_tau_b", "spearman", "pearson"):
            data[name] = _finite_or_none(data[name])
        for name in ("precision_at_k", "top_k_kendall"):
            data[name] = {str(k): _finite_or_none(value) for k, value in data[name].items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping) -> RankingResult:
        values = dict(data)
        for name in ("kendall_tau_b", "spearman", "pearson"):
            values[name] = _none_to_nan(values[name])
        for name in ("precision_at_k", "top_k_kendall"):
            values[name] = {int(k): _none_to_nan(value) for k, value in values[name].items()}
        return cls(**values)


@dataclass(frozen=True)
class ScoreReport:
    """Results on every requested subset, and the protocol they share."""

    protocol: dict
    results: tuple[RankingResult, ...]

    def result(self, subset: str) -> RankingResult:
        for result in self.results:
            if result.subset == subset:
                return result
        raise KeyError(f"no result for subset {subset!r}; have {[result.subset for result in self.results]}")

    def to_json(self) -> dict:
        return {
            "schema": SCORES_SCHEMA,
            "protocol": self.protocol,
            "results": [result.to_json() for result in self.results],
        }


def rank_metrics(
    proxy: Mapping[NB201Arch, float],
    truth: GroundTruth,
    subset: Subset,
    *,
    proxy_description: str,
    ks: Sequence[int] = DEFAULT_KS,
) -> RankingResult:
    """All ranking metrics of `proxy` against `truth` over the architectures of `subset`."""
    if len(subset) < 2:
        raise ValueError(
            f"subset {subset.name!r} holds {len(subset)} architecture(s); need at least 2 to rank"
        )
    proxy_values = np.array([_lookup(proxy, arch, "proxy") for arch in subset.archs])
    truth_values = np.array([_lookup(truth.values, arch, "ground truth") for arch in subset.archs])
    n = len(subset)
    return RankingResult(
        subset=subset.name,
        rule=subset.rule,
        n=n,
        column=truth.info.describe(),
        proxy=proxy_description,
        kendall_tau_b=kendall_tau_b(proxy_values, truth_values),
        spearman=spearman(proxy_values, truth_values),
        pearson=pearson(proxy_values, truth_values),
        precision_at_k={k: precision_at_k(proxy_values, truth_values, k) for k in ks if k <= n},
        top_k_kendall={k: top_k_kendall(proxy_values, truth_values, k) for k in ks if k <= n},
    )


def score_predictions(
    predictions: Mapping[NB201Arch, float],
    benchmark: Benchmark,
    *,
    column: str | None = None,
    subsets: Sequence[str] = ("all",),
    seed: int = 0,
    ks: Sequence[int] = DEFAULT_KS,
    proxy_description: str = "proxy values given in memory",
    proxy_protocol: Mapping | None = None,
) -> ScoreReport:
    """Rank `predictions` against `benchmark`'s `column` (default: its default) on each subset spec.

    The architectures scored are those with a prediction; each must be in the benchmark.
    """
    if not predictions:
        raise ValueError("no predictions to score; expected at least 2 architectures with a value")
    if not subsets:
        raise ValueError("no subset requested; expected e.g. ['all']")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k for precision@k must be a positive integer, got {k!r}")
    info: ColumnInfo = benchmark.column_info(column)
    missing = [arch for arch in predictions if arch not in benchmark]
    if missing:
        raise KeyError(
            f"{len(missing)} predicted architecture(s) are not in benchmark {benchmark.source}, "
            f"e.g. {format_arch(missing[0])}; expected NB201 architectures listed by the benchmark"
        )
    truth = benchmark.ground_truth(info.column, archs=list(predictions))
    results = []
    for spec in subsets:
        try:
            subset = select_subset(spec, truth.values, benchmark.index_of, seed=seed)
        except SubsetUnavailable as error:
            results.append(_unavailable(spec, 0, truth, proxy_description, f"cannot be formed: {error}"))
            continue
        if len(subset) < 2:
            note = f"cannot be ranked: holds {len(subset)} architecture(s) of {len(predictions)}; need at least 2"
            results.append(_unavailable(spec, len(subset), truth, proxy_description, note))
            continue
        results.append(rank_metrics(predictions, truth, subset, proxy_description=proxy_description, ks=ks))
    protocol = {
        **info.to_json(),
        "proxy": proxy_description,
        "proxy_protocol": dict(proxy_protocol or {}),
        "subsets": list(subsets),
        "seed": seed,
        "ks": list(ks),
        "n_predictions": len(predictions),
        "n_benchmark": len(benchmark),
        "definitions": DEFINITIONS,
    }
    return ScoreReport(protocol, tuple(results))


def _unavailable(spec: str, n: int, truth: GroundTruth, proxy_description: str, note: str) -> RankingResult:
    """The result of a subset that cannot be ranked: reported, with why, next to the others."""
    nan = float("nan")
    return RankingResult(subset=spec, rule="not formed", n=n, column=truth.info.describe(), proxy=proxy_description,
                         kendall_tau_b=nan, spearman=nan, pearson=nan, precision_at_k={}, top_k_kendall={},
                         note=note)


def write_scores(report: ScoreReport, path: str | Path) -> Path:
    """Write `report` as ``naslid.scores/1`` JSON (temporary file, then rename); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json(path, report.to_json(), indent=2, allow_nan=False, trailing_newline=True)


def read_scores(path: str | Path) -> ScoreReport:
    """Read a ``naslid.scores/<major>`` file; refuse another major version."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"scores file {str(path)!r} not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"scores file {path} is not valid JSON: {error}") from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema != SCORES_SCHEMA:
        raise ValueError(f"{path} has schema {schema!r}; this naslid reads {SCORES_SCHEMA!r}")
    return ScoreReport(data["protocol"], tuple(RankingResult.from_json(result) for result in data["results"]))


def _lookup(values: Mapping[NB201Arch, float], arch: NB201Arch, what: str) -> float:
    try:
        return float(values[arch])
    except KeyError:
        raise KeyError(f"no {what} value for architecture {format_arch(arch)}") from None


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _none_to_nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)
