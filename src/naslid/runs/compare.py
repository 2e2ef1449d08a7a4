"""The paper's comparison in one call: SPOS, Few-shot NAS, GM-NAS and NAS-LID on the same data, seed and
schedule, ranked against the benchmark and searched with evolution; writes JSON, markdown and plots.

Layout: ``<run_dir>/<method>/`` is each method's partition run (resumable), with `proxy_scores.json` and
`search.json` once those phases finish; ``compare.json``, ``compare.md`` and ``plots/`` sit at the top.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import naslid
from naslid._file_mode import umask_file_mode
from naslid.bench import Benchmark, load_benchmark, rank_metrics, select_subset
from naslid.partition import JobRunner, separability
from naslid.runs.config import RunConfig
from naslid.runs.evaluate import RunEvaluator
from naslid.runs.lock import lock_run_directory, release_run_directory
from naslid.runs.partition import PartitionRun, remove_stale_temporaries
from naslid.runs.presets import ComparePlan, method_config
from naslid.search import evolutionary_search, load_search_result
from naslid.spaces import Arch, NB201Space, format_arch, parse_arch

logger = logging.getLogger(__name__)

COMPARE_SCHEMA = "naslid.compare/1"


@dataclass
class MethodOutcome:
    """What one method produced."""

    method: str
    run: PartitionRun
    seconds: dict[str, float] = field(default_factory=dict)
    scores: dict[Arch, float] = field(default_factory=dict)
    ranking: list[dict] = field(default_factory=list)
    search: dict = field(default_factory=dict)


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.fchmod(handle, umask_file_mode())  # mkstemp makes 0600 files
    with os.fdopen(handle, "w") as stream:
        json.dump(data, stream, indent=1, allow_nan=False)
        stream.write("\n")
    os.replace(temporary, path)


def _environment(device: torch.device) -> dict:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    return {"device": str(device), "device_name": name, "torch": torch.__version__, "naslid": naslid.__version__,
            "python": platform.python_version(), "cpu_threads": torch.get_num_threads()}


def _archs_to_score(plan: ComparePlan, benchmark: Benchmark | None, column: str | None, seed: int):
    """The subsets to rank on (over the whole space) and the architectures they need scored."""
    if benchmark is None:
        rng = np.random.default_rng(seed)
        everything = list(NB201Space().all())
        picks = rng.choice(len(everything), size=min(plan.sample_without_benchmark, len(everything)), replace=False)
        return [], [everything[i] for i in sorted(picks)], None
    truth = benchmark.ground_truth(column)
    subsets = [select_subset(spec, truth.values, benchmark.index_of, seed=seed) for spec in plan.ranking_subsets]
    archs = sorted({arch for subset in subsets for arch in subset.archs}, key=benchmark.index_of)
    return subsets, archs, truth


class _ScoreCache:
    """Proxy scores of one run, saved every `every` new scores so a killed run loses little."""

    def __init__(self, path: Path, protocol: dict, every: int = 50) -> None:
        self.path, self.protocol, self.every = path, protocol, every
        self.scores: dict[Arch, float] = {}
        if path.is_file():
            data = json.loads(path.read_text())
            self.scores = {parse_arch(key): float(value) for key, value in data["scores"].items()}
        self._unsaved = 0

    def add(self, arch: Arch, score: float) -> None:
        self.scores[arch] = score
        self._unsaved += 1
        if self._unsaved >= self.every:
            self.save()

    def save(self) -> None:
        _write_json(self.path, {"schema": "naslid.proxy_scores/1", "protocol": self.protocol,
                                "scores": {format_arch(a): s for a, s in self.scores.items()}})
        self._unsaved = 0


class _Timings:
    """Wall time per phase, added up over every call that worked on the run (resumes included)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seconds: dict[str, float] = json.loads(path.read_text()) if path.is_file() else {}

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds
        _write_json(self.path, self.seconds)


def compare_methods(
    run_dir: str | Path,
    config: RunConfig,
    plan: ComparePlan,
    benchmark_path: str | Path | None = None,
    column: str | None = None,
    progress: bool = False,
    runner: JobRunner | None = None,
) -> dict:
    """Run every method of `plan` under `config` and write the comparison; returns the results dict."""
    run_dir = Path(run_dir)
    start = time.perf_counter()
    for method in plan.methods:  # every name is checked before any work
        method_config(config, method)
    if len(set(plan.methods)) != len(plan.methods):
        raise ValueError(f"methods {list(plan.methods)} name a method twice; expected each at most once")
    took_lock = lock_run_directory(run_dir)  # one writer: the method folders are locked by their runs too
    remove_stale_temporaries(run_dir)
    benchmark = load_benchmark(benchmark_path) if benchmark_path else None
    column = (benchmark.column_info(column).column if benchmark else None)
    subsets, archs, truth = _archs_to_score(plan, benchmark, column, config.seed)
    outcomes: list[MethodOutcome] = []
    data = None
    for method in plan.methods:
        cfg = method_config(config, method)
        outcome = MethodOutcome(method, PartitionRun(run_dir / method, cfg, progress=progress, data=data,
                                                     runner=runner))
        data = outcome.run.data  # the same data (and split) for every method
        _run_method(outcome, archs, subsets, truth, benchmark, progress)
        outcomes.append(outcome)
    results = {
        "schema": COMPARE_SCHEMA,
        "protocol": {
            "methods": list(plan.methods),
            "data": config.data.to_dict(),
            "train_split": "train part of the seeded class-balanced split (split.json in each method's folder)",
            "proxy": outcomes[0].run.cfg.proxy.__dict__ | {"evaluated_on": "valid part of that split"},
            "ranking_subsets": [{"name": s.name, "rule": s.rule, "n": len(s)} for s in subsets],
            "ground_truth": truth.info.to_json() if truth else None,
            "benchmark": str(benchmark_path) if benchmark_path else None,
            "seed": config.seed,
            "lid": {"n": config.split.batch_size, "k": config.split.k, "similarity": config.split.similarity,
                    "edge_score": config.split.edge_score, "batches": config.split.batches},
            "schedule": config.schedule.to_dict(),
            "config": config.to_dict(),
            "plan": plan.to_dict(),
        },
        "environment": _environment(outcomes[0].run.device),
        "methods": {o.method: _method_summary(o) for o in outcomes},
        "separability": _separability(outcomes),
    }
    plots = run_dir / "plots"
    from naslid.runs import plots as plotting

    plot_start = time.perf_counter()
    results["plots"] = plotting.write_compare_plots(plots, outcomes, truth, plan, results["separability"],
                                                   subsets)
    results["seconds"] = {"plots": time.perf_counter() - plot_start, "total": time.perf_counter() - start}
    _write_json(run_dir / "compare.json", results)
    (run_dir / "compare.md").write_text(markdown_table(results))
    for outcome in outcomes:
        outcome.run.close()
    if took_lock:
        release_run_directory(run_dir)
    return results


def _run_method(outcome: MethodOutcome, archs, subsets, truth, benchmark, progress: bool) -> None:
    run = outcome.run
    timings = _Timings(run.run_dir / "timings.json")
    tick = time.perf_counter()
    run.run()
    timings.add("train_and_split", time.perf_counter() - tick)
    tick = time.perf_counter()
    evaluator = RunEvaluator(run)
    cache = _ScoreCache(run.run_dir / "proxy_scores.json", evaluator.protocol())
    missing = [arch for arch in archs if arch not in cache.scores]
    iterator = missing
    if progress and missing:
        from tqdm.auto import tqdm

        iterator = tqdm(missing, desc=f"{outcome.method}: evaluate", leave=False, dynamic_ncols=True)
    for arch in iterator:
        cache.add(arch, 100.0 * evaluator(arch))
    cache.save()
    timings.add("evaluate", time.perf_counter() - tick)
    outcome.scores = {arch: cache.scores[arch] for arch in archs}
    for subset in subsets:
        result = rank_metrics(cache.scores, truth, subset, proxy_description=evaluator.protocol()["proxy"])
        outcome.ranking.append(result.to_json())
    tick = time.perf_counter()
    search_path = run.run_dir / "search.json"
    if search_path.is_file():
        result = load_search_result(search_path)
    else:
        def objective(arch: Arch) -> float:  # evaluations are cached, so a killed search replays quickly
            if arch not in cache.scores:
                cache.add(arch, 100.0 * evaluator(arch))
            return cache.scores[arch]

        leaves = [leaf.subspace for leaf in run.tree.leaves()]
        result = evolutionary_search(objective, leaves, run.cfg.search, progress=progress)
        cache.save()
        result.save(search_path)
    timings.add("search", time.perf_counter() - tick)
    outcome.seconds = dict(timings.seconds)
    best = result.best_arch
    outcome.search = {
        "best_arch": format_arch(best),
        "proxy_score": result.best_score,
        "leaf": run.tree.leaf_for(best).id,
        "evaluations": result.num_evaluations,
        "ground_truth": _all_columns(benchmark, best),
    }


def _all_columns(benchmark: Benchmark | None, arch: Arch) -> dict | None:
    if benchmark is None:
        return None
    return {column: benchmark.value(arch, column) for column in benchmark.columns}


def _method_summary(outcome: MethodOutcome) -> dict:
    run = outcome.run
    splits = [node.split for node in run.tree.nodes.values() if node.split is not None]
    decisions = [s for s in splits if s.criterion not in ("few-shot",)]
    peaks = [s.peak_memory_bytes for s in decisions if s.peak_memory_bytes is not None]
    return {
        "leaves": len(run.tree.leaves()),
        "supernet_epochs": run.cfg.schedule.supernet_epochs(),
        "criterion": run.cfg.split.criterion if run.cfg.schedule.method == "split" else run.cfg.schedule.method,
        "seconds": outcome.seconds,
        "split_decisions": len(decisions),
        "split_seconds_mean": float(np.mean([s.seconds for s in decisions])) if decisions else None,
        "split_peak_memory_mib_max": max(peaks) / 2**20 if peaks else None,
        "ranking": outcome.ranking,
        "search": outcome.search,
        "run_dir": str(run.run_dir),
    }


def _separability(outcomes: list[MethodOutcome]) -> dict:
    """Per edge, the separability of each criterion's similarity matrices at the root (same supernet)."""
    table: dict[str, dict[str, float]] = {}
    for outcome in outcomes:
        root = outcome.run.tree.root.split
        if root is None or not root.similarities:
            continue
        table[outcome.method] = {edge: separability(np.array(entry["matrix"]))
                                 for edge, entry in root.similarities.items()}
    return table


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _describe_truth(truth: dict | None) -> str:
    if not truth:
        return "none given"
    return f"{truth['column']} of {truth['benchmark']} ({truth['epochs']} epochs, seeds: {truth['seeds']})"


def markdown_table(results: dict) -> str:
    """The comparison as a markdown report."""
    protocol = results["protocol"]
    lines = ["# naslid compare", ""]
    truth = protocol["ground_truth"]
    lines.append(f"Data: {protocol['data']['dataset']}; seed {protocol['seed']}; "
                 f"ground truth: {_describe_truth(truth)}; "
                 f"device: {results['environment']['device_name']} ({results['environment']['device']}).")
    lines.append("")
    subset_names = [s["name"] for s in protocol["ranking_subsets"]]
    header = ["method", "leaves", "supernet-epochs", "train+split s"]
    for name in subset_names:
        header += [f"tau {name}", f"rho {name}"]
    column = truth["column"] if truth else None
    header += ["best arch (EA)", "proxy %", f"GT {column} %" if column else "GT %", "split s", "split peak MiB"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for method, summary in results["methods"].items():
        row = [method, str(summary["leaves"]), str(summary["supernet_epochs"]),
               _fmt(summary["seconds"].get("train_and_split"), 1)]
        by_subset = {r["subset"]: r for r in summary["ranking"]}
        for name in subset_names:
            row += [_fmt(by_subset[name]["kendall_tau_b"]), _fmt(by_subset[name]["spearman"])]
        search = summary["search"]
        gt = search["ground_truth"] or {}
        test = gt.get(column) if column else None
        row += [f"`{search['best_arch']}`", _fmt(search["proxy_score"], 2), _fmt(test, 2),
                _fmt(summary["split_seconds_mean"], 2), _fmt(summary["split_peak_memory_mib_max"], 1)]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "tau: Kendall tau-b; rho: Spearman; train+split s: wall time over every call that worked on the "
              "run; split s: mean wall time of one split decision (all candidate edges); split peak MiB: CUDA "
              "peak over the decision (n/a on the CPU).", ""]
    for subset in protocol["ranking_subsets"]:
        lines.append(f"- subset `{subset['name']}` ({subset['n']} archs): {subset['rule']}")
    if results["separability"]:
        lines += ["", "## Separability at the root (coefficient of variation of off-diagonal similarities)", ""]
        methods = list(results["separability"])
        edges = list(next(iter(results["separability"].values())))
        lines.append("| edge | " + " | ".join(methods) + " |")
        lines.append("|---|" + "---|" * len(methods))
        for edge in edges:
            values = [_fmt(results["separability"][m].get(edge)) for m in methods]
            lines.append(f"| {edge} | " + " | ".join(values) + " |")
    lines += ["", "Plots: " + ", ".join(f"`{p}`" for p in results.get("plots", [])), ""]
    return "\n".join(lines)
