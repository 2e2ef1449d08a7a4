"""`naslid score` through `naslid.cli.main`."""

import json
import sys

from naslid.cli import main
from naslid.spaces import NB201Space


def test_score_reproduces_the_fewshot_figures_and_writes_json(shared_data, tmp_path, capsys):
    folder = shared_data / "fewshot-nas-supernets"
    out = tmp_path / "scores.json"
    argv = ["score", str(folder / "few-shot-supernet.json"), "--benchmark", str(folder / "nasbench201.json")]
    code = main([*argv, "--subset", "all", "--subset", "top1%", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert f"wrote {out}" in printed
    rows = {line.split()[0]: line.split() for line in printed.splitlines() if line.startswith(("all ", "top1% "))}
    # README figures: tau-b 0.5508 on all 15625; top1% of the few-shot ground truth is k = 157, 158 with ties
    assert rows["all"][1:3] == ["15625", "0.5508"] and rows["top1%"][1] == "158"
    assert "0.7410" in rows["all"]
    data = json.loads(out.read_text())
    assert data["schema"] == "naslid.scores/1" and data["protocol"]["subsets"] == ["all", "top1%"]
    assert round(data["results"][0]["kendall_tau_b"], 4) == 0.5508


def test_score_on_a_csv_table_with_column_and_seed(tmp_path, capsys):
    archs = list(NB201Space().all())[:20]
    table = tmp_path / "table.csv"
    table.write_text("arch_str,acc_200,acc_12\n" + "".join(f"{a},{i},{-i}\n" for i, a in enumerate(archs)))
    predictions = tmp_path / "predictions.csv"
    predictions.write_text("arch_str,score\n" + "".join(f"{a},{i % 7}\n" for i, a in enumerate(archs)))
    out = tmp_path / "scores.json"
    argv = ["score", str(predictions), "--benchmark", str(table), "--column", "acc_12", "--subset", "random8"]
    assert main([*argv, "--seed", "3", "--top-k", "5", "--out", str(out)]) == 0
    assert "acc_12 (12 epochs" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["protocol"]["seed"] == 3 and data["results"][0]["n"] == 8 and data["protocol"]["ks"] == [5]


def test_score_user_errors_print_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps({str(arch): 1.0 for arch in list(NB201Space().all())[:3]}))
    assert main(["score", str(predictions), "--benchmark", str(tmp_path / "absent.csv")]) == 2
    assert "not found" in capsys.readouterr().err
    table = tmp_path / "table.csv"
    table.write_text("arch_str,acc\n|bad|,1\n")
    assert main(["score", str(predictions), "--benchmark", str(table)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("naslid score: error:") and "line 2" in error and error.count("\n") == 1
    (tmp_path / "bench.pth").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "nas_201_api", None)  # the optional API is not installed
    assert main(["score", str(predictions), "--benchmark", str(tmp_path / "bench.pth")]) == 2
    assert "pip install nas-bench-201" in capsys.readouterr().err


def test_score_100_predictions_against_the_packaged_table_reports_every_subset(tmp_path, capsys):
    """Issue 10 item 12: top1% of 100 holds one arch; it is reported as such and `all` is still printed."""
    from naslid.bench import load_benchmark

    table = load_benchmark()
    archs = table.archs()[:100]
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps({str(arch): float(i % 13) for i, arch in enumerate(archs)}))
    out = tmp_path / "scores.json"
    assert main(["score", str(predictions), "--out", str(out)]) == 0  # default: the packaged table, all + top1%
    printed = capsys.readouterr().out
    lines = {line.split()[0]: line for line in printed.splitlines() if line.startswith(("all ", "top1% "))}
    assert lines["all"].split()[1] == "100" and "cannot" not in lines["all"]
    assert lines["top1%"].split()[1] == "1" and "(cannot be ranked: holds 1 architecture(s) of 100" in lines["top1%"]
    results = json.loads(out.read_text())["results"]
    assert results[0]["kendall_tau_b"] is not None and results[1]["kendall_tau_b"] is None
    assert results[1]["note"].startswith("cannot be ranked")
