"""Latency lookup tables: shape, coverage of every block, refusals, and latency budgets in search."""

import json
import re
from collections import Counter

import numpy as np
import pytest
from helpers import torch_threads

from naslid.nn import (
    LATENCY_TABLE_SCHEMA,
    MobileNet,
    build_latency_table,
    build_supernet_for,
    check_latency_table,
    latency_function,
    latency_keys,
    load_latency_table,
    measure_latency,
    network_config_class,
    predict_latency,
    save_latency_table,
)
from naslid.nn.latency import reference_arch
from naslid.search import CostConstraint, SearchConfig, SearchResult, cost_constraint, evolutionary_search
from naslid.search import random_search as run_random_search
from naslid.spaces import get_space

RESOLUTION = 32


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _supernet(space, width_mult=0.35):
    config = network_config_class(space)(width_mult=width_mult, num_classes=10, small_input=True)
    return build_supernet_for(space, config)


@pytest.fixture(scope="module")
def tables():
    with torch_threads(1):  # restored: later test modules compare bits across processes
        built = {space: (net, build_latency_table(net, RESOLUTION, "cpu", warmup=1, repeats=3, calibration_networks=2))
                 for space in ("proxyless", "ofa") for net in [_supernet(space)]}
    yield built


@pytest.mark.slow
@pytest.mark.parametrize("space", ["proxyless", "ofa"])
def test_table_records_its_conditions_and_covers_every_block(tables, space):
    net, table = tables[space]
    assert table["schema"] == LATENCY_TABLE_SCHEMA and table["space"] == space
    assert (table["resolution"], table["batch_size"], table["device"], table["threads"]) == (RESOLUTION, 1, "cpu", 1)
    assert table["network_config"] == json.loads(json.dumps(net.config.to_dict()))
    for name in ("device_name", "torch_version", "date", "warmup", "repeats"):
        assert table[name] not in (None, "")
    kinds = Counter(entry["kind"] for entry in table["entries"].values())
    assert kinds["stem"] == 1 and kinds["head"] == 1 and kinds["block"] > 20
    assert all(0 < entry["min_ms"] <= entry["median_ms"] and entry["spread_ms"] >= 0
               for entry in table["entries"].values())
    calibration = table["calibration"]
    assert table["statistic"] == "min" and calibration["networks"] == len(calibration["ratios"]) == 2
    assert calibration["scale"] == pytest.approx(float(np.median(calibration["ratios"]))) and calibration["scale"] > 0
    rng = np.random.default_rng(0)
    for _ in range(30):  # any architecture's blocks are in the table; the prediction is their sum
        spec = net.arch_spec(net.space.sample(rng))
        keys = latency_keys(spec, RESOLUTION)
        assert set(keys) <= set(table["entries"])
        summed = sum(table["entries"][key]["min_ms"] for key in keys)
        assert predict_latency(table, spec, RESOLUTION, calibrated=False) == pytest.approx(summed)
        assert predict_latency(table, spec, RESOLUTION) == pytest.approx(summed * calibration["scale"])


def test_reference_arch_runs_every_block():
    ofa = _supernet("ofa")
    assert ofa.space.format(reference_arch(ofa)).count("d4") == 5
    proxyless = _supernet("proxyless")
    assert "zero" not in reference_arch(proxyless).ops


def test_table_refuses_other_networks_and_resolutions(tables):
    net, table = tables["proxyless"]
    check_latency_table(table, "proxyless", net.config, RESOLUTION)
    wider = _supernet("proxyless", width_mult=0.5)
    with pytest.raises(ValueError, match="another network configuration.*width_mult"):
        latency_function(table, wider, RESOLUTION)
    with pytest.raises(ValueError, match="resolution 32, not 64"):
        latency_function(table, net, 64)
    with pytest.raises(ValueError, match="space 'proxyless', not 'ofa'"):
        check_latency_table(table, "ofa", net.config, RESOLUTION)
    spec = wider.arch_spec(wider.space.sample(np.random.default_rng(0)))
    with pytest.raises(ValueError, match="no entry '.*built for another network or resolution"):
        predict_latency(table, spec, RESOLUTION)


def test_nb201_has_no_latency_table():
    with pytest.raises(ValueError, match="DAGs"):
        build_latency_table(build_supernet_for("nb201", network_config_class("nb201")()), RESOLUTION)


def test_save_and_load_round_trip(tables, tmp_path):
    _, table = tables["ofa"]
    path = save_latency_table(table, tmp_path / "table.json")
    assert load_latency_table(path) == table
    (tmp_path / "other.json").write_text(json.dumps({**table, "schema": "naslid.latency_table/9"}))
    with pytest.raises(ValueError, match="unsupported latency table schema"):
        load_latency_table(tmp_path / "other.json")
    with pytest.raises(FileNotFoundError, match="naslid latency-table"):
        load_latency_table(tmp_path / "missing.json")


def test_calibration_ratios_are_end_to_end_over_summed_blocks(monkeypatch):
    """Each calibration ratio is a seeded random network's measured latency over its summed entries: with a timer
    stubbed to charge a fixed cost per module call, a whole network costs more calls than its parts' sum (the
    stages' Sequentials and the network itself), so the ratio is exactly known."""
    from naslid.nn import latency

    def one_call_per_module(module, input_shape, batch_size=1, warmup=10, repeats=30, device="cpu"):
        return [float(sum(1 for _ in module.modules()))] * repeats

    monkeypatch.setattr(latency, "repeat_timings", one_call_per_module)
    net = _supernet("ofa")
    table = build_latency_table(net, RESOLUTION, calibration_networks=3, calibration_seed=5)
    rng = np.random.default_rng(5)
    for ratio in table["calibration"]["ratios"]:
        spec = net.arch_spec(net.space.sample(rng))
        assert ratio == pytest.approx(sum(1 for _ in MobileNet(spec).modules())
                                      / predict_latency(table, spec, RESOLUTION, calibrated=False))
    assert table["calibration"]["seed"] == 5
    unscaled = build_latency_table(net, RESOLUTION, calibration_networks=0)
    assert unscaled["calibration"] == {"networks": 0, "seed": unscaled["calibration"]["seed"], "ratios": [],
                                       "scale": 1.0}


def test_schema_1_tables_are_read_with_their_medians(tables, tmp_path):
    net, table = tables["proxyless"]
    old = {**table, "schema": "naslid.latency_table/1"}
    for name in ("statistic", "calibration"):
        old.pop(name)
    old["entries"] = {key: {"kind": entry["kind"], "median_ms": entry["median_ms"], "spread_ms": entry["spread_ms"]}
                      for key, entry in table["entries"].items()}
    (tmp_path / "old.json").write_text(json.dumps(old))
    loaded = load_latency_table(tmp_path / "old.json")
    spec = net.arch_spec(net.space.sample(np.random.default_rng(1)))
    assert predict_latency(loaded, spec, RESOLUTION) == pytest.approx(
        sum(table["entries"][key]["median_ms"] for key in latency_keys(spec, RESOLUTION)))


def test_measure_latency_restores_the_mode():
    net = _supernet("proxyless")
    network = MobileNet(net.arch_spec(reference_arch(net))).train()
    median, spread = measure_latency(network, (3, RESOLUTION, RESOLUTION), 1, warmup=1, repeats=3)
    assert median > 0 and spread >= 0 and network.training
    with pytest.raises(ValueError, match="statistic='mean'"):
        measure_latency(network, (3, RESOLUTION, RESOLUTION), statistic="mean")
    with pytest.raises(ValueError, match="repeats=0"):
        measure_latency(network, (3, RESOLUTION, RESOLUTION), repeats=0)


def test_latency_budget_holds_for_every_evaluated_architecture(tables):
    net, table = tables["ofa"]
    space = net.space
    latency = latency_function(table, net, RESOLUTION)
    rng = np.random.default_rng(1)
    limit = float(np.median([latency(space.sample(rng)) for _ in range(40)]))  # about half the space fits
    constraint = cost_constraint(lambda arch: net.arch_costs(arch, RESOLUTION), max_latency_ms=limit,
                                 latency=latency)
    assert constraint.to_dict() == {"max_latency_ms": limit}
    calls = Counter()

    def objective(arch):
        calls[space.network_key(arch)] += 1
        return -latency(arch)

    config = SearchConfig(population_size=10, generations=4, num_parents=3, num_mutations=4, num_crossovers=4,
                          budget=30, max_latency_ms=limit)
    result = evolutionary_search(objective, space, config, constraint=constraint)
    assert 0 < result.num_evaluations <= 30 and sum(calls.values()) == result.num_evaluations
    assert all(latency(evaluation.arch) <= limit for evaluation in result.history)
    assert all(constraint.cost(evaluation.arch)["latency_ms"] <= limit for evaluation in result.history)
    assert max(calls.values()) == 1  # no network scored twice


def test_cost_constraint_needs_a_latency_function_for_a_latency_limit():
    with pytest.raises(ValueError, match="latency table"):
        CostConstraint(lambda arch: {"mflops": 1.0, "params_m": 1.0}, max_latency_ms=2.0)
    constraint = CostConstraint(lambda arch: {"mflops": 1.0, "params_m": 1.0}, max_mflops=2.0, latency=lambda a: 3.0)
    assert constraint.cost("any") == {"mflops": 1.0, "params_m": 1.0, "latency_ms": 3.0} and constraint("any")


def test_search_scores_each_ofa_network_once_and_counts_the_cache():
    space = get_space("ofa")
    allowed = [list(choices) for choices in space.choices]
    for stage in range(5):  # 32,768 archs, 243 networks: inactive blocks 2 and 3 often repeat a network
        allowed[space.depth_point(stage)] = ["d2", "d3"]
        for block in range(4):
            allowed[space.block_point(stage, block)] = ["k3_e3"] if block < 2 else ["k3_e3", "k5_e4"]
    sub = space.restrict(allowed)
    calls = Counter()

    def objective(arch):
        calls[space.network_key(arch)] += 1
        return float(sum(ord(c) for c in space.network_key(arch)) % 97)

    for search in ("evolution", "random"):
        calls.clear()
        if search == "evolution":
            config = SearchConfig(population_size=20, generations=10, num_mutations=8, num_crossovers=8,
                                  num_parents=5, budget=60, seed=2)
            result = evolutionary_search(objective, sub, config)
        else:
            result = run_random_search(objective, sub, 60, seed=2)
        assert max(calls.values()) == 1 and result.num_evaluations == sum(calls.values()) <= 60
        assert result.cache_hits > 0
        assert space.network_key == space.canonical_key
        data = result.to_json()
        assert data["cache_hits"] == result.cache_hits
        assert SearchResult.from_json(data).cache_hits == result.cache_hits
        del data["cache_hits"]  # files written before the cache
        assert SearchResult.from_json(data).cache_hits == 0


def test_nb201_and_proxyless_network_keys_are_the_string_form():
    for name in ("nb201", "proxyless"):
        space = get_space(name)
        arch = space.sample(np.random.default_rng(0))
        assert space.network_key(arch) == space.format(arch)


def _negative_block(table):
    key = next(key for key, entry in table["entries"].items() if entry["kind"] == "block")
    table["entries"][key]["min_ms"] = -2304.0
    return f"entry {key!r} has min_ms=-2304.0; expected a finite number of milliseconds > 0"


def _nan_scale(table):
    table["calibration"]["scale"] = float("nan")
    return "its calibration scale is nan; expected a finite number > 0"


def _infinite_median(table):
    key = next(iter(table["entries"]))
    table["entries"][key]["median_ms"] = float("inf")
    return f"entry {key!r} has median_ms=inf"


@pytest.mark.parametrize("tamper", [_negative_block, _nan_scale, _infinite_median])
def test_a_table_whose_times_are_not_positive_and_finite_is_refused(tables, tmp_path, tamper):
    """Issue 33: a negative entry predicted a latency of -2,304 ms, a NaN scale read as "no architecture met the
    constraint"; both are refused when the table is read, naming the entry."""
    _, table = tables["proxyless"]
    table = json.loads(json.dumps(table))
    message = tamper(table)
    (tmp_path / "bad.json").write_text(json.dumps(table))
    with pytest.raises(ValueError, match=re.escape(message)):
        load_latency_table(tmp_path / "bad.json")
