"""The README and docs/ as written (issues 20 and 32): the Python API example runs, every `naslid` command in a
```bash block parses (and train, partition and compare build their configuration with --print-config when their
input files exist here), every linked file and heading exists, and the README links every docs page."""

import ast
import json
import logging
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# programs a ```bash block may run besides naslid (a misspelt `naslid` is not silently skipped)
OTHER_PROGRAMS = {".", "source", "pip", "pytest", "mkdir", "curl", "tar", "ray", "apt-get", "python", "python3",
                  "bash", "torchrun"}
# the flags whose values name an input file or folder: a command whose inputs are absent here is only parsed
INPUT_FLAGS = {"--data-path", "--config", "--subspace", "--benchmark", "--import", "--checkpoint", "--latency-table"}
PRINT_CONFIG_COMMANDS = {"train", "partition", "compare"}  # the commands that take --print-config


@dataclass(frozen=True)
class Command:
    """One `naslid` command of a ```bash block: where it is written, and its words after `naslid`."""

    where: str  # "docs/page.md:LINE"
    argv: tuple[str, ...]

    def imports(self) -> list[str]:
        return [value for flag, value in zip(self.argv, self.argv[1:], strict=False) if flag == "--import"]

    def inputs_exist(self) -> bool:
        """Whether every input the command names exists, relative to the repository root (as the docs run it)."""
        words = [part for word in self.argv for part in (word.split("=", 1) if word.startswith("--") else [word])]
        values = [value for flag, value in zip(words, words[1:], strict=False) if flag in INPUT_FLAGS]
        return all(value == "none" or (ROOT / value).exists() for value in values)


def _bash_blocks(text: str) -> list[tuple[int, list[str]]]:
    """The ```bash blocks of a markdown text: (line number of the block's first line, its lines dedented)."""
    blocks, lines, index = [], text.splitlines(), 0
    while index < len(lines):
        opening = re.fullmatch(r"(\s*)```(\S*)\s*", lines[index])
        index += 1
        if not opening:
            continue
        indent, language, start, body = len(opening.group(1)), opening.group(2), index + 1, []
        while index < len(lines) and not re.fullmatch(r"\s*```\s*", lines[index]):
            body.append(lines[index][indent:])
            index += 1
        index += 1
        if language == "bash":
            blocks.append((start, body))
    return blocks


def _logical_lines(start: int, body: list[str]) -> list[tuple[int, str]]:
    """Lines with backslash continuations joined: (line number where each starts, text)."""
    joined, pending, first = [], "", start
    for number, line in enumerate(body, start):
        if not pending:
            first = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append((first, pending + line))
        pending = ""
    assert not pending, f"line {first}: a continuation backslash ends the block"
    return joined


def _expand(text: str, variables: dict[str, str], where: str) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"{where}: ${name} is not set in its block"
        return variables[name]

    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", value, text)


def _commands_of(path: Path) -> tuple[list[Command], list[str]]:
    """The naslid commands of a page's ```bash blocks, and the scripts other commands run (python/bash FILE)."""
    commands, scripts = [], []
    name = path.relative_to(ROOT).as_posix()
    for start, body in _bash_blocks(path.read_text()):
        variables: dict[str, str] = {}
        for number, line in _logical_lines(start, body):
            where = f"{name}:{number}"
            words = shlex.split(line, comments=True)
            assignment = re.fullmatch(r"([A-Za-z_]\w*)=(.*)", words[0]) if len(words) == 1 else None
            if assignment:
                variables[assignment.group(1)] = assignment.group(2)
                continue
            words = shlex.split(_expand(line, variables, where), comments=True)
            segments, current = [], []
            for word in words:
                if word in ("&&", "||", ";", "|"):
                    segments.append(current)
                    current = []
                else:
                    current.append(word)
            segments.append(current)
            for segment in segments:
                while segment and re.fullmatch(r"[A-Za-z_]\w*=.*", segment[0]):  # VAR=value before a program
                    segment = segment[1:]
                if not segment:
                    continue
                program = segment[0]
                if "-m" in segment and segment[segment.index("-m") + 1:][:1] in (["naslid"], ["naslid.cli"]):
                    commands.append(Command(where, tuple(segment[segment.index("-m") + 2:])))
                elif program == "naslid":
                    commands.append(Command(where, tuple(segment[1:])))
                else:
                    assert program in OTHER_PROGRAMS, f"{where}: `{program}` is neither naslid nor a known program"
                    if program in ("python", "python3", "bash") and len(segment) > 1 and segment[1].endswith(
                            (".py", ".sh")):
                        scripts.append((where, segment[1]))
    return commands, scripts


COMMANDS, SCRIPTS = [], []
for _page in PAGES:
    _commands, _scripts = _commands_of(_page)
    COMMANDS += _commands
    SCRIPTS += _scripts


def test_the_extraction_finds_the_commands():
    """Every page with a ```bash block contributes; a broken extraction would otherwise pass by finding nothing."""
    assert len(COMMANDS) >= 80, len(COMMANDS)
    assert ("demo",) in {command.argv for command in COMMANDS}
    assert any("--import" in command.argv for command in COMMANDS)
    # the two commands of the README: install and run the demo; install and run the tests (what CI runs)
    assert "pip install torch==2.13.0 -e . && naslid demo\n" in README
    assert 'pip install torch==2.13.0 -e ".[dev]" && pytest -q -n 2 --dist loadfile\n' in README


@pytest.fixture(scope="module")
def registries_restored():
    """Commands run in this process (--import examples/chain_space.py, logging levels set by `main`); afterwards
    the registries, the imported modules and the loggers are as before, so later tests start clean."""
    from naslid import nn as naslid_nn
    from naslid import plugins, spaces
    from naslid.spaces import base

    tables = (spaces.SPACES, base._INSTANCES, naslid_nn.SUPERNETS)
    saved = [dict(table) for table in tables]
    imported, modules = list(plugins._IMPORTED), set(sys.modules)
    loggers = {name: logging.getLogger(name).level for name in ("", "naslid", "naslid.train.epochs")}
    handlers = list(logging.getLogger().handlers)
    yield
    for table, entries in zip(tables, saved, strict=True):
        table.clear()
        table.update(entries)
    plugins._IMPORTED[:] = imported
    for name in set(sys.modules) - modules:
        if name.startswith("naslid_user_"):
            sys.modules.pop(name)
    for name, level in loggers.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger().handlers[:] = handlers


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: f"{command.where} {command.argv[0]}")
def test_every_documented_command_runs_as_written(command, registries_restored, monkeypatch, capsys):
    """argparse takes the command as written; train, partition and compare also build and check their configuration
    (--print-config) when the files they read exist here. Commands that read what an earlier command wrote (a run
    directory) are parsed only."""
    from naslid.cli import build_parser, main
    from naslid.plugins import load_plugins

    monkeypatch.chdir(ROOT)
    runs_before = (ROOT / "runs").exists()
    load_plugins(command.imports())
    try:
        args, refused = build_parser().parse_args(list(command.argv)), None
    except SystemExit as exit:
        args, refused = None, exit.code
    if refused is not None:
        pytest.fail(f"{command.where}: argparse refuses `naslid {shlex.join(command.argv)}` (exit {refused}): "
                    f"{capsys.readouterr().err.strip()}")
    if args.command not in PRINT_CONFIG_COMMANDS or not command.inputs_exist() or "--help" in command.argv:
        return
    capsys.readouterr()
    status = main([*command.argv, "--print-config"])
    printed = capsys.readouterr()
    assert status == 0, f"{command.where}: `naslid {shlex.join(command.argv)} --print-config`: {printed.err.strip()}"
    assert json.loads(printed.out)["config"]["schema"] == "naslid.run_config/1"
    assert runs_before or not (ROOT / "runs").exists(), "--print-config wrote a run directory"


@pytest.mark.parametrize("where, script", SCRIPTS, ids=[script for _, script in SCRIPTS])
def test_every_documented_script_exists(where, script):
    assert (ROOT / script).is_file(), f"{where}: {script} does not exist"


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {_slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_linked_file_and_heading_exists(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        resolved = (page.parent / file).resolve() if file else page
        assert resolved.exists(), f"{page.name} links {target}: no such file"
        if anchor and resolved.suffix == ".md":
            assert anchor in _anchors(resolved), f"{page.name} links {target}: no such heading"


def test_the_readme_links_every_docs_page():
    linked = {Path(target).name for target in re.findall(r"\]\(docs/([^)#]+\.md)", README)}
    assert linked == {page.name for page in PAGES[1:]}


@pytest.mark.slow
def test_the_python_api_example_runs(tmp_path):
    section = README[README.index("## Python API"):]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    sizes, last = done.stdout.splitlines()
    assert sum(ast.literal_eval(sizes)) == 15625  # the leaves partition NB201
    assert (tmp_path / "runs" / "naslid-tiny" / "metrics.jsonl").is_file()
    lid, accuracy = map(float, last.split())
    assert 5 < lid < 32 and 0 < accuracy < 100
