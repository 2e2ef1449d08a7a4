"""Writes `naslid/cli/run_flags_data.py`: the run commands' flags, read from the configuration fields once.

The run flags are declared on the configuration dataclasses (`naslid.options.flag`), whose modules import torch;
`naslid train --help` reads the generated copy instead, which imports nothing but `naslid.options`. After changing
a flagged field, a registry's built-in entries, a preset, a protocol, a scale or a method, regenerate it:

    python -m naslid.cli.run_flags_generator

tests/test_cli_run_flags.py fails while the committed file differs from what this writes.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable, Collection
from pathlib import Path
from types import ModuleType
from typing import Any

from naslid import options
from naslid.options import CliFlag

DATA_FILE = Path(__file__).with_name("run_flags_data.py")
_WIDTH = 116  # characters of a generated line at most (ruff allows 120)

_HEADER = '''"""The run commands' flags, generated from the configuration fields that declare one (naslid.options.flag).

Do not edit: `python -m naslid.cli.run_flags_generator` writes this file from `naslid.runs.configure.run_options()`
and the registries named below, and tests/test_cli_run_flags.py fails while the two differ. It imports no torch,
so that every `naslid COMMAND --help` answers at once; a registry's choices are read from the registry itself once
its module is imported (`RegisteredNames`), so entries that plug-ins register are offered.
"""

'''


def generate_run_flags_data() -> str:
    """The text of `run_flags_data.py` for the library as it is now (the built-in entries of every registry)."""
    from naslid.nn.supernet import SUPERNETS
    from naslid.runs.configure import BN_CHOICES, run_options
    from naslid.runs.presets import PRESETS
    from naslid.runs.protocols import METHODS, PROTOCOL_CHOICES, PROTOCOLS, SCALES

    imports = {"CliFlag"}
    lines = ["# (dotted setting, flag) of every configuration field with a flag, in the order of",
             "# naslid.runs.configure.run_options()", "RUN_OPTIONS: tuple[tuple[str, CliFlag], ...] = ("]
    for setting, cli in run_options():
        lines += _option_lines(setting, cli, imports)
    lines += [")", "# the spaces whose network configuration's flags are listed above (with another space registered, "
              "the CLI", "# reads the flags from the library)", f"NETWORK_SPACES = {_tuple(SUPERNETS)}", "",
              "# the choices of the run flags that set no single field"]
    for name, table in (("PRESETS", PRESETS), ("PROTOCOLS", PROTOCOLS), ("SCALES", SCALES), ("METHODS", METHODS)):
        lines.append(f"{name} = {_choices(table, imports, indent=4)}")
    lines += [f"BN_CHOICES = {_tuple(BN_CHOICES)}", f"PROTOCOL_CHOICES = {_tuple(PROTOCOL_CHOICES)}"]
    classes = sorted(name for name in imports if name[0].isupper())
    functions = sorted(name for name in imports if not name[0].isupper())
    text = _HEADER + f"from naslid.options import {', '.join(classes + functions)}\n\n" + "\n".join(lines) + "\n"
    too_long = [line for line in text.splitlines() if len(line) > 120]
    if too_long:
        raise ValueError(f"a generated line is over 120 characters: {too_long[0]!r}")
    return text


def write_run_flags_data(path: Path = DATA_FILE) -> Path:
    """Write `generate_run_flags_data()` to `path` (the package's own file by default); the path."""
    from naslid.atomic import write_text

    return write_text(path, generate_run_flags_data())


def _option_lines(setting: str, cli: CliFlag, imports: set[str]) -> list[str]:
    """`    ("section.field", CliFlag(("--flag",), parse=..., choices=..., help=(` and the help's lines after it."""
    keywords = []
    if cli.parse is not None:
        keywords.append(f"parse={_parse(cli.parse, imports)}")
    if cli.choices is not None:
        keywords.append(f"choices={_choices(cli.choices, imports)}")
    if cli.metavar is not None:
        keywords.append(f"metavar={_quoted(cli.metavar)}")
    if cli.partition:
        keywords.append("partition=True")
    lines = [f"    ({_quoted(setting)}, CliFlag({_tuple(cli.flags)}"]
    for keyword in [*keywords, "help=("]:
        if len(lines[-1].rpartition("\n")[2]) + len(keyword.partition("\n")[0]) + 2 > _WIDTH:
            lines[-1] += ","
            lines.append(f"        {keyword}")
        else:
            lines[-1] += f", {keyword}"
    lines += [f"        {_quoted(chunk)}" for chunk in _chunks(cli.help, _WIDTH - 10)]
    lines[-1] += "))),"
    return lines


def _parse(parse: Callable[[str], Any], imports: set[str]) -> str:
    """The code of a flag's parser: `integer(1)`, `number(0, above=True)`, or a parser of naslid.options by name."""
    spelling = getattr(parse, "spelling", None)
    if spelling is None and getattr(options, getattr(parse, "__name__", ""), None) is parse:
        spelling = parse.__name__
    if spelling is None:
        raise ValueError(f"a run flag's parser {parse!r} is none of naslid.options' (integer, number, on_off, "
                         "whole_numbers, memory_format): the generated flags cannot name it")
    imports.add(spelling.partition("(")[0])
    return spelling


def _choices(choices: Collection[str] | Callable[[], Collection[str]], imports: set[str], indent: int = 12) -> str:
    """A tuple of names, or `RegisteredNames(module, table, names)` for a registry (a dict) plug-ins may extend."""
    if callable(choices):
        raise ValueError(f"a run flag's choices are a function ({choices!r}); give a tuple or a registry (a dict)")
    if not isinstance(choices, dict):
        return _tuple(choices)
    imports.add("RegisteredNames")
    module, table = _where(choices)
    arguments = f"{_quoted(module)}, {_quoted(table)}, {_tuple(choices)}"
    if len(arguments) < _WIDTH - 40:
        return f"RegisteredNames({arguments})"
    return f"RegisteredNames(\n{' ' * indent}{arguments})"


def _where(registry: dict) -> tuple[str, str]:
    """The naslid module that defines `registry` (assigns it at its top level; not one that imports it), and its
    name there: a plug-in that registers an entry has imported that module."""
    for module_name, module in sorted(sys.modules.items()):
        if not module_name.startswith("naslid.") or module is None:
            continue
        for name, value in list(vars(module).items()):
            if value is registry and name in _assigned_names(module):
                return module_name, name
    raise ValueError("a run flag's choices are a dict that no naslid module defines by name")


def _assigned_names(module: ModuleType) -> set[str]:
    """The names a module's top level assigns (`NAME = ...`, `NAME: type = ...`)."""
    tree = ast.parse(Path(module.__file__).read_text())
    names = set()
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])
        names.update(target.id for target in targets if isinstance(target, ast.Name))
    return names


def _tuple(items: Collection[str]) -> str:
    quoted = [_quoted(item) for item in items]
    return f"({quoted[0]},)" if len(quoted) == 1 else f"({', '.join(quoted)})"


def _quoted(text: str) -> str:
    return f'"{text}"' if '"' not in text and "\\" not in text else repr(text)


def _chunks(text: str, width: int) -> list[str]:
    """`text` cut after spaces into pieces of at most `width` characters (a longer word stays whole)."""
    chunks = [""]
    for word in re.split(r"(?<= )", text):
        if chunks[-1] and len(chunks[-1]) + len(word) > width:
            chunks.append("")
        chunks[-1] += word
    return chunks


if __name__ == "__main__":
    print(f"wrote {write_run_flags_data()}")
