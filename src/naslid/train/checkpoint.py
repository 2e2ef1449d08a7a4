"""Checkpoints of (sub-)supernet training: one plain dict, written atomically, read back with checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from naslid.atomic import write_with

CHECKPOINT_SCHEMA = "naslid.checkpoint/1"


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write `state` to `path` through a temporary file and a rename, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_with(path, lambda handle: torch.save({"schema": CHECKPOINT_SCHEMA, **state}, handle))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`; a wrong or missing file is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found; expected a file written by naslid train")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as error:  # torch raises many types for a damaged file
        raise ValueError(f"checkpoint {path} could not be read ({error}); is it a naslid checkpoint?") from error
    schema = state.get("schema") if isinstance(state, dict) else None
    if schema != CHECKPOINT_SCHEMA:
        raise ValueError(f"checkpoint {path} has schema {schema!r}; this naslid reads {CHECKPOINT_SCHEMA!r}")
    bad = non_finite_tensors(state.get("model") or {})
    if bad:
        raise ValueError(f"checkpoint {path} holds non-finite weights ({', '.join(bad[:3])}"
                         f"{f' and {len(bad) - 3} more' if len(bad) > 3 else ''}): it comes from a diverged run; "
                         "retrain it with a lower learning rate")
    return state


def non_finite_tensors(tensors: dict[str, Any]) -> list[str]:
    """The names of the floating-point tensors in `tensors` that hold NaN or infinity."""
    return [name for name, value in tensors.items()
            if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all()]
