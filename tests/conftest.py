"""Shared test fixtures: where the read-only shared data lives, and skips that CI turns into failures.

With ``NASLID_NO_SKIPS=1`` (set by ``.ci/run``) a test that would skip because the shared data or an
optional test dependency (scikit-dimension) is missing fails instead, so a green CI run has run them all.
"""

import importlib
import os
from pathlib import Path

import pytest

NO_SKIPS = "NASLID_NO_SKIPS"


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
