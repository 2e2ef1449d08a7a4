"""What the commands show besides their results: progress bars on a terminal, log lines elsewhere, table cells.

Imports no torch.
"""

from __future__ import annotations

import argparse
import logging
import sys

# the logger of the one line per training epoch (naslid.train.spos; named here so that the parser imports no torch)
EPOCH_LOGGER = "naslid.train.epochs"


def terminal() -> bool:
    """Whether stderr is a terminal: progress bars only there; a file or pipe gets one line per epoch instead."""
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def bars(args: argparse.Namespace) -> bool:
    """Progress bars: on a terminal, unless --no-progress."""
    return not getattr(args, "no_progress", False) and terminal()


def configure_logging(args: argparse.Namespace) -> None:
    """INFO lines (progress details) only with -v; warnings and errors always; all on stderr. When stderr is not
    a terminal (a log file, a pipe), training writes one line per epoch without -v, in place of progress bars."""
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    logging.getLogger("naslid").setLevel(level)
    logging.getLogger(EPOCH_LOGGER).setLevel(logging.NOTSET if terminal() else logging.INFO)


def format_score(value: float | None, width: int) -> str:
    """A table cell of `width` characters: the value to 4 decimals, or '-' when it is missing or NaN."""
    if value is None or value != value:  # missing or NaN
        return "-".rjust(width)
    return f"{value:{width}.4f}"
