"""The run commands end to end on the CPU: train, partition, finetune, search, and the tiny comparison."""

import json

import pytest

from naslid.cli import main


def test_train_partition_finetune_search(tmp_path, capsys, shared_data):
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "spos"), "--epochs", "1", "--channels", "4", "--no-progress"]) == 0
    assert "trained a supernet on 15625 architectures for 1 epochs" in capsys.readouterr().out
    flags = ["--channels", "4", "--split-epochs", "1", "--finetune-epochs", "1", "--split-batches", "1",
             "--no-progress"]
    assert main(["partition", str(run), "--no-finetune", *flags]) == 0
    out = capsys.readouterr().out
    assert "node 0: 15625 archs, 1 epochs, split on" in out and "fine-tuned" not in out
    assert main(["finetune", str(run), "--no-progress"]) == 0
    assert out.count("leaf") == capsys.readouterr().out.count("leaf, fine-tuned")
    benchmark = shared_data / "nb201" / "nb201_merged.csv"
    assert main(["search", str(run), "--budget", "12", "--benchmark", str(benchmark), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "evolution: 12 architectures evaluated" in out and "c10_test_acc_200" in out
    result = json.loads((run / "search_evolution.json").read_text())
    assert result["schema"] == "naslid.search/1" and len(result["history"]) == 12


def test_user_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert main(["train", str(tmp_path / "x"), "--dataset", "cifar10", "--no-progress"]) == 2
    assert "needs a path" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "y"), "--dataset", "cifar10", "--data-path", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("naslid train: error:") and err.count("\n") == 1
    assert main(["finetune", str(tmp_path / "missing")]) == 2
    assert "a naslid run directory?" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["partition", str(tmp_path / "z"), "--split-epochs", "a,b"])


def test_compare_tiny_preset_writes_table_json_and_plots(tmp_path, capsys, shared_data):
    benchmark = shared_data / "nb201" / "nb201_merged.csv"
    out_dir = tmp_path / "compare"
    assert main(["compare", str(out_dir), "--preset", "tiny", "--benchmark", str(benchmark), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out_dir / "compare.json").read_text())
    assert results["schema"] == "naslid.compare/1"
    assert list(results["methods"]) == ["spos", "few-shot", "gm-nas", "nas-lid", "random-split"]
    assert [s["name"] for s in results["protocol"]["ranking_subsets"]] == ["random150", "top1%"]
    for method, summary in results["methods"].items():
        assert method in printed
        assert {r["subset"] for r in summary["ranking"]} == {"random150", "top1%"}
        assert -1 <= summary["ranking"][0]["kendall_tau_b"] <= 1
        assert summary["search"]["evaluations"] == 100
        assert summary["search"]["ground_truth"]["c10_test_acc_200"] > 0
    assert results["methods"]["nas-lid"]["leaves"] == 4 and results["methods"]["few-shot"]["leaves"] == 5
    assert set(results["separability"]) == {"gm-nas", "nas-lid", "random-split"}
    assert results["environment"]["torch"]
    for name in ("proxy_vs_truth.png", "lid_profiles.png", "separability.png"):
        assert (out_dir / "plots" / name).stat().st_size > 10_000
    table = (out_dir / "compare.md").read_text()
    assert "| nas-lid | 4 |" in table and "tau random150" in table
    # a second call resumes everything from the run folders and reproduces the numbers
    assert main(["compare", str(out_dir), "--preset", "tiny", "--benchmark", str(benchmark), "--no-progress"]) == 0
    again = json.loads((out_dir / "compare.json").read_text())
    assert again["methods"]["nas-lid"]["ranking"] == results["methods"]["nas-lid"]["ranking"]
