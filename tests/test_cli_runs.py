"""The run commands end to end on the CPU: train, partition, finetune, search, and the tiny comparison."""

import json

import pytest
from scipy.stats import kendalltau

from naslid.bench import load_benchmark, packaged_table_path, select_subset
from naslid.cli import main
from naslid.runs.datasets import ranking_caveat
from naslid.spaces import format_arch, parse_arch


@pytest.mark.slow
def test_train_partition_finetune_search(tmp_path, capsys):
    """Needs no shared data: training uses the bundled digits, ranking the packaged NB201 table."""
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
    assert main(["search", str(run), "--budget", "12", "--no-progress"]) == 0  # default: the packaged table
    out = capsys.readouterr().out
    result = json.loads((run / "search_evolution.json").read_text())
    assert result["schema"] == "naslid.search/1" and len(result["history"]) == 12
    best = result["best"]["arch"]
    truth = load_benchmark().value(parse_arch(best), "c10_test_acc_200")
    assert f"evolution: 12 architectures evaluated (the budget of 12 evaluations was spent); best {best}" in out
    # the run trained on the bundled digits: its pick's CIFAR-10 accuracy comes with the caveat
    assert f"  c10_test_acc_200: {truth:.2f}" in out.splitlines()
    assert f"  caveat: {ranking_caveat('digits', 'c10_test_acc_200')}" in out.splitlines()


def test_user_errors_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NASLID_CIFAR10", str(tmp_path / "no-cifar10-here"))  # nowhere to find CIFAR-10
    assert main(["train", str(tmp_path / "x"), "--dataset", "cifar10", "--no-progress"]) == 2
    assert "needs a path" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "y"), "--dataset", "cifar10", "--data-path", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("naslid train: error:") and err.count("\n") == 1
    assert main(["finetune", str(tmp_path / "missing")]) == 2
    assert "a naslid run directory?" in capsys.readouterr().err
    assert main(["partition", str(tmp_path / "z"), "--split-epochs", "a,b"]) == 2
    err = capsys.readouterr().err
    assert err == "naslid partition: error: --split-epochs a,b: expected comma-separated whole numbers >= 0 like " \
        "20,40,60,80\n"


@pytest.mark.slow
def test_compare_tiny_preset_writes_table_json_and_plots(tmp_path, capsys):
    """Needs no shared data: ranks against the packaged NB201 table, the default --benchmark."""
    out_dir = tmp_path / "compare"
    assert main(["compare", str(out_dir), "--preset", "tiny", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out_dir / "compare.json").read_text())
    assert results["schema"] == "naslid.compare/3"
    # the five methods, then the floor: a parameter count and FLOPs, which train nothing
    assert list(results["methods"]) == ["spos", "few-shot", "gm-nas", "nas-lid", "random-split", "params", "flops"]
    assert {m: s["kind"] for m, s in results["methods"].items()} == {
        **{m: "trained" for m in ("spos", "few-shot", "gm-nas", "nas-lid", "random-split")},
        "params": "training-free", "flops": "training-free"}
    assert results["paired"]["floor"] == "params"
    assert set(results["paired"]["against_floor"]) == {"spos", "few-shot", "gm-nas", "nas-lid", "random-split",
                                                       "flops"}
    assert [s["name"] for s in results["protocol"]["ranking_subsets"]] == ["random150", "top1%"]
    assert results["protocol"]["benchmark"] == str(packaged_table_path())
    table = load_benchmark()
    for method, summary in results["methods"].items():
        assert method in printed
        assert {r["subset"] for r in summary["ranking"]} == {"random150", "top1%"}
        # the tau-b reported is scipy's over the proxy scores the run saved and the table's ground truth
        scores = json.loads((out_dir / method / "proxy_scores.json").read_text())["scores"]
        ranking = summary["ranking"][0]
        assert ranking["subset"] == "random150" and ranking["n"] == 150
        assert ranking["kendall_tau_b"] == pytest.approx(_tau_over_subset(scores, table, 150), abs=1e-9)
        assert summary["search"]["evaluations"] == 100
        best = parse_arch(summary["search"]["best_arch"])
        assert summary["search"]["ground_truth"]["c10_test_acc_200"] == table.value(best, "c10_test_acc_200")
    assert results["methods"]["nas-lid"]["leaves"] == 4 and results["methods"]["few-shot"]["leaves"] == 5
    assert set(results["separability"]) == {"gm-nas", "nas-lid"}  # random-split's matrices are noise
    assert results["environment"]["torch"]
    for name in ("proxy_vs_truth.png", "lid_profiles.png", "separability.png"):
        assert (out_dir / "plots" / name).stat().st_size > 10_000
    table = (out_dir / "compare.md").read_text()
    assert "| nas-lid | ours | 4 |" in table and "tau random150" in table
    assert "## Against the floor: `params`" in table and "against the floor (params" in printed
    # digits-trained supernets ranked against CIFAR-10 accuracies: said in the json, the report and the output
    assert "bundled 8x8 digits" in results["protocol"]["ranking_caveat"]
    assert f"**Caveat: {results['protocol']['ranking_caveat']}.**" in table
    assert f"caveat: {results['protocol']['ranking_caveat']}" in printed
    # a second call resumes everything from the run folders and reproduces the numbers
    assert main(["compare", str(out_dir), "--preset", "tiny", "--no-progress"]) == 0
    again = json.loads((out_dir / "compare.json").read_text())
    assert again["methods"]["nas-lid"]["ranking"] == results["methods"]["nas-lid"]["ranking"]


def _tau_over_subset(scores: dict, table, size: int) -> float:
    """scipy's tau-b over the seeded random<size> subset (seed 0) that the comparison ranks on."""
    subset = select_subset(f"random{size}", table.ground_truth().values, table.index_of, seed=0)
    proxy = [scores[format_arch(arch)] for arch in subset.archs]
    return kendalltau(proxy, [table.value(arch) for arch in subset.archs], variant="b").statistic
