"""Searching a finished run: one function for `naslid search`, `naslid compare` and Python users.

`search_run` scores architectures with the leaves that own them (`RunEvaluator`), within the run's search
settings, any cost limits (MFLOPs, parameters, latency from a latency table) and an evaluation budget, and
records in the result how the scores were obtained (the proxy protocol, the input resolution, the cost limits
and the winner's costs). An evolutionary search asked for more evaluations than its population x generations
runs as many generations as the budget needs, and says so (`SearchResult.settings`).

Result files: `naslid search` writes ``search_<algorithm>.json``, `naslid compare` ``search.json``; `find_search`
finds whichever a run directory holds.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from naslid.nn import build_supernet_for, latency_function
from naslid.rankers import Ranker, ScoringContext, get_ranker, reference_objective
from naslid.runs.evaluate import RunEvaluator
from naslid.runs.opened import OpenedRun, memory_named
from naslid.runs.run_directory import SEARCH_ALGORITHMS, SEARCH_FILES, search_file_name
from naslid.search import (
    SearchConfig,
    SearchResult,
    cost_constraint,
    evolutionary_search,
    random_search,
    with_latency,
)
from naslid.spaces import SubSpace

logger = logging.getLogger(__name__)

# architectures an aggregate's search ranks each member's scores against (naslid.rankers.reference_objective)
SEARCH_REFERENCE_ARCHS = 200


def search_file(run_dir: str | os.PathLike, algorithm: str) -> Path:
    """Where `naslid search --algorithm ALGORITHM` writes its result in `run_dir`."""
    return Path(run_dir) / search_file_name(algorithm)


def find_search(run_dir: str | os.PathLike) -> Path | None:
    """The search result a run directory holds: ``search_evolution.json``, else ``search_random.json``, else
    compare's ``search.json``; None if there is none."""
    paths = (Path(run_dir) / name for name in SEARCH_FILES)
    return next((path for path in paths if path.is_file()), None)


def generations_for_budget(config: SearchConfig) -> SearchConfig:
    """`config` with enough generations for its evaluation budget (population x generations >= budget)."""
    if config.budget is None or config.budget <= config.population_size * config.generations:
        return config
    generations = math.ceil(config.budget / config.population_size)
    logger.info("a budget of %d evaluations needs %d generations of %d (the config has %d): running up to %d",
                config.budget, generations, config.population_size, config.generations, generations)
    return replace(config, generations=generations)


def _search(algorithm: str, subspaces: list, config: SearchConfig, objective_batch: Callable[[list], list[float]],
            constraint, progress: bool) -> SearchResult:
    if algorithm == "evolution":
        return evolutionary_search(None, subspaces, generations_for_budget(config), objective_batch=objective_batch,
                                   progress=progress, constraint=constraint)
    return random_search(None, subspaces, config.budget or 1000, config.seed, objective_batch=objective_batch,
                         progress=progress, constraint=constraint)


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in SEARCH_ALGORITHMS:
        raise ValueError(f"algorithm={algorithm!r}; expected one of {', '.join(SEARCH_ALGORITHMS)}")


def _record_latency(result: SearchResult, latency_table: Mapping[str, Any] | None) -> None:
    if latency_table is not None:
        result.protocol["latency_table"] = {name: latency_table.get(name) for name in (
            "path", "device", "device_name", "threads", "batch_size", "statistic")}


def ranker_search(ranker: Ranker | str, context: ScoringContext, algorithm: str = "evolution",
                  config: SearchConfig | None = None, *, subspaces: list | None = None,
                  latency_table: Mapping[str, Any] | None = None, progress: bool = False) -> SearchResult:
    """Search with a ranker's score as the objective (`naslid search --objective`): any training-free ranker, or
    with a run's context one that uses its trained leaves; within `config`'s cost limits and budget.

    `subspaces` limits the search (a run's leaves); default the whole space. An aggregate ranks each member's score
    against `SEARCH_REFERENCE_ARCHS` architectures drawn with the search seed (`reference_objective`), said in the
    result's protocol.
    """
    _check_algorithm(algorithm)
    ranker = get_ranker(ranker)
    ranker.check(context)
    config = SearchConfig() if config is None else config
    if config.max_latency_ms is not None and latency_table is None:
        raise ValueError(f"a latency budget ({config.max_latency_ms} ms) needs a latency table (`naslid latency-table "
                         "... --out FILE`, then --latency-table FILE)")
    supernet = context.supernet
    latency = latency_function(latency_table, supernet, context.resolution) if latency_table is not None else None
    costs = with_latency(lambda arch: supernet.arch_costs(arch, context.resolution), latency)
    constraint = cost_constraint(costs, config.max_mflops, config.max_params_m, config.max_latency_ms, latency)
    whole = SubSpace(None, context.space)
    rng = np.random.default_rng(config.seed)
    reference = [whole.sample(rng) for _ in range(SEARCH_REFERENCE_ARCHS)] if ranker.relative else []
    objective = reference_objective(ranker, context, reference)
    result = _search(algorithm, subspaces or [whole], config, objective, constraint, progress)
    result.protocol.update({"proxy": f"ranker {ranker.spelling}: {ranker.definition}", "ranker": ranker.to_json(),
                            "context": context.to_json(), "reference_archs": len(reference) or None,
                            "input_resolution": context.resolution,
                            "cost_limits": constraint.to_dict() if constraint else None,
                            "best_costs": costs(result.best_arch)})
    _record_latency(result, latency_table)
    return result


def search_run(run: OpenedRun, algorithm: str = "evolution", config: SearchConfig | None = None, *,
               latency_table: Mapping[str, Any] | None = None,
               objective_batch: Callable[[list], list[float]] | None = None,
               progress: bool = False) -> SearchResult:
    """Search `run`'s trained leaves with `algorithm` ("evolution" or "random") and `config` (default: the run's
    search settings); scores are proxy accuracies in percent.

    `latency_table` (a loaded `naslid latency-table`, checked against the run's network and resolution) predicts
    each architecture's latency, for `config.max_latency_ms` and the report. `objective_batch` replaces the
    default scoring (each architecture by its leaf, `RunEvaluator`), e.g. to cache scores.
    """
    _check_algorithm(algorithm)
    config = run.cfg.search if config is None else config
    if config.max_latency_ms is not None and latency_table is None:
        raise ValueError(f"a latency budget ({config.max_latency_ms} ms) needs a latency table (build one with "
                         f"`naslid latency-table --run {run.run_dir} --out FILE`)")
    with memory_named(run.cfg, "scoring architectures"):  # a failed allocation: one line naming the sizes
        resolution = run.input_resolution()
        latency = None
        if latency_table is not None:
            supernet = build_supernet_for(run.cfg.search_space, run.cfg.network)
            latency = latency_function(latency_table, supernet, resolution)
        costs = with_latency(run.arch_costs(), latency)
        constraint = cost_constraint(costs, config.max_mflops, config.max_params_m, config.max_latency_ms, latency)
        evaluator = RunEvaluator(run)
        if objective_batch is None:
            def objective_batch(archs: list) -> list[float]:  # a generation at a time, split over the runner's workers
                return [100.0 * score for score in evaluator.evaluate_many(archs)]

        leaves = [leaf.subspace for leaf in run.tree.leaves()]
        result = _search(algorithm, leaves, config, objective_batch, constraint, progress)
    result.protocol.update({**evaluator.protocol(), "input_resolution": resolution,
                            "cost_limits": constraint.to_dict() if constraint else None,
                            "best_costs": costs(result.best_arch)})
    _record_latency(result, latency_table)
    return result
