"""A small job-runner interface: independent jobs (fine-tuning the leaves) run through it.

The algorithm hands a list of zero-argument callables to a runner and gets their results back in order;
a runner for several GPUs or machines can replace the sequential one without touching the algorithm.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

Result = TypeVar("Result")


class JobRunner(Protocol):
    def run(self, jobs: Sequence[Callable[[], Result]]) -> list[Result]: ...


class SequentialRunner:
    """Runs jobs one after another in this process."""

    def run(self, jobs: Sequence[Callable[[], Result]]) -> list[Result]:
        return [job() for job in jobs]


RUNNERS = {"sequential": SequentialRunner}


def get_runner(name: str) -> JobRunner:
    try:
        return RUNNERS[name]()
    except KeyError:
        raise ValueError(f"unknown job runner {name!r}; known: {sorted(RUNNERS)}") from None
