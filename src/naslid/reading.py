"""Bounded reads of the files a user hands naslid (configurations, predictions, latency tables, sub-spaces).

Each file is opened, checked to be a regular file (a device such as /dev/zero or a FIFO never ends), and read up
to a size limit; every error names the file and says what was expected, in one line.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

CONFIG_LIMIT = 16 * 2**20  # a run configuration, a sub-space or a latency table: kilobytes in practice
DATA_LIMIT = 512 * 2**20  # a predictions or benchmark file: all of NB201 is about 2 MB


def read_bytes(path: str | os.PathLike, *, limit: int, what: str) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them; `what` names the file in errors."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode  # before opening: opening a FIFO would wait for a writer
        if stat.S_ISDIR(mode):
            raise ValueError(f"{what} {path} is a directory; expected a file")
        if not stat.S_ISREG(mode):
            raise ValueError(f"{what} {path} is {_kind(mode)}; expected a regular file")
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} not found") from None
    except PermissionError:
        raise ValueError(f"{what} {path} cannot be read (permission denied)") from None
    if len(data) > limit:
        raise ValueError(f"{what} {path} is larger than {_size(limit)}; expected a {what} of at most that size")
    return data


def read_text(path: str | os.PathLike, *, limit: int, what: str) -> str:
    """The UTF-8 text of `path` (see `read_bytes`); bytes that are not UTF-8 are an error naming their offset."""
    data = read_bytes(path, limit=limit, what=what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{what} {path} is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}); "
                         "expected a text file such as JSON or CSV") from None


def read_json(path: str | os.PathLike, *, limit: int = CONFIG_LIMIT, what: str, **loads: Any) -> Any:
    """The JSON document in `path` (see `read_text`); `loads` go to `json.loads`."""
    text = read_text(path, limit=limit, what=what)
    try:
        return json.loads(text, **loads)
    except json.JSONDecodeError as error:
        raise ValueError(f"{what} {path} is not valid JSON ({error})") from None
    except RecursionError:
        raise ValueError(f"{what} {path} nests too deeply to be read as JSON") from None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def _size(count: int) -> str:
    return f"{count // 2**20} MiB" if count >= 2**20 else f"{count} bytes"
