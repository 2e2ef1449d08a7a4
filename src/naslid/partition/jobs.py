"""A small job-runner interface: independent jobs (fine-tuning the leaves) run through it.

The algorithm hands a list of zero-argument callables to a runner and gets their results back in order.
`SequentialRunner` calls them in this process; `ProcessPoolRunner` runs picklable jobs in worker processes
(e.g. several sub-supernets training at once on one GPU, where one process is launch-bound). A runner for
several GPUs or machines can replace these without touching the algorithm.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol, TypeVar

Result = TypeVar("Result")


class JobRunner(Protocol):
    def run(self, jobs: Sequence[Callable[[], Result]]) -> list[Result]: ...


class SequentialRunner:
    """Runs jobs one after another in this process."""

    def run(self, jobs: Sequence[Callable[[], Result]]) -> list[Result]:
        return [job() for job in jobs]


def _call(job: Callable[[], Result]) -> Result:
    return job()


class ProcessPoolRunner:
    """Runs picklable jobs in `workers` fresh (spawned) processes; results come back in job order."""

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"workers={workers}; expected at least 1")
        self.workers = workers

    def run(self, jobs: Sequence[Callable[[], Result]]) -> list[Result]:
        if len(jobs) <= 1:
            return [job() for job in jobs]
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(self.workers, len(jobs)), mp_context=context) as pool:
            return list(pool.map(_call, jobs))


def get_runner(spec: str) -> JobRunner:
    """`sequential` or `processes:N` (N worker processes)."""
    if spec == "sequential":
        return SequentialRunner()
    name, _, count = spec.partition(":")
    if name == "processes" and count.isdigit():
        return ProcessPoolRunner(int(count))
    raise ValueError(f"unknown job runner {spec!r}; expected 'sequential' or 'processes:N' (e.g. processes:4)")
