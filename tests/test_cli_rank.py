"""`naslid rank` (any ranker over a subset, beside the floor) and its round trip through `naslid score`;
`naslid search --objective` with a training-free ranker, on NB201 and on ProxylessNAS under a latency budget; bad
inputs one line each."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from naslid.bench import kendall_tau_b, load_benchmark
from naslid.cli import main
from naslid.spaces import get_space

pytestmark = pytest.mark.usefixtures("one_thread")


def _naslid(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "naslid", *args], capture_output=True, text=True, timeout=600)


def test_rank_prints_tau_beside_the_floor_and_score_reads_it_back(tmp_path, capsys):
    out = tmp_path / "params.json"
    assert main(["rank", "--ranker", "synflow", "--subset", "random200", "--channels", "4", "--cells", "1",
                 "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "ranked 200 nb201 architectures with synflow" in printed
    assert "beside the floor (params: a parameter count, no training)" in printed
    line = next(line for line in printed.splitlines() if line.strip().startswith("random200"))
    _, n, tau, spearman, floor_tau, *verdict = line.split()
    assert n == "200" and " ".join(verdict) in ("above the floor", "below the floor", "level with the floor")

    document = json.loads(out.read_text())
    assert document["schema"] == "naslid.proxy_scores/1"
    assert document["protocol"]["ranker"]["name"] == "synflow"
    assert document["protocol"]["context"]["network"]["channels"] == 4
    space, truth = get_space("nb201"), load_benchmark().ground_truth()
    archs = [space.parse(key) for key in document["scores"]]
    assert len(archs) == 200
    expected = kendall_tau_b(np.array(list(document["scores"].values())), np.array([truth.values[a] for a in archs]))
    assert float(tau) == pytest.approx(expected, abs=5e-5)

    scores = tmp_path / "scores.json"
    assert main(["score", str(out), "--subset", "all", "--out", str(scores)]) == 0
    capsys.readouterr()
    reread = json.loads(scores.read_text())["results"][0]
    assert reread["n"] == 200 and reread["kendall_tau_b"] == pytest.approx(expected)


def test_rank_of_params_on_all_15625_is_the_documented_floor(tmp_path, capsys):
    assert main(["rank", "--subset", "all", "--subset", "top1%", "--out", str(tmp_path / "p.json")]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert float(rows["all"][2]) == pytest.approx(0.5778, abs=1e-4)  # README: params ranks all 15,625 at 0.578
    assert float(rows["top1%"][2]) == pytest.approx(0.3264, abs=1e-4)


@pytest.mark.slow
def test_rank_with_a_run_scores_its_leaves_by_proxy_and_lid(tiny_trained_run, tmp_path, capsys):
    for ranker in ("proxy", "lid-supernet[batch-size=32,k=8]", "agg[params,proxy]"):
        out = tmp_path / "r.json"
        assert main(["rank", "--run", str(tiny_trained_run), "--ranker", ranker, "--subset", "random30",
                     "--out", str(out), "--no-progress"]) == 0
        printed = capsys.readouterr().out
        assert "caveat: the supernets were trained on the bundled 8x8 digits" in printed
        assert len(json.loads(out.read_text())["scores"]) == 30


def test_search_with_a_training_free_objective_needs_no_run(tmp_path, capsys):
    folder = tmp_path / "search"
    assert main(["search", str(folder), "--objective", "naswot[batch-size=16]", "--dataset", "digits",
                 "--channels", "4", "--cells", "1", "--budget", "24", "--max-mflops", "1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "evolution: 24 architectures evaluated" in printed and "naswot[batch-size=16] score" in printed
    result = json.loads((folder / "search_evolution.json").read_text())
    assert result["protocol"]["ranker"]["spelling"] == "naswot[batch-size=16]"
    assert result["protocol"]["best_costs"]["mflops"] <= 1
    assert "c10_test_acc_200" in printed  # the winner looked up in NB201


@pytest.mark.slow
def test_search_proxyless_under_a_latency_budget_with_synflow(tmp_path, capsys):
    table = tmp_path / "latency.json"
    assert main(["latency-table", "--space", "proxyless", "--resolution", "32", "--width-mult", "0.35",
                 "--repeats", "2", "--warmup", "1", "--calibration-networks", "0", "--threads", "1",
                 "--out", str(table)]) == 0
    entries = json.loads(table.read_text())["entries"]
    budget = sum(sorted(entry["min_ms"] for entry in entries.values())[:24]) * 1.5  # loose but binding
    capsys.readouterr()
    folder = tmp_path / "px"
    assert main(["search", str(folder), "--objective", "synflow", "--space", "proxyless", "--width-mult", "0.35",
                 "--resolution", "32", "--budget", "16", "--max-latency-ms", f"{budget:.3f}", "--latency-table",
                 str(table), "--no-progress"]) == 0
    result = json.loads((folder / "search_evolution.json").read_text())
    assert result["protocol"]["best_costs"]["latency_ms"] <= budget
    assert result["protocol"]["cost_limits"] == {"max_latency_ms": pytest.approx(budget, abs=1e-3)}


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["rank", "--ranker", "zen-nas"], "unknown ranker 'zen-nas'; known: agg, flops"),
    (["rank", "--ranker", "proxy"], "ranker proxy scores with a trained supernet: give a run directory"),
    (["rank", "--ranker", "params", "--subset", "random0"], "random subset size must be at least 1, got 0"),
    (["rank", "--ranker", "params", "--subset", "list:EMPTY"], "lists no architecture"),
    (["rank", "--ranker", "params", "--space", "proxyless", "--subset", "top1%"],
     "without ground truth for the proxyless space, expected all, random<N> or list:FILE"),
    (["rank", "--ranker", "params", "--space", "nb201", "--width-mult", "2"], "--width-mult: the nb201 network"),
    (["search", "SEARCH_DIR", "--objective", "lid-supernet"], "scores with a trained supernet"),
    (["rank", "--ranker", "naswot[batch=3]"], "unknown setting 'batch'"),
])
def test_bad_rank_inputs_are_one_line_with_status_2(tmp_path, args, message):
    (tmp_path / "empty.txt").write_text("# no architecture\n")
    args = [str(tmp_path / "s") if arg == "SEARCH_DIR" else arg.replace("EMPTY", str(tmp_path / "empty.txt"))
            for arg in args]
    done = _naslid(*args, "--out", str(tmp_path / "out.json")) if args[0] == "rank" else _naslid(*args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.slow
def test_a_space_a_ranker_cannot_compute_and_a_ranker_returning_nan_are_one_line(tmp_path):
    plugin = tmp_path / "odd.py"
    plugin.write_text(textwrap.dedent("""
        import math
        from dataclasses import dataclass
        from typing import ClassVar

        from torch import nn

        from naslid.nn import register_supernet
        from naslid.rankers import Ranker, register_ranker
        from naslid.spaces import register_space
        from naslid.plugins import import_module

        chain = import_module("EXAMPLES/chain_space.py")


        class TanhSpace(chain.ChainSpace):
            name = "chain-tanh"


        class TanhSuperNet(chain.ChainSuperNet):
            space = TanhSpace()

            def __init__(self, config=None):
                super().__init__(config)
                for module in self.modules():
                    for name, child in module.named_children():
                        if isinstance(child, nn.ReLU):
                            setattr(module, name, nn.Tanh())


        register_space("chain-tanh", TanhSpace)
        register_supernet("chain-tanh", chain.ChainConfig, TanhSuperNet)


        @dataclass(frozen=True)
        class Broken(Ranker):
            name: ClassVar[str] = "broken"
            definition: ClassVar[str] = "always NaN"
            needs_images: ClassVar[bool] = False

            def score(self, arch, context):
                return math.nan


        register_ranker(Broken)
    """).replace("EXAMPLES", str((tmp_path / "..").resolve() if False else __import__("pathlib").Path(__file__)
                                   .parents[1] / "examples")))
    done = _naslid("rank", "--import", str(plugin), "--ranker", "naswot[batch-size=8]", "--space", "chain-tanh",
                   "--dataset", "digits", "--subset", "random4", "--out", str(tmp_path / "a.json"))
    assert done.returncode == 2 and "naswot hooks ReLU modules; the chain-tanh network has none" in done.stderr
    done = _naslid("rank", "--import", str(plugin), "--ranker", "broken", "--subset", "random4",
                   "--out", str(tmp_path / "b.json"))
    assert done.returncode == 2 and "ranker broken returned nan for" in done.stderr, done.stderr
    assert not (tmp_path / "b.json").exists()  # nothing written for a failed ranking
