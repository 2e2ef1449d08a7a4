"""How well a SPOS supernet ranks NB201 architectures on the CPU, per setting and seed, and at what cost.

Each variant is the `cpu` preset with a few settings changed; each (variant, seed) trains one supernet
single-path with the library's own pipeline (`naslid train` underneath), scores a tracked subset every few
epochs (the tau curve), then ranks random1000 and the top 1% against NAS-Bench-201 (`c10_test_acc_200`).
Prints a table (tau mean and spread over seeds, minutes) and writes every number to JSON.

    python benchmarks/ranking_study.py --variants base,long --seeds 0,1,2 --out benchmarks/results/ranking
    python benchmarks/ranking_study.py --set network.channels=16 --set train.batch_size=64 --seeds 0

Runs that share the output folder resume (each (variant, seed) is its own run directory). Use
`--parallel 2` on a 2-core machine: two single-threaded runs train faster together than one two-threaded run.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from naslid.bench import kendall_tau_b, load_benchmark, select_subset, spearman
from naslid.partition import ScheduleConfig
from naslid.runs.config import RunConfig
from naslid.runs.evaluate import RunEvaluator
from naslid.runs.partition import PartitionRun
from naslid.runs.presets import get_preset, method_config
from naslid.runs.tracking import select_tracking, tracking_overhead

# name -> settings changed from the cpu preset ("epochs": SPOS epochs in all)
VARIANTS: dict[str, dict] = {
    "base": {"epochs": 35},
    "long": {"epochs": 60},
    "lr0.1": {"epochs": 35, "train.learning_rate": 0.1},
    "batch64": {"epochs": 35, "train.batch_size": 64, "train.learning_rate": 0.025},
    "batch256": {"epochs": 35, "train.batch_size": 256, "train.learning_rate": 0.1},
    "width16": {"epochs": 35, "network.channels": 16},
    "depth2": {"epochs": 35, "network.cells_per_stage": 2},
    "batch-stats-bn": {"epochs": 35, "network.affine": False, "network.track_running_stats": False},
    "proxy2000": {"epochs": 35, "proxy.evaluation_images": 2000, "proxy.calibration_batches": 4},
    "res32": {"epochs": 35, "data.resolution": None, "data.crop_padding": 4},
}


def configure(settings: dict, seed: int, data_path: str | None) -> RunConfig:
    """The cpu preset with `settings` applied, as a SPOS run of `settings['epochs']` epochs."""
    config = get_preset("cpu").config
    if data_path:
        config = replace(config, data=replace(config.data, path=data_path))
    sections: dict[str, dict] = {}
    for key, value in settings.items():
        if key == "epochs":
            continue
        section, name = key.split(".")
        sections.setdefault(section, {})[name] = value
    for section, values in sections.items():
        config = replace(config, **{section: replace(getattr(config, section), **values)})
    epochs = int(settings.get("epochs", config.schedule.total_epochs))
    config = replace(config, schedule=ScheduleConfig(split_epochs=(epochs,), finetune_epochs=0))
    config = replace(config, seed=seed, train=replace(config.train, seed=seed), device="cpu")
    return method_config(config, "spos")


def run_one(name: str, settings: dict, seed: int, args: argparse.Namespace) -> dict:
    """Train (or resume) one (variant, seed) and rank it; returns the row."""
    benchmark = load_benchmark(args.benchmark)
    truth = benchmark.ground_truth(args.column)
    config = configure(settings, seed, args.data_path)
    tracking = select_tracking(benchmark, args.track, args.every, seed=0, column=args.column)
    run_dir = Path(args.out) / f"{name}-seed{seed}"
    tick = time.perf_counter()
    run = PartitionRun(run_dir, config, tracking=tracking, progress=args.progress)
    run.run()
    train_seconds = time.perf_counter() - tick
    histories = run.node_histories()
    curve = run.ranking_curve(truth.values, histories)
    tick = time.perf_counter()
    evaluator = RunEvaluator(run)
    ranked = {}
    for spec in args.rank.split(","):
        subset = select_subset(spec, truth.values, benchmark.index_of, seed=0)
        scores = [evaluator(arch) for arch in subset.archs]
        values = [truth.values[arch] for arch in subset.archs]
        ranked[spec] = {"kendall_tau_b": kendall_tau_b(scores, values), "spearman": spearman(scores, values),
                        "n": len(subset)}
    overhead = tracking_overhead(histories)
    return {"variant": name, "settings": settings, "seed": seed, "curve": curve, "ranking": ranked,
            "training_minutes": overhead["training_seconds"] / 60, "tracking_minutes": overhead["scoring_seconds"] / 60,
            "wall_minutes_this_call": train_seconds / 60,
            "ranking_minutes": (time.perf_counter() - tick) / 60, "threads": torch.get_num_threads(),
            "config": config.to_dict()}


def _summary(rows: list[dict]) -> str:
    first, *rest = list(rows[0]["ranking"])
    second = rest[0] if rest else first
    lines = [f"| variant | settings | seeds | tau {first} | rho {first} | tau {second} | tau curve (mean) | "
             "train min | rank min |", "|---|---|---|---|---|---|---|---|---|"]
    by_variant: dict[str, list[dict]] = {}
    for row in rows:
        by_variant.setdefault(row["variant"], []).append(row)
    for name, group in by_variant.items():
        def spread(key, subset, group=group):
            values = [r["ranking"][subset][key] for r in group]
            return f"{np.mean(values):.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0:.3f}"
        epochs = sorted({p["epoch"] for r in group for p in r["curve"]})
        means = {e: np.mean([p["kendall_tau_b"] for r in group for p in r["curve"] if p["epoch"] == e]) for e in epochs}
        curve = ", ".join(f"{e}: {tau:.2f}" for e, tau in means.items())
        settings = ", ".join(f"{k}={v}" for k, v in group[0]["settings"].items())
        lines.append(f"| {name} | {settings} | {','.join(str(r['seed']) for r in group)} | "
                     f"{spread('kendall_tau_b', first)} | {spread('spearman', first)} | "
                     f"{spread('kendall_tau_b', second)} | {curve} | "
                     f"{np.mean([r['training_minutes'] for r in group]):.1f} | "
                     f"{np.mean([r['ranking_minutes'] for r in group]):.1f} |")
    return "\n".join(lines)


def _parse_set(items: list[str]) -> dict:
    settings = {}
    for item in items:
        key, _, text = item.partition("=")
        try:
            settings[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            settings[key] = text
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="base", help=f"comma-separated, from {list(VARIANTS)}")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="a custom variant instead (repeatable), e.g. network.channels=16; epochs=N for the length")
    parser.add_argument("--name", default="custom", help="name of the --set variant")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--data-path", default="../shared/data/cifar10", help="CIFAR-10 npz or folder")
    parser.add_argument("--benchmark", default="../shared/data/nb201/nb201_merged.csv")
    parser.add_argument("--column", default="c10_test_acc_200")
    parser.add_argument("--rank", default="random1000,top1%", help="subsets ranked at the end (first: the headline)")
    parser.add_argument("--track", default="random100", help="subset scored while training")
    parser.add_argument("--every", type=int, default=5, help="score it every N epochs")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per run (default: torch's)")
    parser.add_argument("--parallel", type=int, default=1, help="runs at a time, each in its own process")
    parser.add_argument("--out", default="benchmarks/results/ranking")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one "variant:seed" and print its row
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    variants = {args.name: _parse_set(args.set)} if args.set else {v: VARIANTS[v] for v in args.variants.split(",")}
    if args.one:
        name, seed = args.one.rsplit(":", 1)
        print("ROW " + json.dumps(run_one(name, variants[name], int(seed), args)), flush=True)
        return
    jobs = [(name, int(seed)) for name in variants for seed in args.seeds.split(",")]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    pending = list(jobs)
    running: list[subprocess.Popen] = []
    while pending or running:
        while pending and len(running) < args.parallel:
            name, seed = pending.pop(0)
            command = [sys.executable, __file__, "--one", f"{name}:{seed}", *sys.argv[1:]]
            env = dict(os.environ, OMP_NUM_THREADS=str(args.threads or torch.get_num_threads()))
            running.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env))
        done = [p for p in running if p.poll() is not None]
        for process in done:
            running.remove(process)
            output = process.stdout.read()
            row_lines = [line for line in output.splitlines() if line.startswith("ROW ")]
            if process.returncode or not row_lines:
                raise SystemExit(f"a run failed (exit {process.returncode}): {' '.join(process.args)}")
            rows.append(json.loads(row_lines[-1][4:]))
            headline, ranked = next(iter(rows[-1]["ranking"].items()))
            print(f"{rows[-1]['variant']} seed {rows[-1]['seed']}: tau {headline} {ranked['kendall_tau_b']:.3f}",
                  flush=True)
        time.sleep(1)
    table = _summary(sorted(rows, key=lambda r: (list(variants).index(r["variant"]), r["seed"])))
    print(table)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (Path(args.out) / f"study-{stamp}.json").write_text(json.dumps({"rows": rows, "device": "cpu",
                                                                     "torch": torch.__version__}, indent=1))
    (Path(args.out) / f"study-{stamp}.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
