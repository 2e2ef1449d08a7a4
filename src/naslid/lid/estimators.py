"""The estimator registry: LID estimators by name, so that configs and the CLI can pick one."""

from __future__ import annotations

from naslid.lid.mle import MLE, MacKayGhahramani
from naslid.lid.twonn import TwoNN
from naslid.registry import register

Estimator = MLE | MacKayGhahramani | TwoNN

ESTIMATORS: dict[str, type[Estimator]] = {}


def register_estimator(estimator_class: type, *, replace: bool = False) -> type:
    """Make `estimator_class` (scikit-learn style: keyword-only `__init__`, `fit(X)` setting `lid_` and
    `lid_pointwise_`) available as `get_estimator(estimator_class.name)`; the class. A name registered already with
    another class is a ValueError unless `replace`."""
    register(ESTIMATORS, getattr(estimator_class, "name", None), estimator_class, replace=replace,
             kind="LID estimator")
    return estimator_class


for _estimator in (MLE, MacKayGhahramani, TwoNN):
    register_estimator(_estimator)


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
