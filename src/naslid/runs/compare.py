"""The paper's comparison in one call: SPOS, Few-shot NAS, GM-NAS and NAS-LID on the same data, seed and
schedule, ranked against the benchmark and searched with evolution; writes JSON, markdown and plots.

Layout: ``<run_dir>/<method>/`` is each method's partition run (resumable), with `proxy_scores.json` and
`search.json` once those phases finish; ``compare.json``, ``compare.md``, ``compare.csv`` (one row per seed, method and
ranking subset: naslid.runs.results) and ``plots/`` sit at the top.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

import naslid
from naslid.atomic import copy_file, write_json, write_text
from naslid.bench import RANKING_METRICS, Benchmark, load_benchmark, rank_metrics, select_subset
from naslid.bench.paired import paired_difference
from naslid.bench.predictions import PROXY_SCORES_SCHEMA
from naslid.partition import CRITERIA, JobRunner, runner_slots, separability
from naslid.rankers import ScoringContext, get_ranker
from naslid.runs import configure
from naslid.runs.config import RunConfig, resolve_device
from naslid.runs.datasets import prepare_data, ranking_caveat
from naslid.runs.evaluate import RunEvaluator
from naslid.runs.lock import lock_run_directory, release_run_directory
from naslid.runs.opened import OpenedRun, memory_named
from naslid.runs.partition import PartitionRun
from naslid.runs.presets import ComparePlan
from naslid.runs.protocols import (
    PROTOCOLS,
    get_scale,
    method_config,
    method_folder,
    method_protocol_name,
    parse_method,
)
from naslid.runs.rank import data_context
from naslid.runs.results import compare_csv
from naslid.runs.run_directory import (
    COMPARE_CSV_FILE,
    COMPARE_FILE,
    COMPARE_MARKDOWN_FILE,
    COMPARE_SEARCH_FILE,
    PROXY_SCORES_FILE,
    SHARED_ROOT_FILE,
    TIMINGS_FILE,
    TREE_FILE,
    RunDirectory,
)
from naslid.runs.search import generations_for_budget, ranker_search, search_run
from naslid.runs.tracking import Tracking, select_tracking, tracking_overhead
from naslid.search import SearchConfig, load_search_result
from naslid.spaces import NB201Arch, NB201Space, format_arch, parse_arch
from naslid.train import TrainingDiverged, load_checkpoint

logger = logging.getLogger(__name__)

# 2: per-method protocols and steps per epoch, paired, split_reliability; 3: training-free rankers as methods (each
# summary's "kind"), the floor (params, flops) beside every comparison and every method paired against params
COMPARE_SCHEMA = "naslid.compare/3"



@dataclass
class MethodOutcome:
    """What one method produced."""

    method: str
    run: PartitionRun | None  # None for a training-free ranker
    seconds: dict[str, float] = field(default_factory=dict)
    scores: dict[NB201Arch, float] = field(default_factory=dict)
    ranking: list[dict] = field(default_factory=list)
    search: dict = field(default_factory=dict)
    reused_root: dict | None = None  # the shared root training this run started from
    curve: list[dict] = field(default_factory=list)  # tau while training (tracked subset)
    tracking_overhead: dict = field(default_factory=dict)
    folder: Path | None = None  # where its results are (a ranker's; a trained method's is its run directory)
    context: dict | None = None  # a ranker's scoring context (data, seed, network)


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, data, indent=1, allow_nan=False, trailing_newline=True)


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
    """Proxy scores of one run, saved every `every` new scores so a killed run loses little.

    The file records the proxy protocol its scores were computed under (split, images, BN calibration); scores of
    another protocol (a resumed comparison with other proxy settings) are dropped and computed again, never kept
    under the new protocol's label.
    """

    def __init__(self, path: Path, protocol: dict, every: int = 50) -> None:
        self.path, self.protocol, self.every = path, protocol, every
        self.scores: dict[NB201Arch, float] = {}
        self.discarded: dict | None = None  # the protocol of scores dropped because the settings changed
        if path.is_file():
            data = json.loads(path.read_text())
            if data.get("protocol") == protocol:
                self.scores = {parse_arch(key): float(value) for key, value in data["scores"].items()}
            else:
                self.discarded = data.get("protocol")
                logger.warning("%s holds scores of other proxy settings (%s; now %s): scoring again", path,
                               _changed(self.discarded, protocol), _changed(protocol, self.discarded))
        self._unsaved = 0

    def add(self, arch: NB201Arch, score: float) -> None:
        self.scores[arch] = score
        self._unsaved += 1
        if self._unsaved >= self.every:
            self.save()

    def save(self) -> None:
        _write_json(self.path, {"schema": PROXY_SCORES_SCHEMA, "protocol": self.protocol,
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


def with_seed(config: RunConfig, seed: int) -> RunConfig:
    """`config` with every training seed (initialisation, path sampling, split batches, search) set to `seed`;
    the train/valid split (the data seed) is kept, so seeds compare on the same data."""
    return configure.with_seed(config, seed, data=False)


def root_epochs(cfg: RunConfig) -> int:
    """Epochs a method trains its root supernet before its first split (all epochs for SPOS)."""
    points = cfg.schedule.split_points
    return points[0] if points else cfg.schedule.total_epochs


def steps_per_leaf_path(cfg: RunConfig, steps_per_epoch: int) -> int:
    """SGD steps on the way from the root to a leaf (the weights an architecture is scored with); a leaf that
    restarts from scratch counts only its own fine-tuning."""
    schedule = cfg.schedule
    if schedule.method != "spos" and schedule.finetune == "restart":
        return schedule.finetune_epochs * steps_per_epoch
    return schedule.total_epochs * steps_per_epoch


class SharedRoot:
    """The root supernet's training, done once per seed and handed to every method.

    Up to its first split every method trains the same root (same initialisation, data order, paths and
    learning-rate schedule), so the root is trained once in `folder` and a copy of its checkpoint at each
    method's split epoch starts that method's run. Runs that started already are left alone.
    """

    def __init__(self, folder: Path, configs: list[RunConfig], data, tracking: Tracking | None,
                 progress: bool) -> None:
        self.folder = folder
        self.epochs = sorted({root_epochs(cfg) for cfg in configs})
        root = replace(configs[0], schedule=replace(configs[0].schedule, method="spos"))
        self.run = PartitionRun(folder, root, progress=progress, data=data, tracking=tracking)
        for stale in (folder / "snapshots").glob("*.tmp"):  # a killed call's half copy (we hold the lock now)
            stale.unlink()

    def _path(self, epochs: int) -> Path:
        return self.folder / "snapshots" / f"root_epoch{epochs}.pt"

    def snapshot(self, epochs: int) -> Path:
        """The root's checkpoint after `epochs` epochs; the root trains on, keeping a copy at every epoch count
        some method needs, so a later method never asks for an epoch the root has passed."""
        for needed in [e for e in self.epochs if e <= epochs] or [epochs]:
            path = self._path(needed)
            if path.is_file():
                continue
            tick = time.perf_counter()
            checkpoint = self.folder / self.run.train_checkpoint(0, needed)
            if int(load_checkpoint(checkpoint)["epoch"]) != needed:
                raise ValueError(f"the shared root in {self.folder} is past epoch {needed} without a copy of it; "
                                 "remove that folder or use --no-share-root")
            path.parent.mkdir(parents=True, exist_ok=True)
            copy_file(checkpoint, path)  # atomic: a kill never leaves half a checkpoint under its name
            # recorded now: a call killed later would lose it (a resumed one finds the snapshot and trains nothing)
            _Timings(self.folder / TIMINGS_FILE).add("train", time.perf_counter() - tick)
        return self._path(epochs)

    def start(self, method_dir: Path, cfg: RunConfig) -> dict | None:
        """Seed a method's fresh run directory with the shared root; what was reused, or None."""
        target = RunDirectory(method_dir).checkpoint_path(0)
        if (method_dir / TREE_FILE).is_file() or target.is_file():
            record = method_dir / SHARED_ROOT_FILE
            return json.loads(record.read_text()) if record.is_file() else None
        epochs = root_epochs(cfg)
        source = self.snapshot(epochs)
        target.parent.mkdir(parents=True, exist_ok=True)
        reused = {"root_epochs": epochs, "source": str(source.relative_to(self.folder.parent))}
        _write_json(method_dir / SHARED_ROOT_FILE, reused)  # before the copy: a resumed call that finds the
        copy_file(source, target)  # checkpoint reads it; killed before the copy, the next call does both again
        return reused


def check_comparison(config: RunConfig, plan: ComparePlan) -> None:
    """What `compare_methods` checks before anything is written: the plan's names (it may have been changed since it
    was built) and every method's configuration (a variant's values, e.g. `nas-lid[k=-5]`), for every seed."""
    plan.check()
    for seed in plan.seeds or (config.seed,):
        seed_config = with_seed(config, seed)
        for method in plan.trained_methods():  # rankers were checked by plan.check
            method_config(seed_config, method, plan.protocols, plan.scale)


def compare_methods(
    run_dir: str | Path,
    config: RunConfig,
    plan: ComparePlan,
    benchmark_path: str | Path | None = None,
    column: str | None = None,
    progress: bool = False,
    runner: JobRunner | None = None,
    common_protocol: str = "ours",
) -> dict:
    """Run every method of `plan` under `config` (once per seed of the plan) and write the comparison.

    `common_protocol` names the published protocol `config` holds ("ours" when none, e.g. the cpu preset):
    reported for every method under `plan.protocols="common"`; under "own" each method reports its own.
    """
    run_dir = Path(run_dir)
    start = time.perf_counter()
    check_comparison(config, plan)
    took_lock = lock_run_directory(run_dir)  # one writer: the method folders are locked by their runs too
    runs: list[dict] = []  # filled as the seeds run: their runs are closed whatever happens
    try:
        return _compare_locked(run_dir, config, plan, benchmark_path, column, progress, runner, common_protocol,
                               start, runs)
    finally:
        for run in runs:
            for outcome in run["outcomes"]:
                if outcome.run is not None:
                    outcome.run.close()
            for shared in run["shared"]:
                shared.run.close()
        if took_lock:
            release_run_directory(run_dir)


def _compare_locked(run_dir: Path, config: RunConfig, plan: ComparePlan, benchmark_path, column, progress, runner,
                    common_protocol: str, start: float, runs: list[dict]) -> dict:
    RunDirectory(run_dir).remove_stale_temporaries()
    benchmark = load_benchmark(benchmark_path) if benchmark_path else None
    column = (benchmark.column_info(column).column if benchmark else None)
    subsets, archs, truth = _archs_to_score(plan, benchmark, column, config.seed)
    tracking = _tracking(plan, benchmark, column, config.seed)
    seeds = plan.seeds or (config.seed,)
    loaded: dict[str, object] = {}  # data by its settings: the same data (and split) for every method and seed
    for seed in seeds:
        seed_dir = run_dir if len(seeds) == 1 else run_dir / f"seed{seed}"
        seed_config = with_seed(config, seed)
        configs = {m: method_config(seed_config, m, plan.protocols, plan.scale) for m in plan.trained_methods()}
        roots = _shared_roots(seed_dir, configs, plan, loaded, tracking, progress)
        outcomes: list[MethodOutcome] = []
        shared_roots = list({id(r): r for r in roots.values()}.values())
        entry = {"seed": seed, "outcomes": outcomes, "shared": shared_roots}
        runs.append(entry)  # before the methods run, so that a failure still closes what they opened
        for method in plan.trained_methods():
            cfg = configs[method]
            shared = roots.get(method)
            method_dir = seed_dir / method_folder(method)  # never a path the variant's values make
            reused = shared.start(method_dir, cfg) if shared is not None else None
            run = PartitionRun(method_dir, cfg, progress=progress, data=loaded.get(_data_key(cfg)),
                               runner=runner, tracking=tracking)
            loaded[_data_key(cfg)] = run.data
            outcome = MethodOutcome(method, run, reused_root=reused)
            outcomes.append(outcome)
            with memory_named(cfg, f"running {method}"), _divergence_named(method, cfg, seed_config):
                _run_method(outcome, archs, subsets, truth, benchmark, progress)
            if tracking is not None and truth is not None:
                histories = run.node_histories()
                outcome.curve = run.ranking_curve(truth.values, histories)
                run.write_ranking_curve(outcome.curve)
                outcome.tracking_overhead = tracking_overhead(histories)
        if plan.ranker_methods():
            context = _ranking_context(seed_config, loaded, seed)
            for spelling in plan.ranker_methods():
                outcome = MethodOutcome(spelling, None, folder=seed_dir / method_folder(spelling),
                                        context=context.to_json())
                outcomes.append(outcome)
                _rank_method(outcome, context, archs, subsets, truth, benchmark, seed_config.search, progress)
        entry["shared_root_seconds"] = sum(_shared_seconds(r) for r in shared_roots)
    trained_outcomes = [o for o in runs[0]["outcomes"] if o.run is not None]
    first = trained_outcomes[0].run if trained_outcomes else None
    device = first.device if first is not None else resolve_device(config.device)
    results = {
        "schema": COMPARE_SCHEMA,
        "protocol": {
            "methods": list(plan.all_methods()),
            "data": config.data.to_dict(),
            "train_split": "train part of the seeded class-balanced split (split.json in each method's folder)",
            "proxy": (first.cfg.proxy if first is not None else config.proxy).__dict__
            | {"evaluated_on": "valid part of that split"},
            "floor": {"rankers": list(plan.floor), "paired_against": _floor_name(plan),
                      "what": "training-free rankers every comparison reports: what a user gets with no training"},
            "ranking_subsets": [{"name": s.name, "rule": s.rule, "n": len(s)} for s in subsets],
            "ground_truth": truth.info.to_json() if truth else None,
            "ranking_caveat": ranking_caveat(config.data.dataset, truth.info.column) if truth else None,
            "benchmark": str(benchmark_path) if benchmark_path else None,
            "seeds": list(seeds),
            "seed_varies": "supernet initialisation, path sampling, split batches and search; the train/valid "
                           f"split is the same for every seed (data seed {config.data.seed})",
            "lid": {"n": config.split.batch_size, "k": config.split.k, "similarity": config.split.similarity,
                    "edge_score": config.split.edge_score, "batches": config.split.batches},
            "steps_per_epoch": {o.method: len(o.run.data.train_loader) for o in trained_outcomes},
            "protocols": plan.protocols,
            "scale": get_scale(plan.scale).to_json() if plan.protocols == "own" else None,
            "method_protocols": {o.method: (_method_protocol(o.method, o.run.cfg, len(o.run.data.train_loader), plan,
                                                             common_protocol) if o.run is not None
                                            else _ranker_protocol(o))
                                 for o in runs[0]["outcomes"]},
            "tracking": tracking.to_json() | {"archs": len(tracking.archs)} if tracking else None,
            "shared_root": plan.share_root and len(plan.trained_methods()) > 1,
            "schedule": config.schedule.to_dict(),
            "config": config.to_dict(),
            "plan": plan.to_dict(),
        },
        "environment": _environment(device),
        "runs": [{"seed": r["seed"], "shared_root_seconds": r["shared_root_seconds"],
                  "methods": {o.method: _method_summary(o) for o in r["outcomes"]},
                  "separability": _separability(r["outcomes"]),
                  "split_reliability": _reliability(r["outcomes"])} for r in runs],
    }
    results["methods"] = _aggregate(results["runs"], plan.all_methods())
    results["separability"] = results["runs"][0]["separability"]
    results["paired"] = _paired(results["methods"], [s.name for s in subsets], list(seeds), plan.control,
                                _floor_name(plan))
    plot_start = time.perf_counter()
    results["plots"] = _write_plots(run_dir, runs[0]["outcomes"], truth, plan, results, subsets) if plan.plots else []
    results["seconds"] = {"plots": time.perf_counter() - plot_start, "total": time.perf_counter() - start}
    _write_json(run_dir / COMPARE_FILE, results)
    write_text(run_dir / COMPARE_MARKDOWN_FILE, markdown_table(results))
    write_text(run_dir / COMPARE_CSV_FILE, compare_csv(results))
    return results


def _write_plots(run_dir: Path, outcomes: list[MethodOutcome], truth, plan: ComparePlan, results: dict,
                 subsets: list) -> list[str]:
    from naslid.runs import plots as plotting

    paths = plotting.write_compare_plots(run_dir / "plots", outcomes, truth, plan, results["separability"],
                                         subsets, curves={m: s.get("curve") for m, s in results["methods"].items()})
    paired_plot = plotting.write_paired_plot(run_dir / "plots" / "paired_differences.png", results["paired"],
                                             results["protocol"].get("ranking_caveat"))
    floor_plot = plotting.write_paired_plot(run_dir / "plots" / "paired_vs_floor.png", results["paired"],
                                            results["protocol"].get("ranking_caveat"), role="against_floor")
    reliability_plot = plotting.write_reliability_plot(run_dir / "plots" / "split_reliability.png",
                                                       results["runs"][0]["split_reliability"])
    return paths + [path for path in (paired_plot, floor_plot, reliability_plot) if path is not None]


def _floor_name(plan: ComparePlan) -> str | None:
    """The ranker every method is paired against (params: the free floor), as spelled in the results."""
    return get_ranker(plan.floor[0]).spelling if plan.floor else None


def _ranking_context(config: RunConfig, loaded: dict, seed: int) -> ScoringContext:
    """The training-free rankers' context for one seed: the comparison's network freshly initialised from `seed`,
    and a batch of unaugmented training images of the comparison's split (its methods' data, loaded once)."""
    key = _data_key(config)
    data = loaded.get(key) or next(iter(loaded.values()), None)
    if data is None:
        data = prepare_data(config.data, config.train.batch_size, resolve_device(config.device))
        loaded[key] = data
    return data_context(config.search_space, config.network, data, seed, str(resolve_device(config.device)))


def _ranker_protocol(outcome: MethodOutcome) -> dict:
    ranker = get_ranker(outcome.method)
    return {"protocol": "training-free", "ranker": ranker.to_json(), "context": outcome.context,
            "supernet_epochs": 0, "sgd_steps_per_leaf_path": 0, "sgd_steps_total": 0}


def _rank_method(outcome: MethodOutcome, context: ScoringContext, archs, subsets, truth, benchmark,
                 search_config: SearchConfig, progress: bool) -> None:
    """A training-free ranker as a compared method: it scores the ranked subsets and searches the whole space with
    the comparison's search settings (no training, nothing shared). Scores and search are kept in its folder."""
    ranker = get_ranker(outcome.method)
    folder = outcome.folder
    timings = _Timings(folder / TIMINGS_FILE)
    tick = time.perf_counter()
    cache = _ScoreCache(folder / PROXY_SCORES_FILE, {"proxy": f"ranker {ranker.spelling}: {ranker.definition}",
                                                       "ranker": ranker.to_json(), "context": outcome.context})
    if ranker.relative:  # ranks among the scored architectures: all of them at once, never in part
        if any(arch not in cache.scores for arch in archs):
            for arch, score in zip(archs, ranker.score_many(archs, context), strict=True):
                cache.scores[arch] = score
    else:
        missing = [arch for arch in archs if arch not in cache.scores]
        for start in range(0, len(missing), cache.every):
            part = missing[start:start + cache.every]
            for arch, score in zip(part, ranker.score_many(part, context), strict=True):
                cache.add(arch, score)
    cache.save()
    timings.add("rank", time.perf_counter() - tick)
    outcome.scores = {arch: cache.scores[arch] for arch in archs}
    for subset in subsets:
        result = rank_metrics(cache.scores, truth, subset, proxy_description=f"ranker {ranker.spelling}")
        outcome.ranking.append(result.to_json())
    tick = time.perf_counter()
    search_path = folder / COMPARE_SEARCH_FILE
    result = load_search_result(search_path) if search_path.is_file() else None
    if result is not None and (result.settings != generations_for_budget(search_config).to_dict()
                               or result.protocol.get("context") != context.to_json()):
        logger.warning("%s was searched with other settings: searching again", search_path)
        result = None  # a resumed comparison with another budget or seed searches again, never relabels
    if result is None:
        result = ranker_search(ranker, context, "evolution", search_config, progress=progress)
        result.save(search_path)
    timings.add("search", time.perf_counter() - tick)
    outcome.seconds = dict(timings.seconds)
    best = result.best_arch
    outcome.search = {"best_arch": format_arch(best), "proxy_score": result.best_score, "leaf": None,
                      "evaluations": result.num_evaluations, "settings": result.settings,
                      "ground_truth": _all_columns(benchmark, best)}


@contextmanager
def _divergence_named(method: str, cfg: RunConfig, common: RunConfig) -> Iterator[None]:
    """A method's training that diverges names the method, and, when the method's learning rate is its own (a
    variant's or its protocol's, which --lr does not reach), says to lower it there."""
    try:
        yield
    except TrainingDiverged as error:
        rate = cfg.train.learning_rate
        advice = error.advice
        if rate != common.train.learning_rate:
            variant = parse_method(method)
            overrides = [(k, v) for k, v in variant.overrides if k != "learning-rate"]
            overrides.append(("learning-rate", f"{rate / 10:g}"))
            spelling = f"{variant.method.name}[{','.join(f'{k}={v}' for k, v in overrides)}]"
            advice = (f"{method} trains at learning rate {rate:g}, its own setting (--lr does not change it): lower "
                      f"it in the method's spelling, e.g. {spelling}")
        raise TrainingDiverged(f"{method}: {error.detail}", advice) from None


def _data_key(cfg: RunConfig) -> str:
    """What decides a run's loaded data: methods whose keys are equal share one copy (and one split)."""
    return json.dumps([cfg.data.to_dict(), cfg.train.batch_size, cfg.train.channels_last, cfg.device],
                      sort_keys=True)


def _root_key(cfg: RunConfig) -> str:
    """What decides a root supernet's training up to its first split: methods whose keys are equal train the
    same root (initialisation, data order, paths, learning rates)."""
    whole = cfg.to_dict()
    return json.dumps({name: whole[name] for name in ("search_space", "data", "network", "train", "space", "seed")},
                      sort_keys=True) + str(cfg.schedule.total_epochs) + cfg.device


def _shared_roots(seed_dir: Path, configs: dict[str, RunConfig], plan: ComparePlan, loaded: dict,
                  tracking: Tracking | None, progress: bool) -> dict[str, SharedRoot]:
    """One SharedRoot per group of methods whose roots train alike: all of them under common protocols
    (`shared_root/`), those of one protocol under own protocols (`shared_root_<protocol>/`)."""
    if not plan.share_root:
        return {}
    groups: dict[str, list[str]] = {}
    for method, cfg in configs.items():
        groups.setdefault(_root_key(cfg), []).append(method)
    groups = {key: methods for key, methods in groups.items() if len(methods) > 1}
    roots, used = {}, set()
    for methods in groups.values():
        if plan.protocols == "common" and len(groups) == 1:
            name = "shared_root"
        else:  # several roots (own protocols, or variants that change the training): named by protocol
            name = f"shared_root_{method_protocol_name(methods[0], plan.protocols, 'common')}"
            name = name if name not in used else f"{name}_{len(used)}"
        used.add(name)
        cfg = configs[methods[0]]
        root = SharedRoot(seed_dir / name, [configs[m] for m in methods], loaded.get(_data_key(cfg)), tracking,
                          progress)
        loaded[_data_key(cfg)] = root.run.data
        roots.update({m: root for m in methods})
    return roots


def _shared_seconds(shared: SharedRoot) -> float:
    """Seconds spent training the shared root, added up over every call (resumes included)."""
    return _Timings(shared.folder / TIMINGS_FILE).seconds.get("train", 0.0)


def _tracking(plan: ComparePlan, benchmark: Benchmark | None, column: str | None, seed: int) -> Tracking | None:
    if plan.track_subset is None:
        return None
    if benchmark is None:
        logger.warning("no benchmark: the ranking is not tracked while training (%s)", plan.track_subset)
        return None
    return select_tracking(benchmark, plan.track_subset, plan.track_every, seed, column)


def _method_protocol(method: str, cfg: RunConfig, steps_per_epoch: int, plan: ComparePlan,
                     common_protocol: str) -> dict:
    schedule = cfg.schedule
    name = method_protocol_name(method, plan.protocols, common_protocol)
    return {
        "protocol": name,
        "protocol_settings": PROTOCOLS[name].to_json() if name in PROTOCOLS else None,
        "steps_per_epoch": steps_per_epoch,
        "batch_size": cfg.train.batch_size,
        "training_images": steps_per_epoch * cfg.train.batch_size,
        "split_points": list(schedule.split_points),
        "criterion": cfg.split.criterion if schedule.method == "split" else schedule.method,
        "edge_score": cfg.split.edge_score if schedule.method == "split" else None,
        "split_batches": cfg.split.measured_batches if schedule.method == "split" else None,
        "gradient_parameters": (cfg.split.gradient_parameters if CRITERIA[cfg.split.criterion].uses_gradients
                                else None),
        "finetune": schedule.finetune if schedule.method != "spos" else None,
        "supernet_epochs": schedule.supernet_epochs(),
        "sgd_steps_per_leaf_path": steps_per_leaf_path(cfg, steps_per_epoch),
        "sgd_steps_total": schedule.supernet_epochs() * steps_per_epoch,
        "config": cfg.to_dict(),  # every value the method ran with (a scaled protocol's epochs included)
    }


def _run_method(outcome: MethodOutcome, archs, subsets, truth, benchmark, progress: bool) -> None:
    run = outcome.run
    timings = _Timings(run.run_dir / TIMINGS_FILE)
    tick = time.perf_counter()
    run.run()
    timings.add("train_and_split", time.perf_counter() - tick)
    tick = time.perf_counter()
    evaluator = RunEvaluator(run)
    cache = _ScoreCache(run.run_dir / PROXY_SCORES_FILE, evaluator.protocol())
    missing = [arch for arch in archs if arch not in cache.scores]
    bar = None
    if progress and missing:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(missing), desc=f"{outcome.method}: evaluate", leave=False, dynamic_ncols=True)
    # in chunks (each split over the runner's workers), saved after each so that a killed run loses little
    chunk = cache.every * runner_slots(run.runner)
    for start in range(0, len(missing), chunk):
        part = missing[start:start + chunk]
        for arch, score in zip(part, evaluator.evaluate_many(part), strict=True):
            cache.add(arch, 100.0 * score)
        if bar is not None:
            bar.update(len(part))
    if bar is not None:
        bar.close()
    cache.save()
    timings.add("evaluate", time.perf_counter() - tick)
    outcome.scores = {arch: cache.scores[arch] for arch in archs}
    for subset in subsets:
        result = rank_metrics(cache.scores, truth, subset, proxy_description=evaluator.protocol()["proxy"])
        outcome.ranking.append(result.to_json())
    tick = time.perf_counter()
    search_path = run.run_dir / COMPARE_SEARCH_FILE
    result = load_search_result(search_path) if search_path.is_file() else None
    if result is not None and not _search_matches(result, run, evaluator.protocol()):
        logger.warning("%s was searched with other settings (%s; now %s): searching again", search_path,
                       _changed(result.settings, generations_for_budget(run.cfg.search).to_dict()),
                       _changed(generations_for_budget(run.cfg.search).to_dict(), result.settings))
        result = None
    if result is None:
        def objective_batch(batch: list[NB201Arch]) -> list[float]:  # cached, so a killed search replays quickly
            new = [arch for arch in batch if arch not in cache.scores]
            for arch, score in zip(new, evaluator.evaluate_many(new), strict=True):
                cache.add(arch, 100.0 * score)
            return [cache.scores[arch] for arch in batch]

        result = search_run(run, "evolution", objective_batch=objective_batch, progress=progress)
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
        "settings": result.settings,  # what the search ran with, read from its own file
        "ground_truth": _all_columns(benchmark, best),
    }


def _changed(ours: object, theirs: object) -> str:
    """The entries of `ours` that `theirs` does not share, for a log line."""
    if not isinstance(ours, dict) or not isinstance(theirs, dict):
        return repr(ours)
    return ", ".join(f"{key}={ours[key]!r}" for key in ours if theirs.get(key) != ours[key]) or "the same"


def _search_matches(result, run: OpenedRun, proxy: dict) -> bool:
    """Whether a stored search ran under the run's search settings and proxy protocol now: a resumed comparison with
    another budget, seed or proxy searches again rather than relabel an old result."""
    wanted = generations_for_budget(run.cfg.search).to_dict()
    return result.settings == wanted and all(result.protocol.get(key) == value for key, value in proxy.items())


def _all_columns(benchmark: Benchmark | None, arch: NB201Arch) -> dict | None:
    if benchmark is None:
        return None
    return {column: benchmark.value(arch, column) for column in benchmark.columns}


def _method_summary(outcome: MethodOutcome) -> dict:
    run = outcome.run
    if run is None:
        return {"kind": "training-free", "leaves": 0, "supernet_epochs": 0, "criterion": "training-free",
                "seconds": outcome.seconds, "split_decisions": 0, "split_seconds_mean": None,
                "split_peak_memory_mib_max": None, "ranking": outcome.ranking, "search": outcome.search,
                "run_dir": str(outcome.folder), "reused_root": None, "curve": [], "tracking_overhead": None}
    splits = [node.split for node in run.tree.nodes.values() if node.split is not None]
    decisions = [s for s in splits if s.criterion in CRITERIA]  # measured by a criterion; not Few-shot's fixed split
    peaks = [s.peak_memory_bytes for s in decisions if s.peak_memory_bytes is not None]
    return {
        "kind": "trained",
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
        "reused_root": outcome.reused_root,
        "curve": outcome.curve,
        "tracking_overhead": outcome.tracking_overhead or None,
    }


def _spread(values: list[float]) -> dict:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    if not finite:
        return {"mean": None, "std": None, "min": None, "max": None, "values": values}
    return {"mean": float(np.mean(finite)), "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0,
            "min": float(min(finite)), "max": float(max(finite)), "values": values}


# the metrics whose own key in compare.json's per-method ranking holds the mean over seeds (the others: seed 0's)
_MEAN_IN_PLACE = ("kendall_tau_b", "spearman")


def _aggregate(runs: list[dict], methods) -> dict:
    """Per method, the first seed's summary with, beside every registered ranking metric, `<metric>_seeds`: its
    per-seed values, mean and spread (a per-k metric's, per k). Kendall tau-b and Spearman themselves read their
    mean; the other metrics keep the first seed's value, as compare.json had them before. The tau curve is
    averaged over seeds."""
    table = {}
    for method in methods:
        summaries = [run["methods"][method] for run in runs]
        merged = dict(summaries[0])
        ranking = []
        for position, first in enumerate(summaries[0]["ranking"]):
            entry = dict(first)
            for name in RANKING_METRICS:
                if name not in first:
                    continue
                values = [s["ranking"][position].get(name) for s in summaries]
                if isinstance(first[name], dict):  # a per-k metric: {k: value}
                    entry[f"{name}_seeds"] = {k: _spread([(v or {}).get(k) for v in values]) for k in first[name]}
                else:
                    entry[f"{name}_seeds"] = _spread(values)
                if name in _MEAN_IN_PLACE:
                    entry[name] = entry[f"{name}_seeds"]["mean"]
            ranking.append(entry)
        merged["ranking"] = ranking
        merged["search_by_seed"] = [s["search"] for s in summaries]
        merged["curve"] = _mean_curve([s["curve"] for s in summaries])
        merged["seconds_by_seed"] = [s["seconds"] for s in summaries]
        table[method] = merged
    return table


def _mean_curve(curves: list[list[dict]]) -> list[dict]:
    if not curves or not all(curves):
        return []
    epochs = sorted(set.intersection(*({point["epoch"] for point in curve} for curve in curves)))
    out = []
    for epoch in epochs:
        points = [next(p for p in curve if p["epoch"] == epoch) for curve in curves]
        taus = _spread([p["kendall_tau_b"] for p in points])
        out.append({"epoch": epoch, "n": points[0]["n"], "kendall_tau_b": taus["mean"],
                    "kendall_tau_b_std": taus["std"], "kendall_tau_b_seeds": taus["values"],
                    "spearman": _spread([p["spearman"] for p in points])["mean"]})
    return out


PAIRED_ROLES = ("against_control", "against_reference", "against_floor")


def _paired(methods: dict, subsets: list[str], seeds: list[int], control: str, floor: str | None = None) -> dict:
    """Every method's Kendall tau minus the control's, minus SPOS's (the reference) and minus the floor's (params,
    no training), paired by seed, per subset: mean, 95% bootstrap interval over seeds and the seeds better
    (naslid.bench.paired)."""
    out: dict = {"control": control if control in methods else None,
                 "reference": "spos" if "spos" in methods and control != "spos" else None,
                 "floor": floor if floor in methods else None,
                 "against_control": {}, "against_reference": {}, "against_floor": {}}
    for role, baseline in (("against_control", out["control"]), ("against_reference", out["reference"]),
                           ("against_floor", out["floor"])):
        if baseline is None:
            continue
        for method in methods:
            if method == baseline:
                continue
            rows = {}
            for position, name in enumerate(subsets):
                ours = methods[method]["ranking"][position]["kendall_tau_b_seeds"]["values"]
                theirs = methods[baseline]["ranking"][position]["kendall_tau_b_seeds"]["values"]
                rows[name] = paired_difference(ours, theirs, seeds).to_json()
            out[role][method] = rows
    return out


def _reliability(outcomes: list[MethodOutcome]) -> dict:
    """Per method, every split decision's bootstrap evidence: the chosen point, how often the resampled
    measurement batches choose it and recur its grouping, and every point's share (naslid.partition.reliability)."""
    table = {}
    for outcome in outcomes:
        if outcome.run is None:
            continue
        rows = []
        for node in sorted(outcome.run.tree.nodes.values(), key=lambda n: n.id):
            record = node.split
            if record is None or not record.reliability:
                continue
            edges = record.reliability["edges"]
            chosen = edges[record.point_name]
            rows.append({"node": node.id, "point": record.point_name, "groups": record.groups,
                         "chosen_share": chosen["chosen_share"], "grouping_recurrence": chosen["grouping_recurrence"],
                         "resamples": record.reliability["resamples"],
                         "shares": {name: edge["chosen_share"] for name, edge in edges.items()},
                         "recurrence": {name: edge["grouping_recurrence"] for name, edge in edges.items()}})
        if rows:
            table[outcome.method] = rows
    return table


def _separability(outcomes: list[MethodOutcome]) -> dict:
    """Per edge, the separability of each criterion's similarity matrices at the root (same supernet)."""
    table: dict[str, dict[str, float]] = {}
    for outcome in outcomes:
        if outcome.run is None:
            continue
        root = outcome.run.tree.root.split
        if root is None or not root.similarities:
            continue
        criterion = CRITERIA.get(root.criterion)
        if criterion is not None and criterion.is_control:  # the control's similarities are noise
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


def _tau_cell(entry: dict, key: str = "kendall_tau_b") -> str:
    spread = entry.get(f"{key}_seeds")
    if spread and len(spread["values"]) > 1 and spread["mean"] is not None:
        return f"{spread['mean']:.3f} ± {spread['std']:.3f}"
    return _fmt(entry[key])


def floor_verdicts(results: dict) -> list[dict]:
    """Each method's Kendall tau beside the floor's (params: a parameter count, no training) on every subset: the
    paired difference and a verdict, "above", "below" or "no difference we can see" (its 95% interval over seeds
    decides; with one seed the sign, said as one seed)."""
    paired = results.get("paired") or {}
    floor = paired.get("floor")
    rows = []
    for method, subsets in (paired.get("against_floor") or {}).items():
        for subset, row in subsets.items():
            if row.get("mean") is None:
                continue
            if row.get("interval") is None:
                verdict = ("above" if row["mean"] > 0 else "below" if row["mean"] < 0 else "level with") + \
                    " the floor (one seed)"
            else:
                low, high = row["interval"]
                verdict = "above the floor" if low > 0 else "below the floor" if high < 0 else \
                    "no difference from the floor we can see"
            mine = next(r for r in results["methods"][method]["ranking"] if r["subset"] == subset)
            theirs = next(r for r in results["methods"][floor]["ranking"] if r["subset"] == subset)
            rows.append({"method": method, "subset": subset, "tau": mine["kendall_tau_b"],
                         "floor_tau": theirs["kendall_tau_b"], "difference": row["mean"], "interval": row["interval"],
                         "seeds": row["n"], "verdict": verdict, "floor": floor})
    return rows


def markdown_table(results: dict) -> str:
    """The comparison as a markdown report."""
    protocol = results["protocol"]
    seeds = protocol.get("seeds", [protocol.get("seed")])
    lines = ["# naslid compare", ""]
    truth = protocol["ground_truth"]
    lines.append(f"Data: {protocol['data']['dataset']}"
                 + (f" at {protocol['data']['resolution']}px" if protocol["data"].get("resolution") else "")
                 + f"; seeds {', '.join(str(s) for s in seeds)} ({protocol.get('seed_varies', '')}); "
                 f"ground truth: {_describe_truth(truth)}; "
                 f"device: {results['environment']['device_name']} ({results['environment']['device']}).")
    lines.append("")
    if protocol.get("ranking_caveat"):
        lines += [f"**Caveat: {protocol['ranking_caveat']}.**", ""]
    subset_names = [s["name"] for s in protocol["ranking_subsets"]]
    header = ["method", "protocol", "leaves", "supernet-epochs", "SGD steps / leaf path", "SGD steps total",
              "train+split s"]
    for name in subset_names:
        header += [f"tau {name}", f"rho {name}"]
    column = truth["column"] if truth else None
    header += ["best arch (EA, first seed)", "proxy % (ranker: score)", f"GT {column} %" if column else "GT %",
               "split s", "split peak MiB"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    method_protocols = protocol.get("method_protocols", {})
    for method, summary in results["methods"].items():
        own = method_protocols.get(method, {})
        steps, total = own.get("sgd_steps_per_leaf_path"), own.get("sgd_steps_total")
        seconds = [s.get("train_and_split") for s in summary.get("seconds_by_seed", [summary["seconds"]])]
        row = [method, own.get("protocol", "n/a"), str(summary["leaves"]), str(summary["supernet_epochs"]),
               f"{steps:,}" if steps else "n/a", f"{total:,}" if total else "n/a",
               _fmt(float(np.mean([s for s in seconds if s is not None])) if any(seconds) else None, 1)]
        by_subset = {r["subset"]: r for r in summary["ranking"]}
        for name in subset_names:
            row += [_tau_cell(by_subset[name]), _tau_cell(by_subset[name], "spearman")]
        search = summary["search"]
        gt = search["ground_truth"] or {}
        test = gt.get(column) if column else None
        row += [f"`{search['best_arch']}`", _fmt(search["proxy_score"], 2), _fmt(test, 2),
                _fmt(summary["split_seconds_mean"], 2), _fmt(summary["split_peak_memory_mib_max"], 1)]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "tau: Kendall tau-b; rho: Spearman" + (" (mean ± standard deviation over seeds)" if len(seeds) > 1
              else "") + "; train+split s: wall time of the method's own training and splits (mean over seeds; "
              "the shared root training is listed below); split s: mean wall time of one split decision (all "
              "candidate edges); split peak MiB: CUDA peak over the decision (n/a on the CPU).", ""]
    for subset in protocol["ranking_subsets"]:
        lines.append(f"- subset `{subset['name']}` ({subset['n']} archs): {subset['rule']}")
    verdicts = floor_verdicts(results)
    if verdicts:
        lines += ["", f"## Against the floor: `{verdicts[0]['floor']}` (a parameter count: no data, no training)", "",
                  "| method | subset | tau | floor tau | difference | verdict |", "|---|---|---|---|---|---|"]
        lines += [f"| {row['method']} | `{row['subset']}` | {_fmt(row['tau'])} | {_fmt(row['floor_tau'])} | "
                  f"{row['difference']:+.3f} | {row['verdict']} |" for row in verdicts]
    lines += _protocol_lines(protocol)
    shared = [run.get("shared_root_seconds", 0.0) for run in results.get("runs", [])]
    if protocol.get("shared_root"):
        reused = {m: s.get("reused_root") for m, s in results["methods"].items() if s.get("reused_root")}
        lines += ["", "Shared root training: every method starts from one root supernet trained once per seed "
                  f"({_fmt(float(np.mean(shared)), 1)} s per seed) up to its first split: "
                  + ", ".join(f"{m} {r['root_epochs']} epochs" for m, r in reused.items()) + "."]
    lines += _paired_lines(results.get("paired", {}), protocol.get("ranking_caveat"))
    lines += _reliability_lines(results.get("runs", []))
    lines += _curve_lines(results["methods"], protocol.get("tracking"))
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


def _protocol_lines(protocol: dict) -> list[str]:
    """Which protocol each method ran under, and what each published one is (its settings are in compare.json)."""
    per_method = protocol.get("method_protocols", {})
    if not per_method:
        return []
    mode = protocol.get("protocols", "common")
    scale = protocol.get("scale")
    lines = ["", "## Protocols", "",
             ("Each method ran on its own paper's protocol" if mode == "own" else
              "Every method ran on one common protocol, with only the settings that make the method")
             + (f", at the `{scale['name']}` scale ({scale['description']})" if scale else "") + ":", ""]
    described = set()
    for method, entry in per_method.items():
        name = entry.get("protocol", "ours")
        if name == "training-free":
            context = entry.get("context") or {}
            lines.append(f"- {method}: training-free, {entry['ranker']['definition']}; network initialised from seed "
                         f"{context.get('seed')} on {context.get('data')}")
            continue
        lines.append(f"- {method}: `{name}`, batch {entry.get('batch_size')} on {entry.get('training_images'):,} "
                     f"training images ({entry.get('steps_per_epoch')} steps per epoch), leaves start "
                     f"`{entry.get('finetune') or 'n/a'}`")
        settings = entry.get("protocol_settings")
        if settings and name not in described:
            described.add(name)
            lines.append(f"  - `{name}`: {settings['description']}")
            lines += [f"  - differs from its source: {text}" for text in settings.get("differences", [])]
    lines += ["", "Every value of a published protocol and the file it comes from: `protocol.method_protocols` in "
              "compare.json."]
    return lines


def _paired_lines(paired: dict, caveat: str | None = None) -> list[str]:
    if not paired or not any(paired.get(role) for role in PAIRED_ROLES):
        return []
    lines = []
    titles = {"against_control": "the control", "against_reference": "SPOS (reference)",
              "against_floor": "the floor (a parameter count, no training)"}
    for role in PAIRED_ROLES:
        baseline = paired.get({"against_control": "control", "against_reference": "reference",
                               "against_floor": "floor"}[role])
        rows = paired.get(role) or {}
        if not rows:
            continue
        title = titles[role]
        lines += ["", f"## Paired by seed: Kendall tau minus {title}, `{baseline}`", "",
                  "Same seed, data and (where the protocols allow) root training and split batches; mean over seeds, "
                  "95% percentile-bootstrap interval of the mean over seeds, seeds where the method is above. With "
                  "few seeds the interval is optimistic: it never reaches beyond the smallest and largest difference."
                  + (f" Caveat: {caveat}." if caveat else ""),
                  "", "| method | subset | mean difference | 95% interval | seeds better | per seed |",
                  "|---|---|---|---|---|---|"]
        for method, subsets in rows.items():
            for subset, row in subsets.items():
                if row["mean"] is None:
                    continue
                if row["interval"] is None:
                    interval = "n/a (one seed)"
                else:
                    low, high = row["interval"]
                    verdict = " (above zero)" if low > 0 else " (below zero)" if high < 0 else ""
                    interval = f"[{low:+.3f}, {high:+.3f}]{verdict}"
                per_seed = ", ".join(f"{d:+.3f}" for d in row["differences"])
                lines.append(f"| {method} | `{subset}` | {row['mean']:+.3f} | {interval} | "
                             f"{row['better']} of {row['n']} | {per_seed} |")
    return lines


def _reliability_lines(runs: list[dict]) -> list[str]:
    rows = [(run["seed"], method, decision) for run in runs
            for method, decisions in (run.get("split_reliability") or {}).items() for decision in decisions]
    if not rows:
        return []
    resamples = rows[0][2]["resamples"]
    lines = ["", "## How sure each split is", "",
             f"Each decision's measurement batches resampled {resamples} times (no new forward pass): how often "
             "the chosen point would still be chosen, and how often its grouping recurs; the runner-up is the point "
             "chosen most often otherwise.", "",
             "| seed | method | node | split point | groups | chosen in | grouping recurs in | runner-up |",
             "|---|---|---|---|---|---|---|---|"]
    for seed, method, decision in rows:
        others = {name: share for name, share in decision["shares"].items() if name != decision["point"]}
        runner = max(others, key=others.get) if others else None
        runner_text = f"{runner} ({100 * others[runner]:.0f}%)" if runner and others[runner] > 0 else "none"
        groups = " / ".join(", ".join(group) for group in decision["groups"])
        lines.append(f"| {seed} | {method} | {decision['node']} | {decision['point']} | {groups} | "
                     f"{100 * decision['chosen_share']:.0f}% | {100 * decision['grouping_recurrence']:.0f}% | "
                     f"{runner_text} |")
    return lines


def _curve_lines(methods: dict, tracking: dict | None) -> list[str]:
    curves = {m: s.get("curve") for m, s in methods.items() if s.get("curve")}
    if not curves:
        return []
    lines = ["", f"## Kendall tau while training (`{tracking['subset']}`, {tracking['archs']} archs, every "
             f"{tracking['every']} epochs)", ""]
    epochs = sorted({p["epoch"] for curve in curves.values() for p in curve})
    lines.append("| epoch | " + " | ".join(curves) + " |")
    lines.append("|---|" + "---|" * len(curves))
    for epoch in epochs:
        cells = []
        for curve in curves.values():
            point = next((p for p in curve if p["epoch"] == epoch), None)
            cells.append(_fmt(point["kendall_tau_b"]) if point else "")
        lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
    overheads = [s["tracking_overhead"]["share_of_training"] for s in methods.values() if s.get("tracking_overhead")]
    if overheads:
        lines += ["", f"Tracking overhead: scoring the tracked subset took {100 * float(np.nanmean(overheads)):.0f}% "
                  f"of the training time (every {tracking['every']} epochs; mean over methods)."]
    return lines
