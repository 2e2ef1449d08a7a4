"""The estimator registry: LID estimators by name, so that configs and the CLI can pick one."""

from __future__ import annotations

from naslid.lid.mle import MLE, MacKayGhahramani
from naslid.lid.twonn import TwoNN

Estimator = MLE | MacKayGhahramani | TwoNN

ESTIMATORS: dict[str, type[Estimator]] = {
    "mle": MLE,
    "mackay_ghahramani": MacKayGhahramani,
    "twonn": TwoNN,
}


def get_estimator(name: str, **params: object) -> Estimator:
    """The estimator registered under `name`, built with `params` (checked when it is used)."""
    try:
        estimator_class = ESTIMATORS[name]
    except KeyError:
        raise ValueError(f"unknown LID estimator {name!r}; known: {sorted(ESTIMATORS)}") from None
    try:
        return estimator_class(**params)
    except TypeError as error:
        raise ValueError(f"bad parameters {params} for LID estimator {name!r}: {error}") from None
