"""The evolutionary search of SPOS and NAS-LID over an abstract objective, within a budget of evaluations.

Each generation breeds children of the best architectures found so far (top-k over the whole history,
as in SPOS): mutation changes each edge with a small probability, crossover takes each edge from a second
parent with a small probability, and random architectures fill the population up. Every child is new:
an architecture is scored at most once, and children outside the searched space are rejected.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from naslid.options import flag, integer
from naslid.search._evaluation import BatchObjective, EvaluationCallback, Evaluator, Objective
from naslid.search.result import Evaluation, SearchResult
from naslid.search.union import SubSpaceUnion, draw_unvisited
from naslid.spaces import ChoiceArch, SearchSpace, SubSpace, network_key_function

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchConfig:
    """Settings of the evolutionary search.

    Defaults are the reference values: population 50, top 10 parents, 25 mutations and 25 crossovers per
    generation and 10 tries per wanted child come from the SPOS search code (`population_num`,
    `select_num`, `mutation_num`, `crossover_num`, `max_iters = num * 10`); 100 generations and
    p = 0.1 per edge for mutation and crossover from the NAS-LID paper and code.
    """

    population_size: int = 50
    generations: int = 100
    # most distinct architectures to evaluate; None: only `generations` bounds the run (at most 50 x 100)
    budget: int | None = field(default=None, metadata=flag(
        "--budget", parse=integer(1),
        help="architectures the evolutionary search may evaluate"))
    num_parents: int = 10  # top-k of all evaluations so far
    num_mutations: int = 25  # mutation children wanted per generation
    num_crossovers: int = 25  # crossover children wanted per generation
    mutation_probability: float = 0.1  # per edge: replace the op by another allowed one
    crossover_probability: float = 0.1  # per edge: take the op from the second parent
    # tries per wanted child to find a new one inside the space; the rest are random new architectures
    max_tries_per_child: int = 10
    seed: int = 0
    # cost budget: only architectures at or under it are drawn, bred and scored (None: no limit); the costs come
    # from the supernet's `arch_costs` at the run's input resolution
    max_mflops: float | None = None
    max_params_m: float | None = None
    # predicted latency limit (ms) from a latency table measured on the target device (`naslid latency-table`)
    max_latency_ms: float | None = None

    def __post_init__(self) -> None:
        for name in ("population_size", "generations", "num_parents", "max_tries_per_child"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("num_mutations", "num_crossovers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if self.num_mutations + self.num_crossovers > self.population_size:
            raise ValueError(
                f"num_mutations + num_crossovers must be at most population_size={self.population_size}, "
                f"got {self.num_mutations} + {self.num_crossovers}"
            )
        if self.budget is not None and (
            not isinstance(self.budget, int) or isinstance(self.budget, bool) or self.budget < 1
        ):
            raise ValueError(f"budget must be None or an integer >= 1, got {self.budget!r}")
        for name in ("mutation_probability", "crossover_probability"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        for name in ("max_mflops", "max_params_m", "max_latency_ms"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or not 0 < value < float("inf")):
                raise ValueError(f"{name} must be None or a positive finite number, got {value!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def mutate(arch: ChoiceArch, union: SubSpaceUnion, probability: float, rng: np.random.Generator) -> ChoiceArch:
    """A copy of `arch` where each edge, with `probability`, gets another op that the union allows there."""
    ops = list(arch.ops)
    for edge, current in enumerate(ops):
        if rng.random() < probability:
            choices = [op for op in union.edge_ops[edge] if op != current]
            if choices:
                ops[edge] = choices[int(rng.integers(len(choices)))]
    return type(arch)(tuple(ops))


def crossover(first: ChoiceArch, second: ChoiceArch, probability: float, rng: np.random.Generator) -> ChoiceArch:
    """A child of `first` that takes each edge's op from `second` with `probability`."""
    return type(first)(
        tuple(b if rng.random() < probability else a for a, b in zip(first.ops, second.ops, strict=True))
    )


def _breed(
    make_child: Callable[[], ChoiceArch], count: int, tries: int, union: SubSpaceUnion, taken: set[ChoiceArch]
) -> list[ChoiceArch]:
    """Up to `count` children from `make_child` that lie in the union and are not in `taken` (updated)."""
    children: list[ChoiceArch] = []
    for _ in range(tries):
        if len(children) >= count:
            break
        child = make_child()
        if child in taken or child not in union:
            continue
        taken.add(child)
        children.append(child)
    return children


def _next_candidates(
    parents: list[ChoiceArch],
    union: SubSpaceUnion,
    visited: Iterable[ChoiceArch],
    config: SearchConfig,
    rng: np.random.Generator,
) -> tuple[list[ChoiceArch], bool]:
    """One generation's new architectures (mutations, crossovers, random fill) and whether none is left.

    Without parents (the first generation) the whole population is random.
    """
    taken = set(visited)
    tries = config.max_tries_per_child

    def mutation_child() -> ChoiceArch:
        parent = parents[int(rng.integers(len(parents)))]
        return mutate(parent, union, config.mutation_probability, rng)

    def crossover_child() -> ChoiceArch:
        first, second = rng.choice(len(parents), size=2, replace=False)
        return crossover(parents[int(first)], parents[int(second)], config.crossover_probability, rng)

    candidates: list[ChoiceArch] = []
    if parents:
        candidates += _breed(mutation_child, config.num_mutations, config.num_mutations * tries, union, taken)
    if len(parents) >= 2:
        candidates += _breed(
            crossover_child, config.num_crossovers, config.num_crossovers * tries, union, taken
        )
    fill, exhausted = draw_unvisited(union, rng, taken, config.population_size - len(candidates))
    return candidates + fill, exhausted


def evolutionary_search(
    objective: Objective | None,
    space: SubSpace | SearchSpace | Sequence[SubSpace],
    config: SearchConfig | None = None,
    *,
    objective_batch: BatchObjective | None = None,
    progress: bool = False,
    on_evaluate: EvaluationCallback | None = None,
    constraint: Callable[[ChoiceArch], bool] | None = None,
) -> SearchResult:
    """Maximise `objective` over `space` with the SPOS / NAS-LID evolutionary algorithm.

    Parameters
    ----------
    objective : callable ChoiceArch -> float, or None
        Score of one architecture, higher is better. Pass None and give `objective_batch` instead to
        score a whole generation in one call (faster for supernet evaluation).
    space : SubSpace, a search space (e.g. NB201Space) or list of SubSpace
        The architectures to search; a list means their union (e.g. the leaves of a NAS-LID partition).
    config : SearchConfig, default SearchConfig()
    objective_batch : callable list[ChoiceArch] -> list[float], optional
        Scores of several architectures, in order.
    progress : bool, default False
        Show a progress bar over evaluations.
    on_evaluate : callable Evaluation -> None, optional
        Called after each evaluation, e.g. to log or checkpoint.
    constraint : callable ChoiceArch -> bool, optional
        Only architectures for which it holds are drawn, bred and scored (e.g. a FLOPs budget: see
        `cost_constraint`).

    Returns
    -------
    SearchResult
        Every distinct network evaluated, in order (at most `config.budget` of them), with the best. An
        architecture whose `space.network_key` was scored already reuses that score, costs no budget and
        counts in `cache_hits`.
        The run stops after `config.generations`, at the budget (even within a generation), or when the
        space has no unvisited architecture left.
    """
    config = SearchConfig() if config is None else config
    if not isinstance(config, SearchConfig):
        raise ValueError(f"config must be a SearchConfig, got {type(config).__name__}")
    union = SubSpaceUnion(space, constraint)
    rng = np.random.default_rng(config.seed)
    total = config.population_size * config.generations
    budget = total if config.budget is None else min(config.budget, total)
    evaluator = Evaluator(
        objective,
        objective_batch,
        budget,
        on_evaluate=on_evaluate,
        progress=progress,
        description="evolution",
        network_key=network_key_function(union.search_space),
    )
    exhausted = False
    try:
        for generation in range(config.generations):
            parents = [evaluation.arch for evaluation in _top(evaluator.history, config.num_parents)]
            candidates, exhausted = _next_candidates(parents, union, evaluator.scores, config, rng)
            evaluator.evaluate(candidates, generation)
            best = _top(evaluator.history, 1)[0]
            logger.info(
                "generation %d: %d evaluations, best %.4f (%s)",
                generation,
                len(evaluator.history),
                best.score,
                best.arch,
            )
            if exhausted or evaluator.is_spent():
                break
    finally:
        evaluator.close()
    exhausted = exhausted and len(evaluator.scores) == union.size()
    stopped_by = "exhausted" if exhausted else "budget" if evaluator.is_spent() and config.budget else "generations"
    return SearchResult(
        method="evolution", history=evaluator.history, settings=config.to_dict(), exhausted=exhausted,
        space=union.search_space.name, cache_hits=evaluator.cache_hits, stopped_by=stopped_by,
    )


def _top(history: list[Evaluation], count: int) -> list[Evaluation]:
    """The `count` best evaluations, best first, earlier first among ties."""
    return sorted(history, key=lambda evaluation: (-evaluation.score, evaluation.index))[:count]
