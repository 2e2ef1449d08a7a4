"""Command-line options declared on the configuration fields they set: one flag-to-config mapping.

A configuration dataclass marks a field that has a flag with `field(..., metadata=flag("--edge-score", help))`.
`naslid.runs.configure.run_options()` collects them over a run's sections, and the CLI's run flags are generated
from that list (once, into `naslid.cli.run_flags_data`, so that `--help` needs no torch): the flag, its parser
(`integer`, `number`, `on_off`, `whole_numbers`, `memory_format`), its choices (a tuple, or a library registry
that plug-ins may extend: `RegisteredNames` offers what they registered) and its help. An error in a setting
(`naslid.runs.configure.SettingError`) is mapped back to the same flag.

This module imports no torch (the parsers are also used by the CLI's own flags).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

# the largest value a 64-bit signed integer holds: seeds and counts go to numpy and torch as int64
LARGEST_INTEGER = 2**63 - 1


@dataclass(frozen=True)
class CliFlag:
    """How a configuration field reads on the command line."""

    flags: tuple[str, ...]  # e.g. ("-k", "--k"); the last is the name errors use
    help: str
    parse: Callable[[str], Any] | None = None  # an argparse type; None: the text itself
    choices: Collection[str] | Callable[[], Collection[str]] | None = None  # names, or a function giving them
    metavar: str | None = None
    partition: bool = False  # only where a command partitions (split and schedule settings)

    @property
    def name(self) -> str:
        return self.flags[-1]

    def choice_names(self) -> list[str] | None:
        choices = self.choices() if callable(self.choices) else self.choices
        return None if choices is None else list(choices)


@dataclass(frozen=True)
class RegisteredNames:
    """The names in a registry that plug-ins may extend (`module.table`), read without importing it: the registry's
    own names once its module is imported (a plug-in that registers an entry has imported it), else `names`, the
    built-in entries when the run flags were generated."""

    module: str
    table: str
    names: tuple[str, ...]

    def __call__(self) -> list[str]:
        loaded = sys.modules.get(self.module)
        return list(self.names if loaded is None else getattr(loaded, self.table, self.names))


def flag(*flags: str, help: str, parse: Callable[[str], Any] | None = None,  # noqa: A002 (argparse's word)
         choices: Collection[str] | Callable[[], Collection[str]] | None = None, metavar: str | None = None,
         partition: bool = False) -> dict[str, CliFlag]:
    """Field metadata giving the field a command-line flag: `field(default=..., metadata=flag("--lr", help=...))`."""
    return {"cli": CliFlag(tuple(flags), help, parse, choices, metavar, partition)}


def integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from `minimum` to `maximum` (default 2**63 - 1); the parser names the flag
    in its error. A count that only repeats work (timing repeats, bootstrap resamples) takes a `maximum`, so that a
    typo cannot start a run that never ends."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if maximum is not None and value is not None and minimum <= value and value > maximum:
            raise argparse.ArgumentTypeError(f"{text}: expected an integer >= {minimum} and <= {maximum:,}")
        if value is None or not minimum <= value <= LARGEST_INTEGER:
            raise argparse.ArgumentTypeError(f"{text}: expected an integer >= {minimum}"
                                             + (" and < 2**63" if value is not None and value > 0 else ""))
        return value

    parse.__name__ = "integer"  # argparse's fallback message says "invalid integer value"
    parse.spelling = f"integer({minimum!r}{'' if maximum is None else f', {maximum!r}'})"  # the generated run flags'
    return parse


def number(minimum: float, *, above: bool = False, below: float | None = None,
           maximum: float | None = None) -> Callable[[str], float]:
    """An argparse type: a finite number >= `minimum` (> with `above`), < `below`, <= `maximum`."""
    expected = f"a finite number {'>' if above else '>='} {minimum:g}"
    expected += f" and < {below:g}" if below is not None else ""
    expected += f" and <= {maximum:g}" if maximum is not None else ""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if (not math.isfinite(value) or value < minimum or (above and value == minimum)
                or (below is not None and value >= below) or (maximum is not None and value > maximum)):
            raise argparse.ArgumentTypeError(f"{text}: expected {expected}")
        return value

    parse.__name__ = "number"
    parse.spelling = (f"number({minimum!r}" + (", above=True" if above else "")  # the generated run flags' code
                      + ("" if below is None else f", below={below!r}")
                      + ("" if maximum is None else f", maximum={maximum!r}") + ")")
    return parse


def on_off(text: str) -> bool:
    """An argparse type: on or off."""
    values = {"on": True, "off": False}
    if text not in values:
        raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")
    return values[text]


def memory_format(text: str) -> bool:
    """An argparse type: channels-last (True) or contiguous (False), `TrainConfig.channels_last`."""
    formats = {"channels-last": True, "contiguous": False}
    if text not in formats:
        raise argparse.ArgumentTypeError(f"expected channels-last or contiguous, got {text!r}")
    return formats[text]


def whole_numbers(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated whole numbers, e.g. split epochs 20,40,60,80."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values or not all(0 <= value <= LARGEST_INTEGER for value in values):
        raise argparse.ArgumentTypeError(f"{text}: expected comma-separated whole numbers >= 0 like 20,40,60,80")
    return values
