"""One search for the CLI, compare and Python: budgets honoured, stop reasons said, results found by export."""

import ast
import json
import shutil
from pathlib import Path

import pytest

from naslid.cli import main
from naslid.runs.config import RunConfig
from naslid.runs.partition import PartitionRun
from naslid.runs.search import find_search, generations_for_budget, search_run
from naslid.search import SearchConfig, load_search_result

SOURCE = Path(__file__).parents[1] / "src" / "naslid"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("search") / "spos"
    assert main(["train", str(run), "--epochs", "1", "--channels", "4", "--train-limit", "300", "--no-progress"]) == 0
    return run


@pytest.mark.slow
def test_an_evolution_budget_beyond_population_times_generations_is_honoured(trained_run, tmp_path, capsys):
    """The tiny preset breeds 20 x 10; `--budget 260` evaluates 260 networks in 13 generations, and says why it
    stopped (before, it stopped at 200 and reported nothing)."""
    out = tmp_path / "search.json"
    assert main(["search", str(trained_run), "--budget", "260", "--benchmark", "none", "--no-progress",
                 "--out", str(out)]) == 0
    result = load_search_result(out)
    assert result.num_evaluations == 260 and result.stopped_by == "budget"
    assert result.settings["generations"] == 13 and result.settings["population_size"] == 20
    assert "260 architectures evaluated (the budget of 260 evaluations was spent)" in capsys.readouterr().out


def test_generations_for_budget_only_ever_adds_generations():
    small = {"population_size": 20, "generations": 10, "num_parents": 5, "num_mutations": 10, "num_crossovers": 10}
    assert generations_for_budget(SearchConfig(**small, budget=150)).generations == 10
    assert generations_for_budget(SearchConfig(**small, budget=201)).generations == 11
    assert generations_for_budget(SearchConfig(**small, budget=None)).generations == 10


def test_stop_reasons_of_both_algorithms(trained_run):
    run = PartitionRun(trained_run, RunConfig.load(trained_run / "config.json"), lock=False)
    few = SearchConfig(population_size=10, generations=2, budget=None, num_parents=3, num_mutations=4,
                       num_crossovers=4, seed=1)
    assert search_run(run, "evolution", few).stopped_by == "generations"
    random = search_run(run, "random", SearchConfig(budget=7, seed=1))
    assert random.num_evaluations == 7 and random.stopped_by == "budget"
    assert random.protocol["input_resolution"] == run.input_resolution() and random.protocol["cost_limits"] is None
    with pytest.raises(ValueError, match="algorithm='grid'"):
        search_run(run, "grid")
    with pytest.raises(ValueError, match="needs a latency table"):
        search_run(run, "random", SearchConfig(budget=3, max_latency_ms=5.0))


def test_export_finds_compare_s_search_json(trained_run, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    for stale in run.glob("search_*.json"):
        stale.unlink()
    assert find_search(run) is None
    opened = PartitionRun(run, RunConfig.load(run / "config.json"), lock=False)
    result = search_run(opened, "random", SearchConfig(budget=5, seed=2))
    result.save(run / "search.json")  # where compare writes it
    assert find_search(run) == run / "search.json"
    assert main(["export", str(run), "--out", str(tmp_path / "exported")]) == 0
    record = json.loads((tmp_path / "exported" / "arch.json").read_text())
    assert record["arch"] == opened.tree.root.subspace.space.format(result.best_arch)


def test_searching_a_run_is_written_once():
    """Only runs/search.py calls the search algorithms among the commands and pipelines (issue 19: the CLI and
    compare had two copies that disagreed on file names and on what the result recorded)."""
    callers = set()
    for path in [*sorted((SOURCE / "cli").glob("*.py")), *sorted((SOURCE / "runs").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("evolutionary_search",
                                                                                  "random_search"):
                callers.add(path.name)
    assert callers == {"search.py"}
