"""Training-free rankers on NAS-Bench-201 (32x32 CIFAR-10, C=16, N=5), against the published figures.

Each ranker scores the architectures of a declared subset on one batch of CIFAR-10 training images (seed 0) with
the supernet initialised from seed 0; the scores are cached per ranker under ``--cache`` (resumable: a killed run
keeps what it scored, every 50 architectures), and the report ranks them against ``c10_test_acc_200`` (Kendall tau-b,
Spearman) beside the published values of ``../shared/RANKING-ANCHORS.md``, with the CPU minutes each took.

Subsets (drawn once here, written to the cache folder as lists):
- ``dev1000``: 1,000 of the 15,625 drawn with numpy default_rng(1000): the **development** subset, where the LID
  feature and the aggregates' members were chosen (never reported as a result);
- ``eval1000``: 1,000 of the other 14,625 drawn with default_rng(0): reported;
- ``top1%``: the best 1% by ``c10_test_acc_200`` (158 with ties), reported;
- ``all``: all 15,625 (the rankers that are cheap enough).

    nice python benchmarks/training_free.py --subset eval1000 --rankers naswot,jacob-cov,snip,grad-norm,synflow
    python benchmarks/training_free.py --subset all --rankers params,flops,synflow
    python benchmarks/training_free.py --report            # the table, from the cache alone
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from naslid.bench import kendall_tau_b, load_benchmark, spearman, top_percent
from naslid.data import default_cifar10_path
from naslid.nn import NB201Config
from naslid.rankers import LIDInit, get_ranker, profile_feature
from naslid.runs.datasets import DataConfig
from naslid.runs.rank import fresh_context
from naslid.spaces import get_space

HERE = Path(__file__).parent
DEFAULT_CACHE = HERE / "results" / "training_free"
# Kendall tau-b on all 15,625 against CIFAR-10 test accuracy (VKDNW, CVPR 2025, Table 1) and Spearman
# (zero-cost-nas, notebooks/nasbench201_correlations.ipynb): ../shared/RANKING-ANCHORS.md
PUBLISHED = {
    "flops": {"tau": 0.623, "spearman": 0.799},
    "jacob-cov": {"tau": 0.616, "spearman": 0.800, "spearman_zero_cost": 0.731},
    "naswot": {"tau": 0.571, "spearman": 0.762},
    "synflow": {"tau": 0.561, "spearman": 0.758, "spearman_zero_cost": 0.737},
    "snip": {"tau": 0.431, "spearman": 0.591, "spearman_zero_cost": 0.596},
    "grad-norm": {"tau": 0.328, "spearman": 0.438, "spearman_zero_cost": 0.594},
}
SOURCE = ("tau, Spearman: VKDNW (CVPR 2025) Table 1; Spearman zero-cost: SamsungLabs/zero-cost-nas "
          "notebooks/nasbench201_correlations.ipynb (absolute Spearman, one CIFAR minibatch)")
COLUMN = "c10_test_acc_200"
LID_PROFILE = "lid-profile"  # cached as whole profiles, so that every feature is read from one pass


def subsets(benchmark) -> dict[str, list]:
    space = get_space("nb201")
    everything = list(space.all())
    index = {arch: i for i, arch in enumerate(everything)}
    dev = sorted(np.random.default_rng(1000).choice(len(everything), 1000, replace=False))
    rest = [i for i in range(len(everything)) if i not in set(dev)]
    evaluation = sorted(np.random.default_rng(0).choice(rest, 1000, replace=False))
    truth = benchmark.ground_truth(COLUMN).values
    top = sorted(top_percent(truth, everything, 1.0), key=index.get)
    development = set(dev)
    return {"dev1000": [everything[i] for i in dev], "eval1000": [everything[i] for i in evaluation],
            "top1%": top, "top1%-eval": [arch for arch in top if index[arch] not in development],
            "all": everything, "rest": [everything[i] for i in rest]}


def write_subset_lists(folder: Path = HERE / "results" / "subsets") -> dict[str, Path]:
    """The development and evaluation subsets as `list:FILE` files (one official string per line), for any naslid
    command: `naslid compare ... --subset list:benchmarks/results/subsets/eval1000.txt`."""
    space = get_space("nb201")
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, archs in subsets(load_benchmark()).items():
        if name in ("all", "rest"):
            continue
        path = folder / f"{name.replace('%', 'pct')}.txt"
        header = f"# {name}: {SUBSET_RULES[name]} (benchmarks/training_free.py)\n"
        path.write_text(header + "".join(space.format(arch) + "\n" for arch in archs))
        written[name] = path
    return written


SUBSET_RULES = {
    "dev1000": "1,000 of the 15,625 drawn with numpy default_rng(1000); the development subset",
    "eval1000": "1,000 of the other 14,625 drawn with default_rng(0); disjoint from dev1000",
    "top1%": "the best 1% by c10_test_acc_200 (ties at the cut included)",
    "top1%-eval": "the top 1% without the architectures of dev1000",
}


def _cache_path(cache: Path, spelling: str) -> Path:
    return cache / "scores" / f"{spelling.replace('[', '(').replace(']', ')')}.json.gz"


def load_cache(cache: Path, spelling: str) -> dict:
    path = _cache_path(cache, spelling)
    if not path.is_file():
        return {"ranker": spelling, "scores": {}, "seconds": {}}
    with gzip.open(path, "rt") as handle:
        return json.load(handle)


def save_cache(cache: Path, spelling: str, data: dict) -> None:
    path = _cache_path(cache, spelling)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with gzip.open(temporary, "wt") as handle:
        json.dump(data, handle)
    os.replace(temporary, path)


def score(spellings: list[str], archs: list, cache: Path, data_path: str) -> None:
    space = get_space("nb201")
    data = DataConfig(dataset="cifar10", path=data_path)
    context = fresh_context("nb201", NB201Config(), 32, data, seed=0, device="cpu")
    for spelling in spellings:
        profile = spelling.startswith(LID_PROFILE)
        ranker = LIDInit(**_profile_settings(spelling)) if profile else get_ranker(spelling)
        key = spelling if profile else ranker.spelling
        stored = load_cache(cache, key)
        stored.setdefault("context", context.to_json())
        todo = [arch for arch in archs if space.format(arch) not in stored["scores"]]
        print(f"{key}: {len(archs) - len(todo)} cached, {len(todo)} to score", flush=True)
        for count, arch in enumerate(todo, 1):
            tick = time.perf_counter()
            value = ranker.profile(arch, context).tolist() if profile else ranker.score(arch, context)
            stored["seconds"][space.format(arch)] = time.perf_counter() - tick
            stored["scores"][space.format(arch)] = value
            if count % 50 == 0 or count == len(todo):
                save_cache(cache, key, stored)
                print(f"  {key}: {count}/{len(todo)}", flush=True)


def _profile_settings(spelling: str) -> dict:
    """lid-profile[batch-size=64,k=20] -> LIDInit settings (the feature is applied at report time)."""
    settings = {}
    if "[" in spelling:
        for item in spelling[spelling.index("[") + 1:-1].split(","):
            key, _, value = item.partition("=")
            settings[key.strip().replace("-", "_")] = int(value)
    return settings


def _tau_rows(values: dict, truth: dict, subset: list, space) -> dict:
    keys = [space.format(arch) for arch in subset]
    present = [(values[k], truth[arch]) for k, arch in zip(keys, subset, strict=True) if k in values]
    if len(present) < len(subset):
        return {"n": len(present), "missing": len(subset) - len(present)}
    proxy, gt = np.array([p for p, _ in present]), np.array([g for _, g in present])
    return {"n": len(present), "tau": kendall_tau_b(proxy, gt), "spearman": spearman(proxy, gt)}


def report(cache: Path, out: Path, feature_names: list[str]) -> dict:
    benchmark = load_benchmark()
    truth = benchmark.ground_truth(COLUMN).values
    space = get_space("nb201")
    chosen = subsets(benchmark)
    rows = {}
    for path in sorted((cache / "scores").glob("*.json.gz")):
        with gzip.open(path, "rt") as handle:
            stored = json.load(handle)
        key = stored["ranker"]
        if key.startswith(LID_PROFILE):
            for feature in feature_names:
                values = {arch: profile_feature(profile, feature) for arch, profile in stored["scores"].items()}
                rows[f"{key} {feature}"] = _row(values, stored["seconds"], truth, chosen, space)
        else:
            rows[key] = _row(stored["scores"], stored["seconds"], truth, chosen, space)
    result = {"column": COLUMN, "published": PUBLISHED, "published_source": SOURCE, "rankers": rows,
              "subsets": {name: len(archs) for name, archs in chosen.items()},
              "environment": {"torch": torch.__version__, "machine": platform.processor() or platform.machine(),
                              "threads": torch.get_num_threads()}}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{'ranker':40s} {'subset':>9s} {'n':>6s} {'tau':>7s} {'rho':>7s} {'pub tau':>8s} {'pub rho':>8s} "
          f"{'s/arch':>7s}")
    for name, row in rows.items():
        published = PUBLISHED.get(name, {})
        for subset in ("eval1000", "top1%-eval", "top1%", "all", "dev1000"):
            entry = row.get(subset)
            if not entry or "tau" not in entry:
                continue
            print(f"{name:40s} {subset:>9s} {entry['n']:>6d} {entry['tau']:7.3f} {entry['spearman']:7.3f} "
                  f"{published.get('tau', float('nan')):8.3f} {published.get('spearman', float('nan')):8.3f} "
                  f"{row['seconds_per_arch']:7.3f}")
    print(f"published: {SOURCE}")
    return result


def _row(values: dict, seconds: dict, truth: dict, chosen: dict, space) -> dict:
    row = {name: _tau_rows(values, truth, archs, space) for name, archs in chosen.items()}
    row["seconds_per_arch"] = float(np.mean(list(seconds.values()))) if seconds else float("nan")
    row["scored"] = len(values)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", choices=["dev1000", "eval1000", "top1%", "top1%-eval", "all", "rest"])
    parser.add_argument("--write-lists", action="store_true", help="write the subsets as list files under "
                        "benchmarks/results/subsets/")
    parser.add_argument("--rankers", default="params,flops,synflow,naswot,jacob-cov,snip,grad-norm",
                        help=f"comma-separated ranker spellings; {LID_PROFILE}[batch-size=N,k=K] caches whole LID "
                        "profiles")
    parser.add_argument("--data-path", default=str(default_cifar10_path()))
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--nice", action="store_true", help="run at the lowest CPU priority")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--report", action="store_true", help="print and write the table from the cache")
    parser.add_argument("--features", default="mean,-mean,peak,-peak,first,-first,last,-last,rise,-rise,fall,-fall,"
                        "arch,-arch,slope,-slope", help="LID profile features reported")
    args = parser.parse_args()
    if args.nice:
        os.nice(19)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.write_lists:
        for name, path in write_subset_lists().items():
            print(f"{name}: {path}")
        return
    if args.subset:
        from naslid.rankers.base import split_top_level

        archs = subsets(load_benchmark())[args.subset]
        score(split_top_level(args.rankers), archs, args.cache, args.data_path)
    if args.report or not args.subset:
        report(args.cache, args.cache / "report.json", args.features.split(","))


if __name__ == "__main__":
    main()
