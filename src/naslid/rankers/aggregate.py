"""Rank aggregation of any rankers: ``agg[params,naswot,lid-init]``.

AZ-NAS (`cvlab-yonsei/AZ-NAS`, `NB201/tss_general.ipynb`) ranks every architecture under each score with
`scipy.stats.rankdata` (ascending, ties averaged), divides by the number of architectures and sums the logarithms:
an architecture must rank well under every score to rank well overall. ``rule=mean-rank`` sums the plain ranks
instead (the same notebook's other cell). The ranks are relative to the architectures scored together; a search,
which scores a few at a time, ranks each member's score against a fixed seeded reference sample of the space
(`reference_objective`), stated in its result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.stats import rankdata

from naslid.rankers.base import Ranker, ScoringContext, get_ranker, register_ranker
from naslid.spaces import ChoiceArch

AGGREGATION_RULES = ("log-rank", "mean-rank")


def aggregate_ranks(columns: Sequence[Sequence[float]], rule: str = "log-rank") -> np.ndarray:
    """One aggregate score per row of the member score `columns` (each a list over the same architectures)."""
    if rule not in AGGREGATION_RULES:
        raise ValueError(f"rule={rule!r}; expected one of {', '.join(AGGREGATION_RULES)}")
    if not columns:
        raise ValueError("an aggregate needs at least one member")
    count = len(columns[0])
    total = np.zeros(count)
    for column in columns:
        if len(column) != count:
            raise ValueError("every member must score the same architectures")
        ranks = rankdata(np.asarray(column, dtype=float))
        total += np.log(ranks / count) if rule == "log-rank" else ranks
    return total


@dataclass(frozen=True)
class Aggregate(Ranker):
    """The members' ranks combined (AZ-NAS's sum of log ranks by default): `agg[member,member,...,rule=...]`."""

    name: ClassVar[str] = "agg"
    definition: ClassVar[str] = ("sum over the member rankers of log(rank / n) (AZ-NAS's aggregation), ranks "
                                 "ascending with ties averaged; rule=mean-rank sums the ranks")
    relative: ClassVar[bool] = True
    members: tuple[Ranker, ...] = ()
    rule: str = "log-rank"

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("an aggregate needs at least one member ranker: agg[params,naswot]")
        spellings = [member.spelling for member in self.members]
        if len(set(spellings)) != len(spellings):
            raise ValueError(f"an aggregate names a member twice: {', '.join(spellings)}")
        if self.rule not in AGGREGATION_RULES:
            raise ValueError(f"rule={self.rule!r}; expected one of {', '.join(AGGREGATION_RULES)}")

    @classmethod
    def from_items(cls, items: list[str], spelling: str) -> Aggregate:
        members, rule = [], "log-rank"
        for item in items:
            key, equals, value = (part.strip() for part in item.partition("="))
            if equals and "[" not in key:
                if key != "rule":
                    raise ValueError(f"ranker {spelling[:80]}: unknown setting {key!r}; an aggregate takes member "
                                     "rankers and rule=log-rank|mean-rank")
                rule = value
            else:
                members.append(get_ranker(item))
        try:
            return cls(tuple(members), rule)
        except ValueError as error:
            raise ValueError(f"ranker {spelling[:80]}: {error}") from None

    @property
    def needs_images(self) -> bool:  # type: ignore[override]
        return any(member.needs_images for member in self.members)

    @property
    def needs_run(self) -> bool:  # type: ignore[override]
        return any(member.needs_run for member in self.members)

    @property
    def shares_isomorphic(self) -> bool:  # type: ignore[override]
        return all(member.shares_isomorphic for member in self.members)

    @property
    def spelling(self) -> str:
        inside = [member.spelling for member in self.members] + ([f"rule={self.rule}"] if self.rule != "log-rank"
                                                                 else [])
        return f"{self.name}[{','.join(inside)}]"

    def check(self, context: ScoringContext) -> None:
        for member in self.members:
            member.check(context)

    def score(self, arch: ChoiceArch, context: ScoringContext) -> float:
        raise ValueError(f"{self.spelling} ranks architectures against each other: score a list of them "
                         "(score_many), or search with reference_objective")

    def score_many(self, archs: Sequence[ChoiceArch], context: ScoringContext,
                   progress: Callable[[int], None] | None = None) -> list[float]:
        self.check(context)
        columns = self.member_scores(archs, context, progress)
        return aggregate_ranks(list(columns.values()), self.rule).tolist()

    def member_scores(self, archs: Sequence[ChoiceArch], context: ScoringContext,
                      progress: Callable[[int], None] | None = None) -> dict[str, list[float]]:
        """Each member's scores of `archs`, by member spelling."""
        return {member.spelling: member.score_many(archs, context, progress) for member in self.members}

    def to_json(self) -> dict:
        return {**super().to_json(), "members": [member.to_json() for member in self.members]}


def reference_objective(ranker: Ranker, context: ScoringContext, reference: Sequence[ChoiceArch]
                        ) -> Callable[[list[ChoiceArch]], list[float]]:
    """A search objective for `ranker`: plain scores, or for an aggregate each member's score ranked against the
    members' scores of `reference` (rank = 1 + the reference architectures scored lower, ties counted half)."""
    if not ranker.relative:
        return lambda archs: ranker.score_many(archs, context)
    assert isinstance(ranker, Aggregate), "only aggregates are relative"
    reference_scores = {spelling: np.sort(np.asarray(values)) for spelling, values in
                        ranker.member_scores(list(reference), context).items()}
    count = len(reference) + 1

    def objective(archs: list[ChoiceArch]) -> list[float]:
        totals = np.zeros(len(archs))
        for spelling, values in ranker.member_scores(archs, context).items():
            known = reference_scores[spelling]
            below = np.searchsorted(known, values, side="left")
            equal = np.searchsorted(known, values, side="right") - below
            ranks = 1 + below + 0.5 * equal
            totals += np.log(ranks / count) if ranker.rule == "log-rank" else ranks
        return totals.tolist()

    return objective


register_ranker(Aggregate)
