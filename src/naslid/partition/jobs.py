"""A small job-runner interface: independent jobs (fine-tuning the leaves) run through it.

The algorithm hands a list of zero-argument callables to a runner and gets their results back in order.
`SequentialRunner` calls them in this process; `ProcessPoolRunner` runs picklable jobs in worker processes
(e.g. several sub-supernets training at once on one GPU, where one process is launch-bound); `RayRunner`
(`naslid.partition.ray_runner`, optional extra `naslid[ray]`) runs them as Ray tasks over the GPUs of one
machine or a cluster. A runner's `slots` says how many jobs it runs at once (work is split into that many shards).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol, TypeVar

Result = TypeVar("Result")


class JobRunner(Protocol):
    def run(self, jobs: Sequence[Callable[[], Result]]) -> list[Result]: ...


def runner_slots(runner: JobRunner) -> int:
    """How many jobs `runner` runs at once (1 for a runner that does not say)."""
    return max(1, int(getattr(runner, "slots", 1)))


class SequentialRunner:
    """Runs jobs one after another in this process."""

    slots = 1

    def run(self, jobs: Sequence[Callable[[], Result]]) -> list[Result]:
        return [job() for job in jobs]


def _call(job: Callable[[], Result]) -> Result:
    return job()


class ProcessPoolRunner:
    """Runs picklable jobs in `workers` fresh (spawned) processes; results come back in job order. Each worker
    first loads what this process loaded with `naslid.plugins` (entry points and --import modules), so a space,
    criterion or score registered there exists in the worker too."""

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"workers={workers}; expected at least 1")
        self.workers = workers

    @property
    def slots(self) -> int:
        return self.workers

    def run(self, jobs: Sequence[Callable[[], Result]]) -> list[Result]:
        if len(jobs) <= 1:
            return [job() for job in jobs]
        from naslid.plugins import imported_modules, load_plugins

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(self.workers, len(jobs)), mp_context=context, initializer=load_plugins,
                                 initargs=(imported_modules(),)) as pool:
            return list(pool.map(_call, jobs))


def get_runner(spec: str, *, address: str | None = None, gpus_per_job: float | None = None,
               cpus_per_job: float | None = None, max_retries: int | None = None) -> JobRunner:
    """`sequential`, `processes:N` (N worker processes) or `ray` (Ray tasks; the keyword options are Ray's)."""
    ray_options = {"address": address, "gpus_per_job": gpus_per_job, "cpus_per_job": cpus_per_job,
                   "max_retries": max_retries}
    if spec == "ray":
        from naslid.partition.ray_runner import RayRunner

        return RayRunner(**{name: value for name, value in ray_options.items() if value is not None})
    given = [name for name, value in ray_options.items() if value is not None]
    if given:
        flags = ", ".join("--" + name.replace("_", "-").replace("address", "ray-address") for name in given)
        raise ValueError(f"{flags} apply to --runner ray only, not to --runner {spec}")
    if spec == "sequential":
        return SequentialRunner()
    name, _, count = spec.partition(":")
    if name == "processes" and count.isdigit():
        return ProcessPoolRunner(int(count))
    raise ValueError(f"unknown job runner {spec!r}; expected 'sequential', 'processes:N' (e.g. processes:4) or 'ray'")
