"""Edge scores, split criteria, ranking metrics and training steps are registries: one registration, and the
library (configs, split decisions, scores files, compare.csv, `naslid score`) uses the new entry. Every registry
registers the same way: `register_<kind>(entry, *, replace=False)` through `naslid.registry.register`."""

import dataclasses
import json

import numpy as np
import pytest

from naslid.bench import (
    RANKING_METRICS,
    BenchmarkTable,
    RankingMetric,
    read_scores,
    register_ranking_metric,
    score_predictions,
    write_scores,
)
from naslid.lid import ESTIMATORS, MLE, register_estimator
from naslid.nn import SUPERNETS, NB201Config, NB201SuperNet, register_supernet
from naslid.partition import (
    CRITERIA,
    EDGE_SCORES,
    EdgeScore,
    SplitConfig,
    SplitCriterion,
    choose_edge,
    partition_ops,
    register_criterion,
    register_edge_score,
)
from naslid.rankers import RANKERS, register_ranker
from naslid.runs.presets import PRESETS, register_preset
from naslid.runs.protocols import (
    METHODS,
    PROTOCOLS,
    SCALES,
    Method,
    register_method,
    register_protocol,
    register_scale,
)
from naslid.runs.results import compare_csv
from naslid.spaces import SPACES, NB201Space, register_space
from naslid.spaces.base import _INSTANCES
from naslid.train import TRAIN_STEPS, TrainConfig, register_train_step

_TABLES = (EDGE_SCORES, CRITERIA, RANKING_METRICS, TRAIN_STEPS, SPACES, _INSTANCES, SUPERNETS, RANKERS, ESTIMATORS,
           PROTOCOLS, METHODS, SCALES, PRESETS)


@pytest.fixture
def restored_registries():
    """Each test may register entries; the registries are as before afterwards."""
    saved = [(registry, dict(registry)) for registry in _TABLES]
    yield
    for registry, entries in saved:
        registry.clear()
        registry.update(entries)


def test_a_registered_edge_score_chooses_the_point_and_configs_accept_it(restored_registries):
    ops = ["a", "b", "c", "d"]
    tight = np.array([[1, .9, .1, .1], [.9, 1, .1, .1], [.1, .1, 1, .9], [.1, .1, .9, 1]])
    loose = np.array([[1, .6, .5, .5], [.6, 1, .5, .5], [.5, .5, 1, .6], [.5, .5, .6, 1]])
    partitions = {0: partition_ops(tight, ops), 1: partition_ops(loose, ops)}
    assert choose_edge(partitions, "gap") == 0
    with pytest.raises(ValueError, match="edge_score='least-gap'"):
        SplitConfig(edge_score="least-gap")
    register_edge_score(EdgeScore("least-gap", "minus the gap (a test's rule)", lambda p: p.cross - p.intra))
    assert SplitConfig(edge_score="least-gap").edge_score == "least-gap"
    assert choose_edge(partitions, "least-gap") == 1


def test_a_registered_criterion_measures_splits(restored_registries):
    def constant(net, subspace, points, batches, cfg, rng, progress=False):
        return {point: np.ones((1, len(subspace.allowed[point]), len(subspace.allowed[point]))) for point in points}

    with pytest.raises(ValueError, match="criterion='constant'"):
        SplitConfig(criterion="constant")
    register_criterion(SplitCriterion("constant", "all ops alike (a test's rule)", constant, measures=False))
    cfg = SplitConfig(criterion="constant", batches=7)
    assert cfg.measured_batches == 7
    with pytest.raises(ValueError, match="needs measured batches; the 'constant' criterion has none"):
        SplitConfig(criterion="constant", edge_score="separation-z")


def test_a_registered_ranking_metric_is_computed_stored_read_and_tabled(restored_registries, tmp_path):
    archs = list(NB201Space().all())[:20]
    table = BenchmarkTable.from_mapping({a: float(i) for i, a in enumerate(archs)}, column="acc_200", source="t")
    proxy = {a: float(i % 7) for i, a in enumerate(archs)}
    register_ranking_metric(RankingMetric("agree_at_k", "share of the top k by proxy above the median (a test's)",
                                          lambda p, t, k: float(np.mean(t[np.argsort(-p)[:k]] > np.median(t))),
                                          per_k=True, label="A@{k}"))
    register_ranking_metric(RankingMetric("n_ties", "tied proxy values (a test's)",
                                          lambda p, t: float(len(p) - len(np.unique(p)))))
    report = score_predictions(proxy, table, subsets=["all"], ks=[5])
    result = report.result("all")
    assert result.metrics["n_ties"] == 13.0 and result.n_ties == 13.0
    assert set(result.metrics["agree_at_k"]) == {5}
    assert "n_ties" in report.protocol["definitions"]
    data = json.loads(write_scores(report, tmp_path / "s.json").read_text())
    # the proxy top 5 are archs 5, 6, 12, 13, 19; three lie above the median truth
    assert data["results"][0]["n_ties"] == 13.0 and data["results"][0]["agree_at_k"] == {"5": 0.6}
    assert read_scores(tmp_path / "s.json").result("all").metrics == result.metrics
    compare = {"protocol": {}, "runs": [{"seed": 0, "methods": {"spos": {"ranking": [data["results"][0]]}}}]}
    header = compare_csv(compare).splitlines()[0].split(",")
    assert {"n_ties", "agree_at_k_5", "precision_at_5", "tau_at_top5", "kendall_tau_b"} <= set(header)


def test_the_score_command_prints_every_registered_metric(restored_registries, tmp_path, capsys):
    from naslid.cli import main

    archs = list(NB201Space().all())[:20]
    register_ranking_metric(RankingMetric("n_ties", "tied proxy values", lambda p, t: float(len(p) - len(set(p)))))
    predictions = tmp_path / "p.json"
    predictions.write_text(json.dumps({NB201Space().format(a): float(i % 7) for i, a in enumerate(archs)}))
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps({NB201Space().format(a): float(i) for i, a in enumerate(archs)}))
    assert main(["score", str(predictions), "--benchmark", str(truth), "--subset", "all", "--top-k", "5"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("subset"))
    assert header.split() == ["subset", "n", "tau-b", "spearman", "pearson", "P@5", "tau@top5", "n_ties"]
    row = next(line for line in out.splitlines() if line.startswith("all"))
    assert row.split()[-1] == "13.0000"


def test_training_steps_are_chosen_by_name(restored_registries):
    assert set(TRAIN_STEPS) == {"module", "fixed-kernels"}
    with pytest.raises(ValueError, match="step='graph'"):
        TrainConfig(step="graph")
    TRAIN_STEPS["graph"] = TRAIN_STEPS["module"]
    assert TrainConfig(step="graph").step == "graph"


def test_an_imported_module_registers_an_edge_score_the_cli_offers(restored_registries, tmp_path, capsys):
    from naslid.cli import main

    module = tmp_path / "my_scores.py"
    module.write_text("from naslid.partition import EdgeScore, register_edge_score\n"
                      "register_edge_score(EdgeScore('least-gap', 'minus the gap', lambda p: p.cross - p.intra))\n")
    argv = ["partition", str(tmp_path / "run"), "--edge-score", "least-gap", "--print-config"]
    assert main(argv) == 2  # not registered without the import: argparse refuses the choice
    assert "invalid choice: 'least-gap'" in capsys.readouterr().err
    assert main(["--import", str(module), *argv]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["split"]["edge_score"] == "least-gap"
    assert main([*argv, "--imp", str(module)]) == 0  # an abbreviation argparse accepts, after the command
    assert json.loads(capsys.readouterr().out)["config"]["split"]["edge_score"] == "least-gap"


def test_a_taken_name_is_refused_unless_the_registration_replaces_it(restored_registries):
    """One rule for every registry (naslid.registry): the same entry again is harmless, another is an error naming
    the one registered, and replace=True swaps it."""
    gap = EDGE_SCORES["gap"]
    register_edge_score(gap)  # a module imported twice registers the same object again
    other = EdgeScore("gap", "another gap", lambda p: -p.cross)
    with pytest.raises(ValueError, match=r"edge score 'gap' is already registered \(EdgeScore with "
                                         r"naslid.partition.mincut\..*replace=True"):
        register_edge_score(other)
    assert EDGE_SCORES["gap"] is gap
    register_edge_score(other, replace=True)
    assert EDGE_SCORES["gap"] is other
    with pytest.raises(ValueError, match="split criterion 'lid' is already registered"):
        register_criterion(SplitCriterion("lid", "another", CRITERIA["gradient"].similarities))
    with pytest.raises(ValueError, match="ranking metric 'spearman' is already registered"):
        register_ranking_metric(RankingMetric("spearman", "another", lambda p, t: 0.0))


def test_built_in_spaces_and_supernets_cannot_be_replaced_by_accident():
    from naslid.nn import SUPERNETS, NB201Config, NB201SuperNet, register_supernet
    from naslid.spaces import SPACES, ProxylessSpace, register_space

    register_space("nb201", NB201Space)  # the same class again: no change
    register_supernet("nb201", NB201Config, NB201SuperNet, check=False)
    with pytest.raises(ValueError, match="search space 'nb201' is already registered"):
        register_space("nb201", ProxylessSpace)
    with pytest.raises(ValueError, match="names itself 'proxyless'; register it under its own name"):
        register_space("mine", ProxylessSpace)
    with pytest.raises(ValueError, match="supernet of space 'nb201' is already registered"):
        register_supernet("nb201", NB201Config, type("Other", (NB201SuperNet,), {}), check=False)
    assert SPACES["nb201"] is NB201Space and SUPERNETS["nb201"] == (NB201Config, NB201SuperNet)


# (kind in messages, table, a built-in name, register(entry, replace), another entry under that name)
_REGISTRIES = [
    ("search space", SPACES, "nb201", lambda entry, replace: register_space(entry, replace=replace),
     type("OtherNB201", (NB201Space,), {})),
    ("supernet of space", SUPERNETS, "nb201",
     lambda entry, replace: register_supernet("nb201", *entry, replace=replace, check=False),
     (NB201Config, type("OtherSuperNet", (NB201SuperNet,), {}))),
    ("split criterion", CRITERIA, "lid", lambda entry, replace: register_criterion(entry, replace=replace),
     SplitCriterion("lid", "another", lambda *args, **kwargs: {})),
    ("edge score", EDGE_SCORES, "gap", lambda entry, replace: register_edge_score(entry, replace=replace),
     EdgeScore("gap", "another gap", lambda p: -p.cross)),
    ("ranking metric", RANKING_METRICS, "spearman",
     lambda entry, replace: register_ranking_metric(entry, replace=replace),
     RankingMetric("spearman", "another", lambda p, t: 0.0)),
    ("ranker", RANKERS, "params", lambda entry, replace: register_ranker(entry, replace=replace),
     type("OtherParams", (RANKERS["params"],), {})),
    ("training step", TRAIN_STEPS, "module",
     lambda entry, replace: register_train_step("module", entry, replace=replace), lambda *args: None),
    ("LID estimator", ESTIMATORS, "mle", lambda entry, replace: register_estimator(entry, replace=replace),
     type("OtherMLE", (MLE,), {})),
    ("protocol", PROTOCOLS, "gm-nas", lambda entry, replace: register_protocol(entry, replace=replace),
     dataclasses.replace(PROTOCOLS["gm-nas"], description="another")),
    ("method", METHODS, "spos", lambda entry, replace: register_method(entry, replace=replace),
     dataclasses.replace(METHODS["spos"], description="another")),
    ("scale", SCALES, "cpu", lambda entry, replace: register_scale(entry, replace=replace),
     dataclasses.replace(SCALES["cpu"], description="another")),
    ("preset", PRESETS, "tiny", lambda entry, replace: register_preset("tiny", entry, replace=replace),
     lambda: None),
]


@pytest.mark.parametrize("kind, table, name, register, other", _REGISTRIES, ids=[case[0] for case in _REGISTRIES])
def test_every_registry_registers_the_same_way(restored_registries, kind, table, name, register, other):
    """The same entry again is harmless (a module imported twice), another under a taken name is an error naming
    the registered one, and replace=True swaps it: naslid.registry's rule, for every registry."""
    entry = table[name]
    register(entry, False)
    assert table[name] is entry or table[name] == entry
    with pytest.raises(ValueError, match=rf"{kind} '{name}' is already registered \(.*replace=True"):
        register(other, False)
    assert table[name] is entry or table[name] == entry
    register(other, True)
    assert table[name] is other or table[name] == other


def test_a_space_registers_under_its_own_name(restored_registries):
    assert register_space(NB201Space) is NB201Space  # its class attribute `name` names it
    with pytest.raises(ValueError, match="has no class attribute `name`; a search space names itself"):
        register_space(type("Nameless", (), {}))
    register_space("nb201", NB201Space)  # the older spelling still works


def test_an_imported_module_registers_a_method_the_cli_offers(restored_registries, tmp_path, capsys):
    from naslid.cli import main

    module = tmp_path / "my_methods.py"
    module.write_text("from naslid.runs.protocols import METHODS, Method, register_method\n"
                      "register_method(Method('spos-too', 'SPOS again (a test)', METHODS['spos'].settings, "
                      "'nas-lid-release'))\n")
    argv = ["partition", str(tmp_path / "run"), "--method", "spos-too", "--print-config"]
    assert main(argv) == 2
    assert "invalid choice: 'spos-too'" in capsys.readouterr().err
    assert main(["--import", str(module), *argv]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["schedule"]["method"] == "spos"
    assert isinstance(METHODS["spos-too"], Method)


def test_a_registered_criterion_and_method_are_asked_not_named(restored_registries):
    """compare and report ask the registries what a criterion is (a control, a gradient rule) and which method
    splits by it; a user's criterion and method get the built-ins' behaviour with no name-based code."""
    from types import SimpleNamespace

    from naslid.partition import SplitRecord
    from naslid.runs import compare
    from naslid.runs.config import RunConfig
    from naslid.runs.presets import ComparePlan
    from naslid.runs.protocols import Setting, method_config, method_splitting_by
    from naslid.runs.report import _method_name

    noise = CRITERIA["random"].similarities
    register_criterion(SplitCriterion("coin", "coin flips (a test's control)", noise, measures=False,
                                      is_control=True))
    register_criterion(SplitCriterion("slope", "gradients again (a test's rule)", CRITERIA["gradient"].similarities,
                                      batches_setting="gradient_batches", uses_gradients=True))
    register_method(Method("slope-nas", "splits by slopes (a test's method)",
                           (Setting("schedule.method", "split", "a test"),
                            Setting("split.criterion", "slope", "a test")),
                           own_protocol="nas-lid-release"))
    assert method_splitting_by("slope") == "slope-nas" and method_splitting_by("coin") is None
    assert _method_name({"method": "split"}, {"criterion": "slope"}) == "split by the slope criterion (slope-nas)"
    assert _method_name({"method": "split"}, {"criterion": "lid"}) == "split by the lid criterion (nas-lid)"
    cfg = method_config(RunConfig(), "slope-nas")
    described = compare._method_protocol("slope-nas", cfg, 10, ComparePlan(), "nas-lid-release")
    assert described["criterion"] == "slope" and described["gradient_parameters"] == "reference"
    assert compare._method_protocol("nas-lid", method_config(RunConfig(), "nas-lid"), 10, ComparePlan(),
                                    "nas-lid-release")["gradient_parameters"] is None

    def outcome(method, criterion):
        record = SplitRecord(edge=0, groups=[["a"], ["b"]], criterion=criterion, edge_scores={},
                             similarities={"e0": {"ops": ["a", "b"], "matrix": [[1.0, 0.5], [0.5, 1.0]]}})
        return SimpleNamespace(method=method, run=SimpleNamespace(tree=SimpleNamespace(root=SimpleNamespace(
            split=record))))

    table = compare._separability([outcome("coin-nas", "coin"), outcome("slope-nas", "slope"),
                                   outcome("random-split", "random")])
    assert list(table) == ["slope-nas"]


def test_a_registered_method_and_criterion_choose_their_colour_and_profile_figure(restored_registries):
    from naslid.runs import plots
    from naslid.runs.config import RunConfig
    from naslid.runs.protocols import Setting, method_config

    settings = (Setting("schedule.method", "split", "a test"), Setting("split.criterion", "lid-too", "a test"))
    register_criterion(SplitCriterion("lid-too", "LID profiles again (a test's rule)", CRITERIA["lid"].similarities,
                                      compares_lid_profiles=True))
    register_method(Method("lid-too-nas", "a test's method", settings, own_protocol="nas-lid-release", colour=9))
    assert plots.method_colour("lid-too-nas") == plots._TAB10[9] != plots.method_colour("nas-lid")
    assert plots._splits_by_lid_profiles(method_config(RunConfig(), "lid-too-nas"))
    assert plots._splits_by_lid_profiles(method_config(RunConfig(), "nas-lid"))
    assert not any(plots._splits_by_lid_profiles(method_config(RunConfig(), name))
                   for name in ("spos", "few-shot", "gm-nas", "random-split"))
    with pytest.raises(ValueError, match="colour=7"):
        Method("grey", "a test's method", settings, own_protocol="nas-lid-release", colour=7)


def test_compare_averages_every_registered_ranking_metric_over_seeds(restored_registries):
    from naslid.runs.compare import _aggregate

    register_ranking_metric(RankingMetric("n_ties", "tied proxy values (a test's)",
                                          lambda p, t: float(len(p) - len(np.unique(p)))))

    def seed(tau, ties, precision):
        entry = {"subset": "all", "rule": "all", "n": 20, "column": "c", "proxy": "p", "kendall_tau_b": tau,
                 "spearman": tau + 0.1, "pearson": None, "precision_at_k": {"5": precision}, "n_ties": ties,
                 "note": None}
        return {"methods": {"spos": {"ranking": [entry], "search": None, "curve": [], "seconds": 1.0}}}

    entry = _aggregate([seed(0.5, 2.0, 0.4), seed(0.7, 4.0, 0.6)], ["spos"])["spos"]["ranking"][0]
    assert entry["kendall_tau_b"] == pytest.approx(0.6) and entry["kendall_tau_b_seeds"]["values"] == [0.5, 0.7]
    assert entry["spearman"] == pytest.approx(0.7)
    # every other metric: the mean beside it, its own key seed 0's value as before
    assert entry["n_ties_seeds"]["mean"] == 3.0 and entry["n_ties_seeds"]["values"] == [2.0, 4.0]
    assert entry["n_ties_seeds"]["std"] == pytest.approx(np.std([2.0, 4.0], ddof=1)) and entry["n_ties"] == 2.0
    assert entry["precision_at_k_seeds"]["5"]["mean"] == pytest.approx(0.5)
    assert entry["precision_at_k_seeds"]["5"]["values"] == [0.4, 0.6] and entry["precision_at_k"] == {"5": 0.4}
    assert entry["pearson"] is None and entry["pearson_seeds"]["values"] == [None, None]
    # the keys written before every metric was averaged keep their place: the metrics, then tau's and spearman's
    assert list(entry)[:13] == ["subset", "rule", "n", "column", "proxy", "kendall_tau_b", "spearman", "pearson",
                                "precision_at_k", "n_ties", "note", "kendall_tau_b_seeds", "spearman_seeds"]
