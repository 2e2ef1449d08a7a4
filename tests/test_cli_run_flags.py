"""The run commands' flags come from a generated copy of the configuration fields (naslid.cli.run_flags_data), so that
`--help` imports no torch: the copy is what the generator writes now, parses as the fields' own flags do, and a
registry's choices follow what plug-ins register (issue 31)."""

import argparse
import os
import subprocess
import sys

import pytest

from naslid.cli import build_parser, main, run_flags, run_flags_data
from naslid.cli.run_flags_generator import DATA_FILE, generate_run_flags_data
from naslid.options import RegisteredNames
from naslid.runs.configure import run_options


def test_the_committed_flags_are_what_the_generator_writes():
    assert DATA_FILE.read_text() == generate_run_flags_data(), (
        "naslid/cli/run_flags_data.py is stale: run `python -m naslid.cli.run_flags_generator` and commit it")


def test_the_generated_flags_equal_the_fields_flags():
    live = run_options()
    assert [setting for setting, _ in run_flags_data.RUN_OPTIONS] == [setting for setting, _ in live]
    for (setting, copy), (_, field) in zip(run_flags_data.RUN_OPTIONS, live, strict=True):
        assert (copy.flags, copy.help, copy.metavar, copy.partition) == (field.flags, field.help, field.metavar,
                                                                         field.partition), setting
        assert copy.choice_names() == field.choice_names(), setting
        assert (copy.parse is None) == (field.parse is None), setting
        for text in ("0", "1", "2.5", "-1", "nan", "inf", "20,40", "on", "off", "contiguous", "x"):
            assert _parsed(copy.parse, text) == _parsed(field.parse, text), (setting, text)


def _parsed(parse, text: str) -> object:
    """What a flag's parser makes of `text`: the value, or the error message."""
    if parse is None:
        return text
    try:
        return parse(text)
    except argparse.ArgumentTypeError as error:
        return f"error: {error}"


def test_a_registry_read_before_and_after_its_module_is_imported(monkeypatch):
    names = RegisteredNames("naslid_test_registry_module", "TABLE", ("built-in",))
    assert names() == ["built-in"]  # not imported: the names recorded when the flags were generated
    module = type(sys)("naslid_test_registry_module")
    module.TABLE = {"built-in": 1, "registered": 2}
    monkeypatch.setitem(sys.modules, "naslid_test_registry_module", module)
    assert names() == ["built-in", "registered"]


def test_a_network_flag_of_a_registered_space_is_offered(monkeypatch):
    """A space registered beside the built-in ones may declare flags on its network configuration: the flags are
    then read from the library (as `naslid.runs.configure.run_options()` lists them)."""
    from dataclasses import dataclass, field

    from naslid.nn import SUPERNETS, NB201SuperNet
    from naslid.options import flag, integer

    @dataclass
    class DeepConfig:
        depth: int = field(default=3, metadata=flag("--depth", parse=integer(1), help="layers of the deep space"))

    monkeypatch.setitem(SUPERNETS, "deep", (DeepConfig, NB201SuperNet))
    assert ("network.depth", "--depth") in [(setting, cli.name) for setting, cli in run_flags.run_options()]
    args = build_parser("train").parse_args(["train", "run", "--depth", "4"])
    assert getattr(args, "network.depth") == 4
    monkeypatch.delitem(SUPERNETS, "deep")
    assert "network.depth" not in dict(run_flags.run_options())


@pytest.mark.parametrize("command", ["train", "partition", "compare"])
def test_help_from_the_copy_is_the_help_from_the_library(command, monkeypatch, capsys):
    """A fresh process builds the parser from the generated copy (no torch); this one, with every registry the
    run flags read imported, reads the registries: both print the same help."""
    done = subprocess.run([sys.executable, "-m", "naslid", command, "--help"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "100"})
    assert done.returncode == 0, done.stderr
    import naslid.partition  # noqa: F401 (the registries: edge scores, training steps, presets, methods)
    import naslid.runs.presets  # noqa: F401
    import naslid.train  # noqa: F401

    monkeypatch.setenv("COLUMNS", "100")
    assert main([command, "--help"]) == 0
    assert capsys.readouterr().out == done.stdout
