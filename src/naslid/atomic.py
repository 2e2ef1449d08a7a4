"""Atomic file writes: the one place where naslid writes a file that users keep.

Each function writes a temporary file beside the target, then renames it over the target, so a reader (or a
resumed run) finds the old file or the new one, never half of one, even if the writer is killed. The temporary
is named ``NAME.<random>.tmp`` in the target's folder (a rename cannot cross file systems), so a killed writer's
leftovers match ``*.tmp``, the pattern the runs' stale-file cleanup removes. Its mode is set to what any new file
gets under the umask, as `tempfile.mkstemp` creates files with mode 0600. The target's folder must exist, and a
target that exists must be a regular file: a rename would replace a device (/dev/full) or a FIFO with a file.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

TEMPORARY_SUFFIX = ".tmp"  # the runs' stale-file cleanup globs "*.tmp"


def write_with(path: str | os.PathLike, writer: Callable[[IO[bytes]], object]) -> Path:
    """Write `path` by calling `writer` on a binary file open for writing, then renaming it into place.

    For writers that take a file object (`torch.save`, `np.save`, `torch.export.save`, `Figure.savefig`).
    On any exception, the writer's included, the temporary file is removed and an existing `path` is left as it
    was. Returns `path`.
    """
    path = Path(path)
    check_target(path)
    descriptor, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=TEMPORARY_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), umask_file_mode())
            writer(handle)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def check_target(path: str | os.PathLike) -> None:
    """Refuse a target that exists and is not a regular file (a directory, a device, a FIFO, a socket): the rename
    would put a file in its place. A symbolic link is judged by what it points to."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise ValueError(f"{path} is a directory; expected a file path such as {Path(path) / 'out.json'}")
    if not stat.S_ISREG(mode):
        kind = ("a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
                else "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a special file")
        raise ValueError(f"{path} is {kind}, not a regular file; expected a file path to write")


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically; returns `path`."""
    return write_with(path, lambda handle: handle.write(data))


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (no newline translation); returns `path`."""
    return write_bytes(path, text.encode(encoding))


def write_json(path: str | os.PathLike, data: Any, *, indent: int | None = None, allow_nan: bool = True,
               trailing_newline: bool = False) -> Path:
    """Write `data` as JSON to `path` atomically; returns `path`.

    `indent` and `allow_nan` mean what they mean to `json.dumps` (and default the same way); `trailing_newline`
    ends the file with a newline. The text is encoded before the temporary file is opened, so data that cannot
    be encoded raises with no file touched.
    """
    text = json.dumps(data, indent=indent, allow_nan=allow_nan)
    return write_text(path, text + "\n" if trailing_newline else text)


def copy_file(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Copy `source`'s bytes to `target` atomically; returns `target`."""
    with open(source, "rb") as stream:
        return write_with(target, lambda handle: shutil.copyfileobj(stream, handle))


def umask_file_mode() -> int:
    """0o666 without the bits the current umask removes: the mode a file created with `open` would get."""
    try:
        with open("/proc/self/status") as status:  # Linux: read the umask without changing it
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it (not thread-safe, briefly)
    os.umask(mask)
    return 0o666 & ~mask
