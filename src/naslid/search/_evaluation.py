"""The budgeted, cached evaluation loop shared by the search algorithms."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from naslid.search.result import Evaluation
from naslid.spaces import ChoiceArch as Arch

Objective = Callable[[Arch], float]
BatchObjective = Callable[[list[Arch]], Sequence[float]]
EvaluationCallback = Callable[[Evaluation], None]


def check_objectives(objective: Objective | None, objective_batch: BatchObjective | None) -> None:
    """Exactly one of the two objectives must be given."""
    if (objective is None) == (objective_batch is None):
        raise ValueError(
            "give exactly one of objective (arch -> score) and objective_batch (list of archs -> scores); "
            f"got objective={objective!r}, objective_batch={objective_batch!r}"
        )


class Evaluator:
    """Scores architectures at most once each and never more than `budget` of them.

    Keeps the history in evaluation order, calls `on_evaluate` after each evaluation and drives the
    progress bar when one is asked for.
    """

    def __init__(
        self,
        objective: Objective | None,
        objective_batch: BatchObjective | None,
        budget: int | None,
        on_evaluate: EvaluationCallback | None = None,
        progress: bool = False,
        description: str = "search",
    ) -> None:
        check_objectives(objective, objective_batch)
        self.objective = objective
        self.objective_batch = objective_batch
        self.budget = budget
        self.on_evaluate = on_evaluate
        self.scores: dict[Arch, float] = {}
        self.history: list[Evaluation] = []
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

    def evaluate(self, archs: Sequence[Arch], generation: int) -> list[Evaluation]:
        """Score new, distinct architectures in order, cut at the budget; return their evaluations."""
        archs = list(archs)
        assert len(set(archs)) == len(archs), "a search asked to evaluate one arch twice in a batch"
        assert not any(arch in self.scores for arch in archs), "a search asked to re-evaluate an arch"
        remaining = self.remaining
        if remaining is not None:
            archs = archs[: max(remaining, 0)]
        if not archs:
            return []
        if self.objective_batch is not None:
            scores = list(self.objective_batch(archs))
            if len(scores) != len(archs):
                raise ValueError(
                    f"objective_batch returned {len(scores)} scores for {len(archs)} architectures; "
                    "it must return one score per architecture, in order"
                )
            return [self._record(arch, score, generation) for arch, score in zip(archs, scores, strict=True)]
        return [self._record(arch, self.objective(arch), generation) for arch in archs]

    def _record(self, arch: Arch, score: float, generation: int) -> Evaluation:
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
