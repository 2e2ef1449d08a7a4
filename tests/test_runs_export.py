"""Export and retrain: the exported network reproduces its supernet path and loads with torch alone."""

import json
import subprocess
import sys

import pytest
import torch

from naslid.cli import main
from naslid.runs.export import read_export


@pytest.mark.slow
def test_search_export_retrain_nb201(tmp_path, capsys):
    run = tmp_path / "spos"
    assert main(["train", str(run), "--epochs", "1", "--channels", "4", "--train-limit", "400", "--no-progress"]) == 0
    assert main(["search", str(run), "--algorithm", "random", "--budget", "6", "--max-mflops", "0.5",
                 "--benchmark", "none", "--no-progress"]) == 0
    searched = json.loads((run / "search_random.json").read_text())
    assert searched["protocol"]["cost_limits"] == {"max_mflops": 0.5}
    assert searched["protocol"]["best_costs"]["mflops"] <= 0.5
    assert main(["export", str(run), "--out", str(tmp_path / "exported")]) == 0
    record = read_export(tmp_path / "exported")
    assert record["arch"] == searched["best"]["arch"] and record["space"] == "nb201"
    assert record["max_output_difference"] < 1e-4 and record["costs"]["mflops"] <= 0.5
    # a user without naslid: torch.export.load alone, in a fresh interpreter that cannot import naslid
    script = (
        "import sys, torch; sys.modules['naslid'] = None; "
        f"m = torch.export.load({str(tmp_path / 'exported' / 'model.pt2')!r}).module(); "
        "print(tuple(m(torch.zeros(3, 1, 8, 8)).shape))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "(3, 10)"
    from naslid.runs.config import RunConfig
    from naslid.runs.export import load_exported, standalone_network
    from naslid.runs.partition import PartitionRun
    from naslid.spaces import parse_arch

    opened = PartitionRun(run, RunConfig.load(run / "config.json"), lock=False)
    images = torch.randn(5, 1, 8, 8)
    torch.testing.assert_close(load_exported(tmp_path / "exported")(images),
                               standalone_network(opened, parse_arch(record["arch"]))(images))
    weights = torch.load(tmp_path / "exported" / "weights.pt")
    assert all(not name.startswith("edges") for name in weights)
    capsys.readouterr()
    assert main(["retrain", str(tmp_path / "exported"), "--epochs", "10", "--batch-size", "64", "--weight-decay",
                 "5e-4", "--device", "cpu", "--no-progress"]) == 0
    result = json.loads((tmp_path / "exported" / "retrain" / "retrain.json").read_text())
    assert result["arch"] == record["arch"] and len(result["history"]) == 10
    # from scratch on the run's 200 training digits: far above chance (10%) on the held-out test digits
    assert result["test_accuracy"] > 30 and "test" in capsys.readouterr().out


def test_export_refuses_an_arch_outside_the_space(tmp_path, capsys):
    run = tmp_path / "spos"
    assert main(["train", str(run), "--epochs", "1", "--channels", "4", "--train-limit", "200", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["export", str(run), "--arch", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|"]) == 2
    assert "--arch" in capsys.readouterr().err
    assert main(["export", str(run)]) == 2
    assert "naslid search" in capsys.readouterr().err
