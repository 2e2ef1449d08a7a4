"""Shared test fixtures: where the read-only shared data lives, and skips that CI turns into failures.

Also one torch thread per test (`one_thread`) and a finished one-epoch run (`tiny_trained_run`); plain helpers
(a small run configuration, a thread-count block) are in helpers.py.

With ``NASLID_NO_SKIPS=1`` (set by ``.ci/run``) a test that would skip because the shared data or an
optional test dependency (scikit-dimension) is missing fails instead, so a green CI run has run them all.
"""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

NO_SKIPS = "NASLID_NO_SKIPS"

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `pytest -n 2` on 2 cores: one torch thread per worker and per command a test starts, set before torch is
    # imported; two OpenMP threads per process on oversubscribed cores spin while they wait for each other
    # (docs/measured.md: up to 26x slower)
    os.environ["OMP_NUM_THREADS"] = "1"


def skip_or_fail(reason: str) -> None:
    """Skip the test, or fail it when NASLID_NO_SKIPS is set (CI must run every test)."""
    if os.environ.get(NO_SKIPS, "") not in ("", "0"):
        pytest.fail(f"{reason} ({NO_SKIPS} is set: in CI this test must run)", pytrace=False)
    pytest.skip(reason)


def import_or_skip(name: str):
    """`pytest.importorskip` that fails under NASLID_NO_SKIPS."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        skip_or_fail(f"optional test dependency {name!r} is not importable ({error})")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data (NB201 ground truth, CIFAR-10, third-party predictions); skip if absent."""
    root = Path(os.environ.get("NASLID_SHARED_DATA", Path(__file__).parents[1].parent / "shared" / "data"))
    if not root.is_dir():
        skip_or_fail(f"shared data not found at {root}")
    return root


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance with 2 CPUs for every test that needs one (a start costs seconds)."""
    try:
        import ray
    except ImportError as error:
        skip_or_fail(f"optional test dependency 'ray' is not importable ({error}); pip install 'naslid[ray]'")
    tests = str(Path(__file__).parent)  # workers import test modules whose jobs they run
    path = os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_trained_run(tmp_path_factory) -> Path:
    """The smallest trained run: `naslid train` for one epoch on the bundled digits at C=4 (one leaf, seconds).

    Built in a subprocess, so this process holds no lock on it; tests that write into a run copy it first.
    """
    run = tmp_path_factory.mktemp("tiny_trained") / "run"
    done = subprocess.run([sys.executable, "-m", "naslid.cli", "train", str(run), "--epochs", "1", "--channels", "4",
                           "--no-progress"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return run


@pytest.fixture
def one_thread():
    """One intra-op torch thread for the test, restored afterwards: the tiny networks of the tests run many small
    ops, which on a shared, loaded CPU run far faster on one thread than on two contended ones (measured on the
    OFA supernet: 10 s per step with 2 threads under load vs 0.2 s with one). Use it for a whole module with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``; `helpers.torch_threads` does the same in a block."""
    from helpers import torch_threads

    with torch_threads(1):
        yield
