"""Evidence that accumulates: SPOS, NAS-LID and the random-split control at the `cpu` preset, seed by seed, each
ranked by its proxy accuracy, by its LID profile (`lid-supernet`) and by an aggregate with training-free rankers,
beside the floor (`params`) and the best training-free aggregate.

Per seed: one `naslid compare` of spos, nas-lid and random-split on one shared root (tracking off, no plots), plus
the floor and the training-free aggregate on the same subsets (`eval1000` and `top1%-eval`, the list files of
benchmarks/results/subsets/, disjoint from the development subset); then, with each method's trained leaves, the
LID ranker and the aggregates that include the supernet. Each finished seed appends one JSON line to ``--out``
(seed, commit, settings digest, minutes, every tau), which is meant to be committed; a rerun skips the seeds
already there for the same settings and refuses a file of other settings. A killed seed resumes where its
comparison stopped (its folder under ``--work``).

    nice python benchmarks/cpu_study.py --seeds 0-5 --nice          # appends benchmarks/results/cpu_study.jsonl
    python benchmarks/cpu_study.py --summary                         # the table, from the committed lines alone

The LID feature and the training-free aggregate's members were chosen on the development subset of
benchmarks/training_free.py (never on the subsets reported here).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from naslid.bench import load_benchmark, packaged_table_path, rank_metrics, select_subset
from naslid.bench.paired import paired_difference
from naslid.rankers import aggregate_ranks, get_ranker
from naslid.runs.compare import compare_methods
from naslid.runs.config import RunConfig
from naslid.runs.opened import OpenedRun
from naslid.runs.presets import get_preset
from naslid.runs.rank import LIDSupernet, data_context, run_context
from naslid.runs.run_directory import CONFIG_FILE, PROXY_SCORES_FILE
from naslid.spaces import get_space

HERE = Path(__file__).parent
DEFAULT_OUT = HERE / "results" / "cpu_study.jsonl"
SCHEMA = "naslid.cpu_study/1"
METHODS = ("spos", "nas-lid", "random-split")
# ranked on subsets disjoint from the development subset the LID feature and the aggregate were chosen on
SUBSET_FILES = {"eval1000": HERE / "results" / "subsets" / "eval1000.txt",
                "top1%-eval": HERE / "results" / "subsets" / "top1pct-eval.txt"}
SUBSETS = tuple(SUBSET_FILES)
# chosen on the development subset (dev1000), never on the subsets reported here: lid-supernet's feature with a
# supernet of seed 100 (--develop), the training-free members on benchmarks/training_free.py's dev1000 (the best
# aggregate of rankers cheap enough to rank all 15,625 in 30 minutes: flops + synflow + the last layer's LID at
# initialisation, 0.737 on dev1000, where params + synflow read 0.641 and flops alone 0.576)
DEVELOP_FILE = HERE / "results" / "cpu_study_develop.json"


def _developed_feature() -> str:
    """lid-supernet's feature as `--develop` chose it (its file), else the profile's first layer."""
    if DEVELOP_FILE.is_file():
        return json.loads(DEVELOP_FILE.read_text())["best"]
    return "first"


LID_FEATURE = _developed_feature()
TRAINING_FREE_MEMBERS = ("flops", "synflow", "lid-init[feature=last]")
BEST_TRAINING_FREE = f"agg[{','.join(TRAINING_FREE_MEMBERS)}]"
SUPERNET_AGGREGATE = f"agg[proxy,{','.join(TRAINING_FREE_MEMBERS)}]"


def study_settings(preset: str, subsets: tuple[str, ...] = SUBSETS) -> dict:
    """Everything that decides what a line means; its digest guards the results file against mixing."""
    config = get_preset(preset).config.to_dict()
    config["data"].pop("path", None)  # where CIFAR-10 lies does not change a result
    return {"schema": SCHEMA, "preset": preset, "config": config, "methods": list(METHODS), "subsets": list(subsets),
            "lid_feature": LID_FEATURE, "training_free": BEST_TRAINING_FREE, "supernet_aggregate": SUPERNET_AGGREGATE,
            "ground_truth": "c10_test_acc_200"}


def settings_digest(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def read_lines(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    lines = []
    for number, text in enumerate(path.read_text().splitlines(), 1):
        if text.strip():
            try:
                lines.append(json.loads(text))
            except json.JSONDecodeError:
                raise SystemExit(f"{path}:{number} is not a JSON line; repair or remove it") from None
    return lines


def check_digest(lines: list[dict], digest: str, path: Path) -> None:
    """Refuse a results file that holds lines of other settings (their taus would not be comparable)."""
    others = sorted({line["digest"] for line in lines} - {digest})
    if others:
        raise SystemExit(f"{path} holds lines of other settings (digest {', '.join(others)}; these settings: "
                         f"{digest}); write to another file with --out, or move that one away")


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE,
                              timeout=10).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def _spec(name: str) -> str:
    """The subset spelling naslid reads for a study subset name (a list file for eval1000 and top1%-eval)."""
    return f"list:{SUBSET_FILES[name]}" if name in SUBSET_FILES else name


def run_seed(seed: int, preset: str, work: Path, data_path: str | None, subset_names: tuple[str, ...] = SUBSETS
             ) -> dict:
    """One seed of the study: the comparison, then the rankers that use each method's trained leaves."""
    subset_specs = tuple(_spec(name) for name in subset_names)
    names = dict(zip(subset_specs, subset_names, strict=True))
    start = time.perf_counter()
    base = get_preset(preset)
    config = base.config
    if data_path is not None:
        config = replace(config, data=replace(config.data, path=str(Path(data_path).resolve())))
    plan = replace(base.plan, methods=(*METHODS, BEST_TRAINING_FREE), seeds=(seed,), ranking_subsets=subset_specs,
                   track_subset=None, plots=False)
    folder = work / f"seed{seed}"
    results = compare_methods(folder, config, plan, str(packaged_table_path()))
    taus = {method: {names[entry["subset"]]: entry["kendall_tau_b"] for entry in summary["ranking"]}
            for method, summary in results["methods"].items() if method not in METHODS}
    benchmark = load_benchmark()
    truth = benchmark.ground_truth()
    subsets = [select_subset(spec, truth.values, benchmark.index_of, seed=config.seed) for spec in subset_specs]
    archs = sorted({arch for subset in subsets for arch in subset.archs}, key=benchmark.index_of)
    space = get_space("nb201")
    members = None
    for method in METHODS:
        method_dir = folder / method
        run = OpenedRun(method_dir, RunConfig.load(method_dir / CONFIG_FILE))
        proxy_file = json.loads((method_dir / PROXY_SCORES_FILE).read_text())["scores"]
        proxy = [float(proxy_file[space.format(arch)]) for arch in archs]
        if members is None:  # the training-free members, once per seed (same network, data and init for all)
            fresh = data_context(run.cfg.search_space, run.cfg.network, run.data, seed, str(run.device))
            members = [get_ranker(member).score_many(archs, fresh) for member in TRAINING_FREE_MEMBERS]
        lid = LIDSupernet(feature=LID_FEATURE).score_many(archs, run_context(run, seed=seed))
        columns = {"proxy": proxy, "lid-supernet": lid, SUPERNET_AGGREGATE: aggregate_ranks([proxy, *members]).tolist()}
        for name, values in columns.items():
            by_arch = dict(zip(archs, values, strict=True))
            taus[f"{method}:{name}"] = {names[subset.name]: rank_metrics(by_arch, truth, subset,
                                                                         proxy_description=name).kendall_tau_b
                                        for subset in subsets}
    return {"seed": seed, "taus": taus, "minutes": round((time.perf_counter() - start) / 60, 2),
            "environment": {**results["environment"], "machine": platform.machine(), "cpus": os.cpu_count()}}


# the pairs the summary reports: (label, ranking, baseline)
def pairs() -> list[tuple[str, str, str]]:
    out = [("NAS-LID vs the random-split control (proxy)", "nas-lid:proxy", "random-split:proxy")]
    for method in METHODS:
        for ranker in ("proxy", "lid-supernet", SUPERNET_AGGREGATE):
            out.append((f"{method}:{ranker} vs params", f"{method}:{ranker}", "params"))
    for method in METHODS:
        out.append((f"{method}: LID ranker vs proxy accuracy", f"{method}:lid-supernet", f"{method}:proxy"))
        out.append((f"{method}: aggregate with the supernet vs without", f"{method}:{SUPERNET_AGGREGATE}",
                    BEST_TRAINING_FREE))
    return out


def summary(lines: list[dict]) -> str:
    """The README's table from the results lines alone: mean tau per ranking, and every pair paired by seed."""
    if not lines:
        return "no seed finished yet"
    seeds = [line["seed"] for line in lines]
    names = list(lines[0]["taus"])
    subsets = list(lines[0]["taus"][names[0]])
    out = [f"seeds {', '.join(map(str, seeds))}; {np.mean([line['minutes'] for line in lines]):.1f} minutes per seed "
           f"(mean); digest {lines[0]['digest']}", "",
           "| ranking | " + " | ".join(f"tau {subset}" for subset in subsets) + " |",
           "|---|" + "---|" * len(subsets)]
    for name in names:
        cells = []
        for subset in subsets:
            values = [line["taus"][name][subset] for line in lines]
            cells.append(f"{np.mean(values):.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0:.3f}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += ["", "| pair | subset | mean difference | 95% interval | seeds better | verdict |",
            "|---|---|---|---|---|---|"]
    for label, ranking, baseline in pairs():
        for subset in subsets:
            paired = paired_difference([line["taus"][ranking][subset] for line in lines],
                                       [line["taus"][baseline][subset] for line in lines], seeds)
            out.append(f"| {label} | `{subset}` | {paired.mean:+.3f} | " + (
                f"[{paired.interval[0]:+.3f}, {paired.interval[1]:+.3f}]" if paired.interval else "n/a (one seed)")
                + f" | {paired.better} of {len(paired.differences)} | {verdict(paired)} |")
    return "\n".join(out)


def verdict(paired) -> str:
    if paired.interval is None:
        return "one seed: no verdict"
    low, high = paired.interval
    return "better" if low > 0 else "worse" if high < 0 else "no difference we can see"


DEVELOPMENT_SEED = 100  # the supernet the LID feature is chosen with: a seed the study never reports


def develop(preset: str, work: Path, data_path: str | None, out: Path) -> dict:
    """Choose `lid-supernet`'s feature: train SPOS at the preset with seed DEVELOPMENT_SEED, profile every architecture
    of the development subset (dev1000) with its weights, and rank each feature against the ground truth there."""
    from naslid.rankers.lid_profile import FEATURES, profile_feature
    from naslid.runs.compare import with_seed
    from naslid.runs.partition import run_partition
    from naslid.runs.protocols import method_config

    base = get_preset(preset).config
    if data_path is not None:
        base = replace(base, data=replace(base.data, path=str(Path(data_path).resolve())))
    config = with_seed(method_config(base, "spos"), DEVELOPMENT_SEED)
    folder = work / "develop"
    run_partition(folder, config)
    run = OpenedRun(folder, RunConfig.load(folder / CONFIG_FILE))
    space, truth = get_space("nb201"), load_benchmark().ground_truth()
    archs = [space.parse(line) for line in (HERE / "results" / "subsets" / "dev1000.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    context = run_context(run, seed=DEVELOPMENT_SEED)
    profiles = [LIDSupernet().profile(arch, context) for arch in archs]
    gt = np.array([truth.values[arch] for arch in archs])
    from naslid.bench import kendall_tau_b

    taus = {}
    for name in FEATURES:
        for feature in (name, f"-{name}"):
            taus[feature] = kendall_tau_b(np.array([profile_feature(p, feature) for p in profiles]), gt)
    best = max(taus, key=taus.get)
    record = {"seed": DEVELOPMENT_SEED, "preset": preset, "subset": "dev1000", "taus": taus, "best": best,
              "profiles": {space.format(a): p.tolist() for a, p in zip(archs, profiles, strict=True)}}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    for feature, tau in sorted(taus.items(), key=lambda item: -item[1]):
        print(f"{feature:>16}: tau {tau:+.3f} on dev1000")
    print(f"best: {best}; wrote {out}")
    return record


def _seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        low, dash, high = part.partition("-")
        seeds += list(range(int(low), int(high) + 1)) if dash else [int(low)]
    return seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0-5", help="seeds to run, e.g. 0-5 or 0,2 (default 0-5)")
    parser.add_argument("--preset", default="cpu", help="cpu (default); tiny for a pipeline check")
    parser.add_argument("--data-path", help="CIFAR-10 (default: where naslid finds it)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results lines (JSON lines, appended)")
    parser.add_argument("--work", type=Path, default=Path("runs") / "cpu-study", help="comparison folders (resumable)")
    parser.add_argument("--nice", action="store_true", help="run at the lowest CPU priority (beside the test suite)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--subsets", default=",".join(SUBSETS), help="ranking subsets (default eval1000,top1%%-eval: "
                        "the list files in benchmarks/results/subsets/, disjoint from the development subset)")
    parser.add_argument("--summary", action="store_true", help="print the table from --out and exit")
    parser.add_argument("--develop", action="store_true", help="choose lid-supernet's feature on the development "
                        "subset with a supernet of seed 100, write benchmarks/results/cpu_study_develop.json, exit")
    args = parser.parse_args(argv)
    subsets = tuple(args.subsets.split(","))
    settings = study_settings(args.preset, subsets)
    digest = settings_digest(settings)
    lines = read_lines(args.out)
    if args.summary:
        check_digest(lines, lines[0]["digest"] if lines else digest, args.out)
        print(summary(lines))
        return 0
    check_digest(lines, digest, args.out)
    if args.nice:
        os.nice(19)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.develop:
        develop(args.preset, args.work, args.data_path, DEVELOP_FILE)
        return 0
    done = {line["seed"] for line in lines}
    for seed in _seeds(args.seeds):
        if seed in done:
            print(f"seed {seed}: in {args.out} already, skipped", flush=True)
            continue
        line = {"schema": SCHEMA, "digest": digest, "commit": _commit(),
                **run_seed(seed, args.preset, args.work, args.data_path, subsets)}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as handle:
            handle.write(json.dumps(line, sort_keys=True) + "\n")
        print(f"seed {seed}: {line['minutes']} minutes; appended to {args.out}", flush=True)
    print(summary(read_lines(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
