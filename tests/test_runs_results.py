"""Results back into Python (issue 20, item 4): per-epoch metrics beside the checkpoints, compare.csv, a tidy
loader, and `naslid score` reading naslid's own result files."""

import csv
import io
import json

import pytest
import torch
from scipy.stats import kendalltau

from naslid.bench import load_benchmark
from naslid.cli import main
from naslid.runs.results import (
    as_frame,
    compare_csv,
    compare_rows,
    epoch_rows,
    load_results,
    own_history,
)
from naslid.spaces import format_arch


def _entry(epoch, loss):
    return {"epoch": epoch, "loss": loss, "accuracy": 0.5, "seconds": 1.0}


def test_a_child_repeats_none_of_its_parents_epochs():
    parent = [_entry(1, 2.0), _entry(2, 1.5)]
    child = [*parent, _entry(3, 1.2)]
    restarted = [_entry(1, 2.3)]  # a leaf retrained from scratch shares no prefix
    assert own_history(child, parent) == [_entry(3, 1.2)]
    assert own_history(restarted, parent) == restarted
    tracked = {"epoch": 3, "scores": {"a": 1.0, "b": 2.0}, "seconds": 0.5}
    rows = epoch_rows({0: parent, 1: child, 2: [*restarted[:0], {**_entry(3, 1.1), "tracked": tracked}]},
                      {0: None, 1: 0, 2: 0})
    assert [(r["node"], r["epoch"]) for r in rows] == [(0, 1), (0, 2), (1, 3), (2, 3)]
    assert rows[2]["parent"] == 0 and rows[2]["loss"] == 1.2
    assert rows[3]["tracked_archs"] == 2 and rows[3]["tracking_seconds"] == 0.5 and "tracked" not in rows[3]


@pytest.mark.slow
def test_a_partition_run_writes_its_epochs_beside_the_checkpoints(tmp_path):
    run = tmp_path / "run"
    assert main(["partition", str(run), "--channels", "4", "--split-epochs", "1", "--finetune-epochs", "1",
                 "--split-batches", "1", "--no-progress"]) == 0
    rows = load_results(run)
    tree = json.loads((run / "partition_tree.json").read_text())
    nodes = {node["id"]: node for node in tree["nodes"]}
    assert {row["node"] for row in rows} == set(nodes)
    for node_id, node in nodes.items():
        history = torch.load(run / node["checkpoint"], weights_only=False)["history"]
        own = [row for row in rows if row["node"] == node_id]
        # every row is the checkpoint's entry; the rows of a child are the epochs after its parent's
        assert [row["loss"] for row in own] == [entry["loss"] for entry in history[-len(own):]]
        if node["parent"] is not None:
            assert own[0]["epoch"] > max(r["epoch"] for r in rows if r["node"] == node["parent"])
    frame = load_results(run, as_dataframe=True)
    assert list(frame["node"]) == [row["node"] for row in rows]


def _compare_document():
    ranking = [{"subset": "random10", "n": 10, "kendall_tau_b": 0.4, "spearman": 0.5, "pearson": 0.6,
                "precision_at_k": {"10": 0.3}, "top_k_kendall": {"10": 0.1}},
               {"subset": "top1%", "n": 157, "kendall_tau_b": -0.1, "spearman": -0.2, "pearson": None,
                "precision_at_k": {"10": 0.0}, "top_k_kendall": {"10": None}}]
    method = {"leaves": 4, "supernet_epochs": 45, "ranking": ranking, "seconds": {"train_and_split": 12.5},
              "search": {"best_arch": "|a|", "proxy_score": 61.0, "ground_truth": {"c10_test_acc_200": 93.1}}}
    return {"schema": "naslid.compare/2",
            "protocol": {"ground_truth": {"column": "c10_test_acc_200"},
                         "method_protocols": {"nas-lid": {"protocol": "nas-lid-release"}}},
            "runs": [{"seed": seed, "methods": {"spos": {**method, "leaves": 1}, "nas-lid": method}}
                     for seed in (0, 1)]}


def test_compare_rows_are_one_per_seed_method_and_subset(tmp_path):
    document = _compare_document()
    rows = compare_rows(document)
    assert len(rows) == 2 * 2 * 2
    first = rows[0]
    assert first["seed"] == 0 and first["method"] == "spos" and first["protocol"] == "ours" and first["leaves"] == 1
    assert first["kendall_tau_b"] == 0.4 and first["precision_at_10"] == 0.3 and first["best_ground_truth"] == 93.1
    assert rows[2]["protocol"] == "nas-lid-release"
    text = compare_csv(document)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed[1]["subset"] == "top1%" and parsed[1]["pearson"] == "" and parsed[1]["kendall_tau_b"] == "-0.1"
    (tmp_path / "compare.json").write_text(json.dumps(document))
    assert load_results(tmp_path) == rows
    frame = as_frame(rows)
    assert frame.groupby("method")["kendall_tau_b"].mean().to_dict() == pytest.approx({"spos": 0.15, "nas-lid": 0.15})


def test_load_results_names_what_it_cannot_read(tmp_path):
    with pytest.raises(ValueError, match="neither compare.json nor metrics.jsonl"):
        load_results(tmp_path)
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match="not a naslid comparison"):
        load_results(tmp_path / "x.json")
    (tmp_path / "m.jsonl").write_text('{"a": 1}\nnot json\n')
    with pytest.raises(ValueError, match="line 2"):
        load_results(tmp_path / "m.jsonl")


def test_score_reads_naslids_own_proxy_scores_and_search_files(tmp_path, capsys):
    table = load_benchmark()
    archs = list(table.ground_truth().values)[::1500]
    truth = [table.value(a) for a in archs]
    scores = {format_arch(a): float((i * 7) % 5) for i, a in enumerate(archs)}
    expected = kendalltau(list(scores.values()), truth, variant="b").statistic
    proxy_file = tmp_path / "proxy_scores.json"
    proxy_file.write_text(json.dumps({"schema": "naslid.proxy_scores/1", "protocol": {"proxy": "x"},
                                      "scores": scores}))
    out = tmp_path / "scores.json"
    assert main(["score", str(proxy_file), "--subset", "all", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["results"][0]["kendall_tau_b"] == pytest.approx(expected)
    history = [{"index": i, "generation": 0, "arch": arch, "score": value}
               for i, (arch, value) in enumerate(scores.items())]
    search_file = tmp_path / "search_evolution.json"
    search_file.write_text(json.dumps({"schema": "naslid.search/1", "space": "nb201", "protocol": {},
                                       "history": history + history[:2]}))  # a repeat scores the same
    assert main(["score", str(search_file), "--subset", "all", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["results"][0]["kendall_tau_b"] == pytest.approx(expected)
    history[0] = {**history[0], "score": 99.0}
    search_file.write_text(json.dumps({"schema": "naslid.search/1", "space": "nb201", "history": history
                                       + [{**history[0], "score": 1.0}]}))
    capsys.readouterr()
    assert main(["score", str(search_file)]) == 2
    assert "was scored 99.0 and 1.0" in capsys.readouterr().err
