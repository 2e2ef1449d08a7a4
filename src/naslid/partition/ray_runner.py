"""Jobs as Ray tasks: sub-supernets, leaves and evaluation shards fanned out over the GPUs of a cluster.

Each job is a Ray task with declared resources (`gpus_per_job=0.25` packs four on one GPU). A job carries
only the run directory and ids; the worker reopens the run from that directory, so the run directory is the
single source of truth (on a cluster: a filesystem every node mounts at the same path). A job that raises or
whose worker dies is retried up to `max_retries` times, and resumes from the node's last epoch checkpoint.
Ray is imported only here and only when a `RayRunner` is made, so the base install does not need it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

Result = TypeVar("Result")

INSTALL_HINT = "pip install 'naslid[ray]'"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValueError(f"--runner ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def _call(job: bytes, modules: tuple[str, ...]) -> Result:
    """Run a pickled job in a Ray worker, after importing what the driver imported (`naslid.plugins`): the job is
    unpickled only then, so a space, criterion or score registered by those modules exists for it."""
    if modules:
        from naslid.plugins import load_plugins

        load_plugins(modules)
    from ray import cloudpickle

    return cloudpickle.loads(job)()


class RayRunner:
    """Runs picklable jobs as Ray tasks, on a local Ray instance or a running cluster; results in job order.

    Parameters
    ----------
    address : str or None, default=None
        None: use the Ray instance this process already joined, else start a local one; 'auto': the cluster
        running on this machine (`ray start --head`); 'HOST:PORT': a cluster's head node.
    gpus_per_job : float or None, default=None
        GPUs each job holds (0.25: four jobs share a GPU). None: 1 when the cluster has GPUs, else 0.
    cpus_per_job : float, default=1
        CPUs each job holds (Ray also sets the job's thread count from it).
    max_retries : int, default=3
        How often a job whose worker died or that raised is run again before the run fails.
    num_cpus : int or None, default=None
        CPUs of a local instance this runner starts (None: all); ignored when joining a cluster.
    """

    def __init__(self, address: str | None = None, gpus_per_job: float | None = None, cpus_per_job: float = 1.0,
                 max_retries: int = 3, num_cpus: int | None = None) -> None:
        if gpus_per_job is not None and not (isinstance(gpus_per_job, int | float) and 0 <= gpus_per_job
                                             and math.isfinite(gpus_per_job)):
            raise ValueError(f"gpus_per_job={gpus_per_job!r}; expected a number >= 0 such as 1 or 0.25")
        if gpus_per_job is not None and gpus_per_job > 1 and gpus_per_job != int(gpus_per_job):
            raise ValueError(f"gpus_per_job={gpus_per_job}; above 1 it must be a whole number of GPUs")
        if not (isinstance(cpus_per_job, int | float) and 0 < cpus_per_job and math.isfinite(cpus_per_job)):
            raise ValueError(f"cpus_per_job={cpus_per_job!r}; expected a number > 0")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries={max_retries!r}; expected an integer >= 0")
        self.ray = _import_ray()  # fails now, before any work, when Ray is missing
        self.address = address
        self.gpus_per_job = gpus_per_job
        self.cpus_per_job = cpus_per_job
        self.max_retries = max_retries
        self.num_cpus = num_cpus
        self._task = None

    def _start(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return
        local = self.address is None
        logger.info("starting a local Ray instance" if local else f"joining the Ray cluster at {self.address}")
        ray.init(address=self.address, num_cpus=self.num_cpus if local else None, include_dashboard=False,
                 log_to_driver=True)

    def _gpus(self) -> float:
        if self.gpus_per_job is not None:
            return float(self.gpus_per_job)
        return 1.0 if self.ray.cluster_resources().get("GPU", 0) > 0 else 0.0

    @property
    def slots(self) -> int:
        """How many jobs the cluster runs at once with the declared resources (at least 1)."""
        self._start()
        resources = self.ray.cluster_resources()
        counts = [resources.get("CPU", 1) / self.cpus_per_job]
        gpus = self._gpus()
        if gpus > 0:
            counts.append(resources.get("GPU", 0) / gpus)
        return max(1, int(min(counts)))

    def run(self, jobs: Sequence[Callable[[], Result]]) -> list[Result]:
        if not jobs:
            return []
        self._start()
        ray = self.ray
        if self._task is None:
            self._task = ray.remote(_call).options(
                num_cpus=self.cpus_per_job, num_gpus=self._gpus(), max_retries=self.max_retries,
                retry_exceptions=True,
            )
        from naslid.plugins import imported_modules

        modules = imported_modules()
        references = [self._task.remote(ray.cloudpickle.dumps(job), modules) for job in jobs]
        try:
            return ray.get(references)
        except ray.exceptions.RayTaskError as error:
            for reference in references:
                ray.cancel(reference)
            cause = getattr(error, "cause", None)
            if isinstance(cause, Exception):  # the job's own error (after its retries), with its own message
                raise cause from error
            raise
        except ray.exceptions.WorkerCrashedError as error:
            raise ChildProcessError(f"a Ray worker died {self.max_retries + 1} times running one job; the run "
                                    "directory keeps every finished epoch: rerun the same command to resume "
                                    f"({error})") from None
