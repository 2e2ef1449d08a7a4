"""Reading a command line: the one-line-error parser, the flags a user set, and paths checked before any work.

Imports no torch: every command's parser is built from here, `--help` included.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from naslid.options import integer

# the type of every --seed flag
SEED = integer(0)


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block): `naslid train: error: --seed -1: ...`."""

    def error(self, message: str) -> NoReturn:
        # "argument -k/--k: 0: expected ..." from a range type reads "--k 0: expected ..."
        match = re.fullmatch(r"argument (?:\S+/)?(\S+): (\S*: expected .*)", message, flags=re.DOTALL)
        if match:
            message = f"{match[1]} {match[2]}"
        self.exit(2, f"{self.prog}: error: {shortened(' '.join(message.split()))}\n")


def overrides(args: argparse.Namespace, names: Sequence[str]) -> dict:
    """The flags among `names` that the user set (not None), for overriding a config's defaults."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def check_output(path: str | None) -> None:
    """An output path that cannot be written fails before any work, not after the results are printed."""
    from naslid.atomic import check_target

    if path is not None:
        try:
            check_target(path)
        except ValueError as error:
            raise ValueError(f"--out {error}") from None


def existing(path: Path) -> Path:
    """`path` (a run directory's file) if it is a file; else a FileNotFoundError asking whether it is a run."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {path.parent} a naslid run directory?")
    return path


def one_line(error: BaseException) -> str:
    """A user error as one line: the message, and for an OS error the file it concerns."""
    if isinstance(error, KeyError) and error.args:
        message = str(error.args[0])
    elif isinstance(error, OSError) and error.filename is not None and error.strerror:
        message = f"{error.filename}: {error.strerror}"
    else:
        message = str(error) or type(error).__name__
    return shortened(" ".join(message.split()))


_LONGEST_WORD = 120  # characters of one value an error line repeats; a longer one is cut in the middle
_LONGEST_LINE = 2000


def shortened(message: str) -> str:
    """`message` with every overlong word (a pasted value, a file's contents) cut to its two ends and its length,
    and the whole line kept under `_LONGEST_LINE` characters (its start and its end, where the advice is)."""
    def cut(word: str) -> str:
        if len(word) <= _LONGEST_WORD:
            return word
        half = _LONGEST_WORD // 2 - 10
        return f"{word[:half]}...[{len(word):,} characters]...{word[-half:]}"

    message = " ".join(cut(word) for word in message.split(" "))
    if len(message) > _LONGEST_LINE:
        message = f"{message[:_LONGEST_LINE // 2]} ...[{len(message):,} characters]... {message[-_LONGEST_LINE // 4:]}"
    return message
