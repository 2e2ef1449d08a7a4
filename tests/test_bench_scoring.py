"""Scoring predictions on declared subsets: the Few-shot NAS reference figures, the scores file, errors."""

import json
import math

import pytest

from naslid.bench import (
    SCORES_SCHEMA,
    BenchmarkTable,
    Subset,
    load_benchmark,
    rank_metrics,
    read_predictions,
    read_scores,
    score_predictions,
    select_subset,
    write_scores,
)
from naslid.spaces import NB201Space

# From ../shared/data/fewshot-nas-supernets/README.md (scipy 1.17, all 15,625 keys, their ground truth).
REFERENCE = {
    "one-shot-supernet.json": {"tau": 0.4849, "spearman": 0.6771, "top1_tau": -0.028},
    "few-shot-supernet.json": {"tau": 0.5508, "spearman": 0.7410, "top1_tau": 0.003},
}


@pytest.fixture(scope="module")
def fewshot(shared_data):
    return shared_data / "fewshot-nas-supernets"


@pytest.fixture(scope="module")
def fewshot_truth(fewshot):
    return load_benchmark(fewshot / "nasbench201.json")


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reproduces_the_fewshot_reference_figures(fewshot, fewshot_truth, name):
    predictions = read_predictions(fewshot / name)
    report = score_predictions(
        predictions.values, fewshot_truth, subsets=["all", "top1%"], proxy_description=predictions.describe()
    )
    everything, top = report.result("all"), report.result("top1%")
    expected = REFERENCE[name]
    assert everything.n == 15625 and top.n == 158
    assert everything.kendall_tau_b == pytest.approx(expected["tau"], abs=5e-5)
    assert everything.spearman == pytest.approx(expected["spearman"], abs=5e-5)
    assert top.kendall_tau_b == pytest.approx(expected["top1_tau"], abs=5e-4)
    # every result states its subset, ground-truth column and proxy
    assert "ties at the cut included" in top.rule and name in top.proxy and top.column.startswith("value")
    assert report.protocol["benchmark"].endswith("nasbench201.json") and report.protocol["subsets"] == [
        "all",
        "top1%",
    ]


def test_scores_against_the_merged_table_state_column_epochs_and_seeds(shared_data, fewshot):
    table = BenchmarkTable.from_csv(shared_data / "nb201" / "nb201_merged.csv")
    predictions = read_predictions(fewshot / "few-shot-supernet.json")
    report = score_predictions(predictions.values, table, subsets=["unique"], ks=[10])
    result = report.result("unique")
    assert result.n == 6466 and result.column == "c10_test_acc_200 (200 epochs, seeds: mean)"
    assert report.protocol["epochs"] == 200 and report.protocol["seeds"] == "mean"
    assert set(result.precision_at_k) == {10}
    # the value it must have: scipy's tau-b over the same 6466 archs (one per unique_str, lowest index)
    from scipy.stats import kendalltau

    chosen = select_subset("unique", table.ground_truth(archs=list(predictions.values)).values, table.index_of).archs
    expected = kendalltau([predictions.values[a] for a in chosen], [table.value(a) for a in chosen], variant="b")
    assert result.kendall_tau_b == pytest.approx(expected.statistic, abs=1e-9)


def _small_case():
    archs = list(NB201Space().all())[:30]
    truth_values = {arch: float(position) for position, arch in enumerate(archs)}
    table = BenchmarkTable.from_mapping(truth_values, column="acc_200", source="small")
    proxy = {arch: float(position % 10) for position, arch in enumerate(archs)}
    return archs, table, proxy


def test_scores_file_round_trip_and_schema_check(tmp_path):
    archs, table, proxy = _small_case()
    constant = {arch: 1.0 for arch in archs}
    report = score_predictions(constant, table, subsets=["all", "random10"], seed=5, ks=[5, 50])
    assert math.isnan(report.result("all").kendall_tau_b)
    assert set(report.result("all").precision_at_k) == {5}  # k above the subset size is skipped
    path = write_scores(report, tmp_path / "out" / "scores.json")
    data = json.loads(path.read_text())
    assert data["schema"] == SCORES_SCHEMA and data["results"][0]["kendall_tau_b"] is None
    assert data["protocol"]["seed"] == 5 and data["protocol"]["column"] == "acc_200"
    again = read_scores(path)
    assert again.protocol == report.protocol and math.isnan(again.result("all").spearman)
    assert again.result("random10").n == 10
    data["schema"] = "naslid.scores/2"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="naslid.scores/2.*reads 'naslid.scores/1'"):
        read_scores(path)


def test_scoring_errors_are_clear():
    archs, table, proxy = _small_case()
    outside = {**proxy, list(NB201Space().all())[-1]: 3.0}
    with pytest.raises(KeyError, match="1 predicted architecture"):
        score_predictions(outside, table)
    with pytest.raises(KeyError, match="unknown benchmark column 'acc'"):
        score_predictions(proxy, table, column="acc")
    with pytest.raises(ValueError, match="unknown subset"):
        score_predictions(proxy, table, subsets=["best"])
    with pytest.raises(ValueError, match="positive integer"):
        score_predictions(proxy, table, ks=[0])
    with pytest.raises(ValueError, match="need at least 2"):
        rank_metrics(
            proxy, table.ground_truth(), Subset("one", "one arch", (archs[0],)), proxy_description="p"
        )


def test_partial_predictions_rank_only_what_was_predicted():
    archs, table, proxy = _small_case()
    part = {arch: proxy[arch] for arch in archs[:12]}
    report = score_predictions(part, table, subsets=["all", "top50%"])
    assert report.result("all").n == 12 and report.result("top50%").n == 6
    assert report.protocol["n_predictions"] == 12 and report.protocol["n_benchmark"] == 30


def test_subsets_that_cannot_be_formed_are_reported_next_to_the_others():
    """Issue 10 item 12: with 30 predictions, top1% holds 1 arch and random1000 cannot be drawn; `all` survives."""
    archs, table, proxy = _small_case()
    report = score_predictions(proxy, table, subsets=["all", "top1%", "random1000"], ks=[5])
    assert [result.subset for result in report.results] == ["all", "top1%", "random1000"]
    assert report.result("all").n == 30 and report.result("all").note is None
    assert math.isfinite(report.result("all").kendall_tau_b)
    top = report.result("top1%")
    assert top.n == 1 and "need at least 2" in top.note and math.isnan(top.kendall_tau_b)
    assert "cannot be formed" in report.result("random1000").note
    assert report.to_json()["results"][1]["kendall_tau_b"] is None
    with pytest.raises(ValueError, match="unknown subset"):
        score_predictions(proxy, table, subsets=["all", "best10"])
