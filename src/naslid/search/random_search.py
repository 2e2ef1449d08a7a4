"""Random search: distinct architectures drawn uniformly from the space, the baseline at equal budget."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from naslid.search._evaluation import BatchObjective, EvaluationCallback, Evaluator, Objective
from naslid.search.result import SearchResult
from naslid.search.union import SubSpaceUnion, draw_unvisited
from naslid.spaces import ChoiceArch, SearchSpace, SubSpace, network_key_function

logger = logging.getLogger(__name__)


def random_search(
    objective: Objective | None,
    space: SubSpace | SearchSpace | Sequence[SubSpace],
    budget: int,
    seed: int = 0,
    *,
    objective_batch: BatchObjective | None = None,
    batch_size: int = 50,
    progress: bool = False,
    on_evaluate: EvaluationCallback | None = None,
    constraint: Callable[[ChoiceArch], bool] | None = None,
) -> SearchResult:
    """Maximise `objective` by scoring `budget` distinct architectures drawn uniformly from `space`.

    Sampling is without replacement over the space (the union of the sub-spaces when `space` is a list),
    so the run stops early when the space has fewer than `budget` architectures. An architecture that is the
    same network as one already scored (`space.network_key`) reuses its score without spending budget.
    With `objective_batch`, architectures are scored `batch_size` at a time; each batch counts as one
    generation in the history.
    With `constraint`, only architectures for which it holds are drawn (e.g. a FLOPs budget).
    """
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise ValueError(f"budget must be an integer >= 1, got {budget!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    union = SubSpaceUnion(space, constraint)
    rng = np.random.default_rng(seed)
    evaluator = Evaluator(
        objective, objective_batch, budget, on_evaluate=on_evaluate, progress=progress, description="random",
        network_key=network_key_function(union.search_space),
    )
    exhausted = False
    generation = 0
    try:
        while not evaluator.is_spent() and not exhausted:
            wanted = min(batch_size, evaluator.remaining)
            batch, exhausted = draw_unvisited(union, rng, set(evaluator.scores), wanted)
            evaluator.evaluate(batch, generation)
            generation += 1
    finally:
        evaluator.close()
    logger.info("random search: %d evaluations", len(evaluator.history))
    settings = {"budget": budget, "seed": seed, "batch_size": batch_size}
    return SearchResult(method="random", history=evaluator.history, settings=settings, exhausted=exhausted,
                        space=union.search_space.name, cache_hits=evaluator.cache_hits,
                        stopped_by="exhausted" if exhausted else "budget")
