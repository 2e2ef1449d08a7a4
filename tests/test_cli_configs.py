"""Configurations in and out of the CLI (issue 20, item 3): --print-config, --config FILE, `naslid presets`, and
a clear message when a finished run is asked to run longer."""

import json
import shutil

import pytest

from naslid.cli import main
from naslid.runs.presets import PRESETS, flat_settings, get_preset


def test_print_config_shows_the_resolved_configuration_and_writes_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["partition", str(run), "--preset", "cpu", "--channels", "12", "-k", "7", "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["preset"] == "cpu"
    config = printed["config"]
    assert config["network"]["channels"] == 12 and config["split"]["k"] == 7
    assert config["data"]["resolution"] == 16  # the rest is the preset's
    assert not run.exists()


def test_a_printed_config_passed_back_with_config_gives_the_same_configuration(tmp_path, capsys):
    assert main(["train", str(tmp_path / "a"), "--preset", "cpu", "--lr", "0.2", "--print-config"]) == 0
    saved = tmp_path / "mine.json"
    saved.write_text(capsys.readouterr().out)
    assert main(["train", str(tmp_path / "b"), "--config", str(saved), "--print-config"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["config"] == json.loads(saved.read_text())["config"]
    assert again["config"]["train"]["learning_rate"] == 0.2 and again["config_file"] == str(saved)
    # a run's own config.json works too, and flags still apply on top
    (tmp_path / "config.json").write_text(json.dumps(json.loads(saved.read_text())["config"]))
    assert main(["train", str(tmp_path / "c"), "--config", str(tmp_path / "config.json"), "--seed", "3",
                 "--print-config"]) == 0
    third = json.loads(capsys.readouterr().out)["config"]
    assert third["seed"] == 3 and third["train"]["learning_rate"] == 0.2


def test_compare_print_config_includes_the_plan_its_flags_set(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "cmp"), "--preset", "cpu", "--seeds", "0,1", "--methods", "spos,nas-lid",
                 "--print-config"]) == 0
    plan = json.loads(capsys.readouterr().out)["compare_plan"]
    assert plan["seeds"] == [0, 1] and plan["methods"] == ["spos", "nas-lid"]


def test_a_missing_or_broken_config_file_is_one_line(tmp_path, capsys):
    assert main(["train", str(tmp_path / "r"), "--config", str(tmp_path / "none.json")]) == 2
    assert capsys.readouterr().err == f"naslid train: error: --config {tmp_path / 'none.json'}: no such file\n"
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert main(["train", str(tmp_path / "r"), "--config", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "not valid JSON" in err and err.count("\n") == 1


def test_presets_lists_every_preset_and_the_values_that_differ(capsys):
    assert main(["presets"]) == 0
    printed = capsys.readouterr().out
    for name in PRESETS:
        assert f"{name}: {get_preset(name).purpose}" in printed
    row = next(line for line in printed.splitlines() if line.startswith("split.k "))
    assert row.split()[1:] == [str(flat_settings(get_preset(name).config)["split.k"]) for name in PRESETS]
    assert not any(line.startswith("data.cutout ") for line in printed.splitlines())  # the same in every preset


@pytest.mark.slow
def test_a_longer_run_on_a_finished_one_says_why_it_cannot_extend(tiny_trained_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_trained_run, run)  # trained for 1 epoch at C=4
    assert main(["train", str(run), "--epochs", "3", "--channels", "4", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "holds a run of 1 epochs; 3 epochs would not extend it" in err and "new run directory" in err
    assert "split_epochs" not in err  # no word of settings the user never set


def test_a_runs_config_reproduces_that_run_method_included(tmp_path, capsys):
    """Issue 33: `--config RUN/config.json` of a run made with `--method spos` runs SPOS again (the --method default
    no longer overrides the file), and --print-config shows the method the run will use."""
    from naslid.runs.config import RunConfig

    for method, schedule in (("spos", "spos"), ("few-shot", "few-shot"), ("gm-nas", "split")):
        assert main(["partition", str(tmp_path / "a"), "--method", method, "--print-config"]) == 0
        printed = json.loads(capsys.readouterr().out)["config"]
        assert printed["schedule"]["method"] == schedule
        RunConfig.from_dict(printed).save(tmp_path / "config.json")  # what the run's directory holds
        assert main(["partition", str(tmp_path / "b"), "--config", str(tmp_path / "config.json"),
                     "--print-config"]) == 0
        assert json.loads(capsys.readouterr().out)["config"] == printed
    assert main(["partition", str(tmp_path / "b"), "--config", str(tmp_path / "config.json"), "--method", "nas-lid",
                 "--print-config"]) == 0  # a flag still applies on top of the file
    config = json.loads(capsys.readouterr().out)["config"]
    assert (config["schedule"]["method"], config["split"]["criterion"]) == ("split", "lid")


def test_print_config_shows_what_train_runs(tmp_path, capsys):
    assert main(["train", str(tmp_path / "t"), "--epochs", "3", "--print-config"]) == 0
    schedule = json.loads(capsys.readouterr().out)["config"]["schedule"]
    assert schedule["method"] == "spos" and schedule["split_epochs"] == [3] and schedule["finetune_epochs"] == 0


def test_print_config_refuses_what_the_comparison_would_refuse(tmp_path, capsys):
    for methods, message in (("nas-lid[k=-5]", "nas-lid[k=-5]: k=-5; expected an integer >= 2"),
                             ("nas-lid[split-epochs=3:2]", "split_epochs=(3, 2); expected strictly increasing")):
        assert main(["compare", str(tmp_path / "c"), "--methods", methods, "--print-config"]) == 2
        assert message in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "c"), "--methods", "spos,nas-lid", "--control", "few-shot",
                 "--print-config"]) == 2
    assert ("--control few-shot: not among the compared methods; expected one of ['spos', 'nas-lid', 'params', 'flops']"
            in capsys.readouterr().err)
    assert main(["compare", str(tmp_path / "c"), "--methods", "spos,nas-lid[k=5]", "--control", "nas-lid[split.k=5]",
                 "--print-config"]) == 0  # a spelling of the same variant
    assert json.loads(capsys.readouterr().out)["compare_plan"]["control"] == "nas-lid[k=5]"
    assert not (tmp_path / "c").exists()
