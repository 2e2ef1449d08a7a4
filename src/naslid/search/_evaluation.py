"""The budgeted, cached evaluation loop shared by the search algorithms.

Each distinct network is scored once: architectures with the same `network_key` (the space's
`network_key`: OFA architectures differing only in inactive blocks) share one score, and a reused score
spends no budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from naslid.search.result import Evaluation
from naslid.spaces import ChoiceArch

Objective = Callable[[ChoiceArch], float]
BatchObjective = Callable[[list[ChoiceArch]], Sequence[float]]
EvaluationCallback = Callable[[Evaluation], None]


def check_objectives(objective: Objective | None, objective_batch: BatchObjective | None) -> None:
    """Exactly one of the two objectives must be given."""
    if (objective is None) == (objective_batch is None):
        raise ValueError(
            "give exactly one of objective (arch -> score) and objective_batch (list of archs -> scores); "
            f"got objective={objective!r}, objective_batch={objective_batch!r}"
        )


class Evaluator:
    """Scores each network at most once and never more than `budget` of them.

    An architecture whose `network_key` was scored already (or comes earlier in the same batch) takes that
    score without calling the objective: it joins `scores` (so searches treat it as visited) but not the
    history, spends no budget and counts in `cache_hits`. Keeps the history in evaluation order, calls
    `on_evaluate` after each evaluation and drives the progress bar when one is asked for.
    """

    def __init__(
        self,
        objective: Objective | None,
        objective_batch: BatchObjective | None,
        budget: int | None,
        on_evaluate: EvaluationCallback | None = None,
        progress: bool = False,
        description: str = "search",
        network_key: Callable[[ChoiceArch], str] | None = None,
    ) -> None:
        check_objectives(objective, objective_batch)
        self.objective = objective
        self.objective_batch = objective_batch
        self.budget = budget
        self.on_evaluate = on_evaluate
        self.network_key = network_key
        self.scores: dict[ChoiceArch, float] = {}
        self.history: list[Evaluation] = []
        self.cache_hits = 0
        self._scored_networks: dict[object, float] = {}
        self._bar = None
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=budget, desc=description, unit="arch")

    @property
    def remaining(self) -> int | None:
        """Evaluations left in the budget; None without a budget."""
        return None if self.budget is None else self.budget - len(self.history)

    def is_spent(self) -> bool:
        return self.budget is not None and len(self.history) >= self.budget

    def _key(self, arch: ChoiceArch) -> object:
        return arch if self.network_key is None else self.network_key(arch)

    def evaluate(self, archs: Sequence[ChoiceArch], generation: int) -> list[Evaluation]:
        """Score the new networks among `archs` in order, cut at the budget; return their evaluations.

        Architectures of networks already scored take the cached score (no budget); once the budget is
        reached, the rest of `archs` is dropped.
        """
        archs = list(archs)
        assert len(set(archs)) == len(archs), "a search asked to evaluate one arch twice in a batch"
        assert not any(arch in self.scores for arch in archs), "a search asked to re-evaluate an arch"
        remaining = self.remaining
        new: list[ChoiceArch] = []  # one architecture per network to score
        reused: list[tuple[ChoiceArch, object]] = []  # (arch, key) of a network scored before or earlier in the batch
        keys_in_batch: set[object] = set()
        for arch in archs:
            key = self._key(arch)
            if key in self._scored_networks or key in keys_in_batch:
                reused.append((arch, key))
            elif remaining is None or len(new) < remaining:
                keys_in_batch.add(key)
                new.append(arch)
            else:
                break
        evaluations = []
        if new:
            if self.objective_batch is not None:
                scores = list(self.objective_batch(new))
                if len(scores) != len(new):
                    raise ValueError(
                        f"objective_batch returned {len(scores)} scores for {len(new)} architectures; "
                        "it must return one score per architecture, in order"
                    )
                evaluations = [self._record(arch, score, generation) for arch, score in zip(new, scores, strict=True)]
            else:
                evaluations = [self._record(arch, self.objective(arch), generation) for arch in new]
        for arch, key in reused:
            self.scores[arch] = self._scored_networks[key]
            self.cache_hits += 1
        return evaluations

    def _record(self, arch: ChoiceArch, score: float, generation: int) -> Evaluation:
        try:
            score = float(score)
        except (TypeError, ValueError):
            raise ValueError(
                f"the objective returned {score!r} for {arch}; it must return a finite number"
            ) from None
        if not math.isfinite(score):
            raise ValueError(
                f"the objective returned {score} for {arch}; it must return a finite number"
            )
        evaluation = Evaluation(arch=arch, score=score, index=len(self.history), generation=generation)
        self.scores[arch] = score
        self._scored_networks[self._key(arch)] = score
        self.history.append(evaluation)
        if self._bar is not None:
            self._bar.update(1)
        if self.on_evaluate is not None:
            self.on_evaluate(evaluation)
        return evaluation

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
