"""One CLI vocabulary across commands (issue 20, item 8): a run directory is positional, progress bars are turned
off with --no-progress, the data is --dataset, the n of an LID estimate is --lid-batch-size; the old spellings
still parse."""

import argparse

import pytest

from naslid.cli import build_parser


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", sorted(_subparsers()))
def test_shared_words_mean_one_thing(name):
    options = {option: action for action in _subparsers()[name]._actions for option in action.option_strings}
    positionals = [action.dest for action in _subparsers()[name]._actions if not action.option_strings]
    if "--run-dir" in options:  # an old spelling, kept as a hidden alias of the positional
        assert "run_dir" in positionals and options["--run-dir"].help == argparse.SUPPRESS
    elif any("run" in dest for dest in positionals):
        assert "run_dir" in positionals
    assert "--progress" not in options or options["--progress"].help == argparse.SUPPRESS
    if "--data" in options:
        assert options["--data"] is options["--dataset"]
    for flag in ("--debug", "-v", "--import"):
        assert flag in options


def test_profile_and_demo_take_the_shared_spellings_and_the_old_ones():
    parser = build_parser()
    new = parser.parse_args(["profile", "--model", "m.py:f", "--dataset", "digits", "--lid-batch-size", "40",
                             "--no-progress"])
    old = parser.parse_args(["profile", "--model", "m.py:f", "--data", "digits", "--batch-size", "40", "--progress"])
    assert (new.data, new.batch_size, new.no_progress) == ("digits", 40, True)
    assert (old.data, old.batch_size) == ("digits", 40)
    assert parser.parse_args(["demo", "here"]).run_dir == "here"
    assert parser.parse_args(["demo", "--run-dir", "there"]).run_dir_option == "there"  # _run_demo takes it
    assert parser.parse_args(["demo"]).run_dir == "naslid-demo"


def test_every_command_that_draws_bars_can_hide_them():
    for name in ("train", "partition", "finetune", "search", "compare", "demo", "profile", "retrain"):
        options = {o for a in _subparsers()[name]._actions for o in a.option_strings}
        assert "--no-progress" in options, name
