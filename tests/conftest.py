"""Shared test fixtures: where the read-only shared data lives."""

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data (NB201 ground truth, CIFAR-10, third-party predictions); skip if absent."""
    root = Path(os.environ.get("NASLID_SHARED_DATA", Path(__file__).parents[1].parent / "shared" / "data"))
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root}")
    return root
