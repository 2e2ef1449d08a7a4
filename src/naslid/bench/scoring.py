"""Score proxy values against benchmark ground truth on declared subsets; the ``naslid.scores/1`` file.

Every result states its subset (and the rule that chose it), the ground-truth column with its epochs and
seeds, and how the proxy was measured. Inside a subset, architectures are in benchmark index order, which
is the tie-break for precision@k.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from naslid.atomic import write_json
from naslid.bench.loading import Benchmark
from naslid.bench.metrics import kendall_tau_b, pearson, precision_at_k, spearman, top_k_kendall
from naslid.bench.subsets import Subset, SubsetUnavailable, select_subset
from naslid.bench.table import ColumnInfo, GroundTruth
from naslid.registry import register
from naslid.spaces import NB201Arch, format_arch

SCORES_SCHEMA = "naslid.scores/1"
# k for precision@k and for Kendall tau inside the ground-truth top-k; a k above a subset's size is skipped.
DEFAULT_KS = (10, 100)


@dataclass(frozen=True)
class RankingMetric:
    """One ranking metric: `compute(proxy, truth)`, or `compute(proxy, truth, k)` for each k when `per_k`."""

    name: str  # its key in results and JSON
    definition: str
    compute: Callable[..., float]
    per_k: bool = False
    label: str = ""  # a short column title ("{k}" filled in per k); the name when empty
    column: str = ""  # its column in tables such as compare.csv ("{k}" filled in); the name ("{name}_{k}") when empty
    width: int = 0  # characters of its column in `naslid score`'s table; 0: from the title

    def title(self, k: int | None = None) -> str:
        return (self.label or self.name).format(k=k)

    def column_name(self, k: int | None = None) -> str:
        return (self.column or (f"{self.name}_{{k}}" if self.per_k else self.name)).format(k=k)


RANKING_METRICS: dict[str, RankingMetric] = {}


def register_ranking_metric(metric: RankingMetric, *, replace: bool = False) -> RankingMetric:
    """Add `metric` to `RANKING_METRICS`: every ranking computes it, files store it, `naslid score` prints it and
    compare.csv has its column. A name registered already with another metric is a ValueError unless `replace`."""
    register(RANKING_METRICS, metric.name, metric, replace=replace, kind="ranking metric")
    return metric


for _metric in (
    RankingMetric("kendall_tau_b", "Kendall tau-b (tie-corrected) between proxy and ground truth", kendall_tau_b,
                  label="tau-b", width=9),
    RankingMetric("spearman", "Spearman rank correlation, average ranks for ties", spearman, width=10),
    RankingMetric("pearson", "Pearson linear correlation", pearson, width=9),
    RankingMetric("precision_at_k", "|top-k by proxy & top-k by ground truth| / k; exactly k each, ties to the "
                  "lower index", precision_at_k, per_k=True, label="P@{k}", column="precision_at_{k}",
                  width=8),
    RankingMetric("top_k_kendall", "Kendall tau-b over the archs >= the k-th best ground truth (ties at the cut "
                  "included)", top_k_kendall, per_k=True, label="tau@top{k}", column="tau_at_top{k}",
                  width=12),
):
    register_ranking_metric(_metric)

_UNDEFINED = "null where a side is constant inside the subset"


def metric_definitions() -> dict[str, str]:
    """Each registered metric's definition, and what null means (stored in every scores file's protocol)."""
    return {**{name: metric.definition for name, metric in RANKING_METRICS.items()}, "undefined": _UNDEFINED}


@dataclass(frozen=True)
class RankingResult:
    """Ranking quality on one subset, with what was ranked against what.

    `metrics` maps a metric's name (`RANKING_METRICS`) to its value, or for a per-k metric to {k: value}; the
    built-in ones read as attributes too (`result.kendall_tau_b`). In JSON each metric is a key of the result.
    """

    subset: str
    rule: str
    n: int
    column: str
    proxy: str
    metrics: dict[str, float | dict[int, float]] = field(default_factory=dict)
    note: str | None = None  # why the subset could not be ranked (metrics are then NaN / null)

    def __getattr__(self, name: str) -> float | dict[int, float]:
        metrics = self.__dict__.get("metrics", {})
        if name in metrics:
            return metrics[name]
        if name in RANKING_METRICS:  # a result without it (an unranked subset): NaN, or no k
            return {} if RANKING_METRICS[name].per_k else math.nan
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def to_json(self) -> dict:
        data = {"subset": self.subset, "rule": self.rule, "n": self.n, "column": self.column, "proxy": self.proxy}
        for name, value in self.metrics.items():
            data[name] = ({str(k): _finite_or_none(v) for k, v in value.items()} if isinstance(value, Mapping)
                          else _finite_or_none(value))
        data["note"] = self.note
        return data

    @classmethod
    def from_json(cls, data: Mapping) -> RankingResult:
        """A result from its JSON; every key besides the subset's description is a metric (registered or not)."""
        described = ("subset", "rule", "n", "column", "proxy", "note")
        metrics = {name: ({int(k): _none_to_nan(v) for k, v in value.items()} if isinstance(value, Mapping)
                          else _none_to_nan(value))
                   for name, value in data.items() if name not in described}
        return cls(subset=data["subset"], rule=data["rule"], n=data["n"], column=data["column"], proxy=data["proxy"],
                   metrics=metrics, note=data.get("note"))


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
        metrics={name: ({k: metric.compute(proxy_values, truth_values, k) for k in ks if k <= n} if metric.per_k
                        else metric.compute(proxy_values, truth_values))
                 for name, metric in RANKING_METRICS.items()},
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
        "definitions": metric_definitions(),
    }
    return ScoreReport(protocol, tuple(results))


def _unavailable(spec: str, n: int, truth: GroundTruth, proxy_description: str, note: str) -> RankingResult:
    """The result of a subset that cannot be ranked: reported, with why, next to the others."""
    metrics = {name: {} if metric.per_k else math.nan for name, metric in RANKING_METRICS.items()}
    return RankingResult(subset=spec, rule="not formed", n=n, column=truth.info.describe(), proxy=proxy_description,
                         metrics=metrics, note=note)


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
