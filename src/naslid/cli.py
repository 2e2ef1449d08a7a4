"""`naslid` command line: thin subcommands over the library.

Each subcommand parses its flags (unset flags are None, so the library's defaults stand), calls one
library function, and prints a short summary with the path it wrote. A user error prints one line and
exits with status 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

# Each entry: (name, help, add_arguments(parser), run(args) -> exit code).
Command = tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


def _overrides(args: argparse.Namespace, names: Sequence[str]) -> dict:
    """The flags among `names` that the user set (not None), for overriding a config's defaults."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


# --- commands (each block adds its functions; register it in COMMANDS below) ---


COMMANDS: list[Command] = []


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="naslid",
        description="Neural architecture search with local intrinsic dimension (NAS-LID).",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text, add_arguments, run in COMMANDS:
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(command_parser)
        command_parser.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except (ValueError, KeyError, FileNotFoundError, NotADirectoryError) as error:
        if args.debug:
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"naslid {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"naslid {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
