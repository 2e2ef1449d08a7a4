"""One writer per run directory: an exclusive `flock` on ``RUN/.naslid.lock``, held until released or exit.

The kernel drops a `flock` when the process holding it exits or is killed, so a crash never leaves a
directory locked. The file also records the holder's PID and command line, only to name it when a second
writer is refused. Within one process the lock is re-entrant (a comparison opens the runs it contains).
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

LOCK_FILE = ".naslid.lock"

_held: dict[Path, int] = {}  # run directory (resolved) -> descriptor holding its lock, in this process


class RunDirectoryBusy(RuntimeError):
    """Another process is writing to the run directory."""


def lock_run_directory(run_dir: str | os.PathLike) -> bool:
    """Create `run_dir` if needed and hold its lock for this process.

    Returns True when this call took the lock, False when this process held it already. Raises
    `RunDirectoryBusy` naming the holder when another process holds it, and ValueError when `run_dir`
    exists and is not a directory.
    """
    run_dir = Path(run_dir).resolve()
    if run_dir in _held:
        return False
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"run directory {run_dir} exists and is not a directory; choose another path")
    run_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(descriptor)
        os.close(descriptor)
        raise RunDirectoryBusy(
            f"run directory {run_dir} is in use by {holder}; wait for it to finish or stop it, then rerun "
            "(a stopped or killed process frees the directory)"
        ) from None
    os.ftruncate(descriptor, 0)
    os.write(descriptor, f"{os.getpid()}\n{' '.join(sys.argv)}\n".encode())
    _held[run_dir] = descriptor
    return True


def release_run_directory(run_dir: str | os.PathLike) -> None:
    """Release this process's lock on `run_dir` (nothing if it holds none); the lock file stays."""
    descriptor = _held.pop(Path(run_dir).resolve(), None)
    if descriptor is not None:
        os.close(descriptor)  # closing the only descriptor drops the flock


def holds_run_directory(run_dir: str | os.PathLike) -> bool:
    """Whether this process holds `run_dir`'s lock."""
    return Path(run_dir).resolve() in _held


def _holder(descriptor: int) -> str:
    """'process PID (COMMAND)' as the holder wrote it, or a neutral description if it wrote nothing yet."""
    text = os.pread(descriptor, 4096, 0).decode(errors="replace").splitlines()
    if not text or not text[0].strip().isdigit():
        return "another process"
    command = text[1].strip() if len(text) > 1 else ""
    return f"process {text[0].strip()}" + (f" ({command})" if command else "")
