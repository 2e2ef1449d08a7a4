"""`naslid` command line: thin subcommands over the library.

Each subcommand parses its flags (unset flags are None, so the library's defaults stand), calls one
library function, and prints a short summary with the path it wrote. A user error prints one line and
exits with status 2; `--debug` shows the traceback instead.

This module is the entry point: the table of commands, the global flags, plug-ins loaded before parsing, and
error handling. Each group of commands lives in its own module, imported only when one of its commands is run or
its --help asked for: `training` (train, partition, finetune), `searching` (search, rank, latency-table, export,
retrain), `comparing` (compare, demo, report) and `inspecting` (score, profile, spaces, presets, check). The run
commands' configuration flags come from `run_flags` (built from the generated `run_flags_data`, no torch).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from naslid.cli.configuration import print_config
from naslid.cli.output import EPOCH_LOGGER, configure_logging
from naslid.cli.parsing import OneLineParser, one_line
from naslid.cli.run_flags import setting_flags

# Each entry: (name, help, the module of naslid.cli whose HANDLERS give its add_arguments(parser) and run(args))
Command = tuple[str, str, str]

COMMANDS: list[Command] = [
    ("score", "score a predictions file against benchmark ground truth", "inspecting"),
    ("profile", "profile the layer-wise LID of models; write JSON and a plot", "inspecting"),
    ("train", "train a supernet single-path (SPOS) into a run directory", "training"),
    ("partition", "train and split a supernet (NAS-LID, GM-NAS, few-shot, SPOS)", "training"),
    ("finetune", "fine-tune the leaves of a partition run", "training"),
    ("search", "evolutionary or random search with a run's (sub-)supernets", "searching"),
    ("rank", "score architectures with any ranker (params, flops, naswot, ..., a run's proxy, an aggregate) and "
     "rank them against the benchmark beside the floor", "searching"),
    ("latency-table", "measure a MobileNet space's per-block latency table on this device (for latency budgets)",
     "searching"),
    ("export", "export an architecture: JSON spec, standalone network with inherited weights (torch.export)",
     "searching"),
    ("retrain", "retrain an exported architecture from scratch with a standard recipe", "searching"),
    ("spaces", "list the search spaces naslid knows: built in, installed (entry points) and --import-ed",
     "inspecting"),
    ("presets", "list the presets: each one's purpose and every setting on which they differ", "inspecting"),
    ("check", "verify a run directory: its tree partitions the space and every checkpoint is its node's",
     "inspecting"),
    ("report", "write a run's or a comparison's self-contained HTML page: tables, tau curves, partition tree, "
     "split evidence, LID profiles", "comparing"),
    ("compare", "SPOS, Few-shot NAS, GM-NAS and NAS-LID side by side: table, JSON, plots", "comparing"),
    ("demo", "the pipeline end to end: SPOS vs NAS-LID on CIFAR-10 at 16x16 (about 8 minutes on 2 CPU cores), or "
     "on the bundled digits when CIFAR-10 is absent", "comparing"),
]


def _add_global_flags(parser: argparse.ArgumentParser, default: object) -> None:
    """--debug and -v/--verbose: on the main parser (default False) and again on every subcommand (default
    SUPPRESS, so an unset flag there keeps the main parser's value): `naslid -v train RUN` = `naslid train RUN -v`."""
    group = parser.add_argument_group("global options") if default is argparse.SUPPRESS else parser
    group.add_argument("--debug", action="store_true", default=default, help="show full tracebacks for errors")
    group.add_argument("-v", "--verbose", action="store_true", default=default, help="log progress details")
    group.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                       default=None if default is False else default,  # a list once given (False cannot grow)
                       help="import MODULE (a dotted name or a .py file) before the command runs, e.g. one that "
                       "registers a search space of your own (repeatable; installed naslid.spaces entry points are "
                       "imported without it)")


_EVERY_COMMAND = "*"


def build_parser(command: str | None = _EVERY_COMMAND) -> argparse.ArgumentParser:
    """The parser of every command, or with `command` only that command's flags (the others' help lines stay):
    a command's module is imported only to build its own flags, so `naslid COMMAND --help` reads one module."""
    from naslid import __version__

    parser = OneLineParser(
        prog="naslid",
        description="Neural architecture search with local intrinsic dimension (NAS-LID).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_global_flags(parser, default=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text, module in COMMANDS:
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if command in (_EVERY_COMMAND, name):
            add_arguments, run = importlib.import_module(f"naslid.cli.{module}").HANDLERS[name]
            add_arguments(command_parser)
            command_parser.set_defaults(run=run)
        _add_global_flags(command_parser, default=argparse.SUPPRESS)
    return parser


def _scan(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """The command `argv` names (its first word that is not a flag or --import's module), if any, and the modules
    it asks to import (--import MODULE, --import=MODULE or an abbreviation argparse takes, anywhere)."""
    names = {name for name, *_ in COMMANDS}
    command, imports, words = None, [], iter(argv)
    for word in words:
        flag, equals, value = word.partition("=")
        if len(flag) >= 4 and "--import".startswith(flag):  # --imp, --impo, ... as argparse abbreviates
            imports.append(value if equals else next(words, ""))
        elif command is None and not word.startswith("-"):
            command = word if word in names else ""
    return command or None, [name for name in imports if name]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command `argv` (default: the process's arguments) names; its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command, preloaded = _scan(argv)
    if command is not None:  # entry points and --import first: what they register is offered as a flag's choice
        from naslid.plugins import load_plugins

        try:
            load_plugins(preloaded)
        except ValueError as error:
            if "--debug" in argv:
                raise
            print(f"naslid {command}: error: {one_line(error)}", file=sys.stderr)
            return 2
    parser = build_parser(command)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help or --version (0), or a bad flag already printed as one line (2)
        return int(exit.code or 0)
    configure_logging(args)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from naslid.runs.lock import RunDirectoryBusy

    try:
        missed = [name for name in getattr(args, "imports", None) or () if name not in preloaded]
        if missed:  # a spelling the scan above did not know: imported now (its entries were not offered as choices)
            from naslid.plugins import load_plugins

            load_plugins(missed)
        if getattr(args, "print_config", False):
            return print_config(args)
        _join_torchrun(args)
        from naslid.memory import command_flags, out_of_memory_named

        with out_of_memory_named(f"running `naslid {args.command}`",  # unless a step named it already
                                 lambda: command_flags(args, setting_flags())):
            return int(args.run(args) or 0)
    except (ValueError, KeyError, OSError, MemoryError, RunDirectoryBusy) as error:
        if args.debug:
            raise
        print(f"naslid {args.command}: error: {one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"naslid {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    finally:
        _leave_torchrun()


# subcommands that train data-parallel when started by torchrun (every rank runs the same command)
_TORCHRUN_COMMANDS = ("train", "partition")


def _join_torchrun(args: argparse.Namespace) -> None:
    """Under torchrun: join the process group, train on this rank's device; only rank 0 prints and writes."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return
    if args.command not in _TORCHRUN_COMMANDS:
        raise ValueError(f"torchrun runs `naslid {' / '.join(_TORCHRUN_COMMANDS)}` data-parallel, not `naslid "
                         f"{args.command}`; start it without torchrun (several GPUs: --runner ray)")
    if getattr(args, "runner", "sequential") != "sequential":
        raise ValueError(f"--runner {args.runner}: under torchrun every rank trains the same node; leave --runner "
                         "unset")
    from naslid.train.distributed import init_from_environment, is_main_process

    args.rank_device = init_from_environment()
    if not is_main_process():
        args.no_progress = True
        logging.getLogger(EPOCH_LOGGER).setLevel(logging.NOTSET)  # epoch lines from rank 0 only (unless -v)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the rest of this process)


def _leave_torchrun() -> None:
    if "torch.distributed" not in sys.modules:  # nothing to leave (and no torch import for a quick command)
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
