"""Ablations and controls of NAS-LID at the `cpu` scale, paired by seed against the random-split control.

One `naslid compare` over the study's methods and variants (they share the root training, the split batches
and the leaves' path samplers), ranked on random500 and the top 1% of NAS-Bench-201 (`c10_test_acc_200`),
tracking off. Prints, per method and subset, the mean Kendall tau, the paired difference against the control
with its 95% bootstrap interval over seeds and the seeds better, plus minutes per seed; writes it to JSON.

    python benchmarks/ablation_study.py --seeds 0,1,2,3,4,5 --out benchmarks/results/ablation
    python benchmarks/ablation_study.py --seeds 0 --methods spos,random-split,nas-lid   # a subset, one seed

The comparison folder resumes: rerun the same command after an interruption.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from naslid.bench import packaged_table_path
from naslid.runs.compare import compare_methods
from naslid.runs.presets import get_preset
from naslid.runs.protocols import split_methods

# the study: SPOS and the control; NAS-LID as the paper's text, as released (cosine, max-cross, leaves
# retrained from scratch) and with GM-NAS's edge rule; the gradient criterion; and a deeper schedule (two
# levels, four leaves) for NAS-LID and the control, to see whether a difference grows with depth
STUDY = ("spos,random-split,nas-lid,"
         "nas-lid[similarity=cosine,edge-score=max-cross,finetune=restart],"
         "nas-lid[edge-score=min-cross],gm-nas,"
         "nas-lid[split-epochs=15:25],random-split[split-epochs=15:25]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2,3,4,5", help="comma-separated seeds (default 0-5)")
    parser.add_argument("--methods", default=STUDY, help="methods and variants (default: the study's)")
    parser.add_argument("--control", default="random-split", help="paired against this method (default random-split)")
    parser.add_argument("--data-path", default="../shared/data/cifar10", help="CIFAR-10 (packed npz or folder)")
    parser.add_argument("--subsets", default="random500,top1%", help="ranking subsets")
    parser.add_argument("--out", default="benchmarks/results/ablation", help="comparison folder (resumable)")
    args = parser.parse_args()

    preset = get_preset("cpu")
    config = replace(preset.config, data=replace(preset.config.data, path=str(Path(args.data_path).resolve())))
    seeds = tuple(int(s) for s in args.seeds.split(","))
    plan = replace(preset.plan, methods=split_methods(args.methods), seeds=seeds, control=args.control,
                   ranking_subsets=tuple(args.subsets.split(",")), track_subset=None)
    start = time.perf_counter()
    results = compare_methods(args.out, config, plan, str(packaged_table_path()))
    minutes = (time.perf_counter() - start) / 60
    rows = []
    for method, summary in results["methods"].items():
        for position, ranking in enumerate(summary["ranking"]):
            subset = ranking["subset"]
            paired = (results["paired"]["against_control"].get(method) or {}).get(subset)
            rows.append({"method": method, "subset": subset, "tau_mean": ranking["kendall_tau_b"],
                         "tau_seeds": ranking["kendall_tau_b_seeds"]["values"], "paired": paired,
                         "supernet_epochs": summary["supernet_epochs"], "position": position})
    print(f"seeds {list(seeds)}; control {args.control}; {minutes:.1f} min for this call "
          f"({results['environment']['cpu_threads']} threads)")
    print(f"{'method':<66}{'subset':<11}{'tau':>7}{'minus control':>15}{'95% interval':>20}{'better':>8}")
    for row in rows:
        paired = row["paired"]
        if paired and paired["mean"] is not None:
            low, high = paired["interval"]
            extra = f"{paired['mean']:>+15.3f}{f'[{low:+.3f}, {high:+.3f}]':>20}{paired['better']:>5}/{paired['n']}"
        else:
            extra = f"{'(control)':>15}"
        print(f"{row['method']:<66}{row['subset']:<11}{row['tau_mean']:>7.3f}{extra}")
    out = Path(args.out) / "ablation_study.json"
    out.write_text(json.dumps({"seeds": list(seeds), "control": args.control, "minutes_this_call": minutes,
                               "rows": rows, "environment": results["environment"]}, indent=1) + "\n")
    print(f"wrote {out} (and the full comparison in {args.out}/compare.md)")


if __name__ == "__main__":
    main()
