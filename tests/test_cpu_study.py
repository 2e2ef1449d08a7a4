"""benchmarks/cpu_study.py: the summary from a hand-made results file (means, paired intervals, seeds better,
verdicts), refusal to mix settings digests, and a killed seed that resumes (tiny preset)."""

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from naslid.bench.paired import paired_difference

STUDY_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "cpu_study.py"


def _study():
    spec = importlib.util.spec_from_file_location("benchmark_cpu_study", STUDY_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _line(study, seed: int, shift: float, digest: str = "d" * 16) -> dict:
    """A results line whose taus are known: NAS-LID's proxy is `shift` above the control's."""
    taus = {"params": {"eval1000": 0.5, "top1%-eval": 0.3}, "flops": {"eval1000": 0.5, "top1%-eval": 0.3},
            study.BEST_TRAINING_FREE: {"eval1000": 0.6, "top1%-eval": 0.35}}
    for method in study.METHODS:
        base = 0.3 + 0.01 * seed + (shift if method == "nas-lid" else 0.0)
        taus[f"{method}:proxy"] = {"eval1000": base, "top1%-eval": 0.0}
        taus[f"{method}:lid-supernet"] = {"eval1000": base - 0.1, "top1%-eval": 0.05}
        taus[f"{method}:{study.SUPERNET_AGGREGATE}"] = {"eval1000": 0.62 + 0.01 * seed, "top1%-eval": 0.36}
    return {"schema": study.SCHEMA, "digest": digest, "seed": seed, "commit": "abc", "minutes": 10.0 + seed,
            "taus": taus}


def test_the_summary_pairs_by_seed_with_intervals_and_verdicts(tmp_path, capsys):
    study = _study()
    shifts = [0.02, 0.03, 0.01, 0.04]
    lines = [_line(study, seed, shift) for seed, shift in enumerate(shifts)]
    results = tmp_path / "study.jsonl"
    results.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert study.main(["--summary", "--out", str(results)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("seeds 0, 1, 2, 3; 11.5 minutes per seed (mean)")
    rows = {tuple(cell.strip() for cell in row.split("|")[1:3]): row for row in text.splitlines()
            if row.startswith("| ") and "`" in row}
    expected = paired_difference([0.3 + 0.01 * s + d for s, d in enumerate(shifts)],
                                 [0.3 + 0.01 * s for s in range(4)], [0, 1, 2, 3])
    nas_lid = rows[("NAS-LID vs the random-split control (proxy)", "`eval1000`")]
    assert f"{expected.mean:+.3f}" in nas_lid and "4 of 4" in nas_lid and nas_lid.rstrip(" |").endswith("better")
    assert f"[{expected.interval[0]:+.3f}, {expected.interval[1]:+.3f}]" in nas_lid
    # every supernet ranking is below params on eval1000 (0.30-0.37 vs 0.5): worse, 0 of 4
    below = rows[("spos:proxy vs params", "`eval1000`")]
    assert "0 of 4" in below and below.rstrip(" |").endswith("worse")
    # the top 1%: the control and NAS-LID tie at 0.0 every seed: no difference
    tie = rows[("NAS-LID vs the random-split control (proxy)", "`top1%-eval`")]
    assert "+0.000" in tie and "0 of 4" in tie and "no difference we can see" in tie
    mean_row = next(row for row in text.splitlines() if row.startswith("| nas-lid:proxy |"))
    values = [0.3 + 0.01 * s + d for s, d in enumerate(shifts)]
    assert f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}" in mean_row


def test_a_results_file_of_other_settings_is_refused(tmp_path):
    study = _study()
    results = tmp_path / "study.jsonl"
    results.write_text(json.dumps(_line(study, 0, 0.01, digest="0" * 16)) + "\n")
    with pytest.raises(SystemExit, match="holds lines of other settings"):
        study.main(["--preset", "tiny", "--seeds", "1", "--out", str(results), "--work", str(tmp_path / "w")])
    results.write_text(results.read_text() + json.dumps(_line(study, 1, 0.01, digest="1" * 16)) + "\n")
    with pytest.raises(SystemExit, match="other settings"):
        study.main(["--summary", "--out", str(results)])


def test_the_digest_follows_the_settings():
    study = _study()
    assert study.settings_digest(study.study_settings("cpu")) != study.settings_digest(study.study_settings("tiny"))
    assert study.settings_digest(study.study_settings("cpu")) == study.settings_digest(study.study_settings("cpu"))
    assert study.settings_digest(study.study_settings("cpu", ("random500",))) != study.settings_digest(
        study.study_settings("cpu"))


@pytest.mark.slow
def test_a_killed_seed_resumes_and_lands_once(tmp_path):
    results, work = tmp_path / "study.jsonl", tmp_path / "work"
    command = [sys.executable, str(STUDY_PATH), "--preset", "tiny", "--seeds", "0", "--subsets", "random20",
               "--out", str(results), "--work", str(work), "--threads", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not (work / "seed0" / "nas-lid" / "partition_tree.json").is_file():
        time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not results.exists()  # nothing half-written
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(text) for text in results.read_text().splitlines()]
    assert [line["seed"] for line in lines] == [0]
    taus = lines[0]["taus"]
    assert {"params", "spos:proxy", "nas-lid:lid-supernet", "random-split:proxy"} <= set(taus)
    assert all(set(values) == {"random20"} for values in taus.values())
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)  # a rerun skips the finished seed
    assert again.returncode == 0 and "seed 0: in" in again.stdout and len(results.read_text().splitlines()) == 1
