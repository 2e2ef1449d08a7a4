"""Paired differences over seeds: a method's metric minus a control's, seed by seed, with a bootstrap interval.

The seed moves a supernet's Kendall tau far more than the method does, so two methods are compared on the
same seeds (same root initialisation, data order and split batches) and only the per-seed differences are
summarised: their mean, a percentile bootstrap interval of that mean over seeds, and how many seeds favour
the method. With few seeds the interval is wide, and with two or three it cannot reach below the smallest
nor above the largest difference: it says how little the seeds tell, not more.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_RESAMPLES = 10_000


@dataclass(frozen=True)
class PairedDifference:
    """Per-seed differences of a method against a control and their summary."""

    differences: tuple[float, ...]  # method minus control, one per seed (seeds where either is missing left out)
    seeds: tuple[int, ...]  # the seeds of `differences`, in order
    mean: float | None
    interval: tuple[float, float] | None  # percentile bootstrap interval of the mean over seeds (None: < 2 seeds)
    confidence: float
    better: int  # seeds where the method is above the control
    resamples: int

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly above or wholly below zero."""
        return self.interval is not None and (self.interval[0] > 0 or self.interval[1] < 0)

    def to_json(self) -> dict:
        out = asdict(self)
        out["differences"], out["seeds"] = list(self.differences), list(self.seeds)
        out["interval"] = list(self.interval) if self.interval is not None else None
        out["n"] = len(self.differences)
        return out


def paired_difference(values: Sequence[float | None], control: Sequence[float | None],
                      seeds: Sequence[int] | None = None, confidence: float = 0.95,
                      resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> PairedDifference:
    """`values[i] - control[i]` for every seed where both are finite, summarised with a bootstrap interval.

    The interval resamples the seeds with replacement `resamples` times (seeded) and takes the
    (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of the resampled means.
    """
    if len(values) != len(control):
        raise ValueError(f"{len(values)} values against {len(control)} control values; pair them by seed")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence}; expected a fraction in (0, 1)")
    if resamples < 1:
        raise ValueError(f"resamples={resamples}; expected >= 1")
    seeds = list(range(len(values))) if seeds is None else list(seeds)
    if len(seeds) != len(values):
        raise ValueError(f"{len(seeds)} seeds for {len(values)} values")
    kept = [(s, float(a) - float(b)) for s, a, b in zip(seeds, values, control, strict=True)
            if _finite(a) and _finite(b)]
    differences = np.array([d for _, d in kept], dtype=np.float64)
    if not len(differences):
        return PairedDifference((), (), None, None, confidence, 0, resamples)
    if len(differences) == 1:  # one seed is an anecdote: no interval
        return PairedDifference(tuple(differences.tolist()), tuple(s for s, _ in kept), float(differences[0]), None,
                                confidence, int(differences[0] > 0), resamples)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(differences), size=(resamples, len(differences)))
    means = differences[picks].mean(axis=1)
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return PairedDifference(tuple(differences.tolist()), tuple(s for s, _ in kept), float(differences.mean()),
                            (float(low), float(high)), confidence, int((differences > 0).sum()), resamples)


def _finite(value: float | None) -> bool:
    return value is not None and not math.isnan(float(value)) and not math.isinf(float(value))
