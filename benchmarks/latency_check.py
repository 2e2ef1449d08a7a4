"""Predicted (latency table) against measured end-to-end latency of random subnets of the MobileNet spaces.

For each space: build the supernet as a run does (small-input stem below 64 px), build its latency table on
this device (timed; its calibration networks are drawn with the table's own seed, not `--seed`), draw
`--samples` random architectures (seeded), measure each standalone network (`MobileNet(arch_spec(arch))`) end to
end with the same timer and statistic, and report the relative error |predicted - measured| / measured: median
and 90th percentile, calibrated (what `naslid` predicts) and the plain sum of the blocks. Prints the device,
torch version, threads and absolute numbers, and writes them to JSON.

    OMP_NUM_THREADS=1 python benchmarks/latency_check.py
    python benchmarks/latency_check.py --spaces ofa --width-mult 1.0 --resolution 224 --threads 4
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from naslid.nn import MobileNet, build_supernet_for, network_config_class
from naslid.nn.latency import build_latency_table, measure_latency, predict_latency


def check_space(space: str, width_mult: float, resolution: int, num_classes: int, samples: int, seed: int,
                device: torch.device, batch_size: int, warmup: int, repeats: int, statistic: str) -> dict:
    config = network_config_class(space)(width_mult=width_mult, num_classes=num_classes,
                                         small_input=resolution < 64)
    supernet = build_supernet_for(space, config)
    start = time.perf_counter()
    table = build_latency_table(supernet, resolution, device, batch_size=batch_size, warmup=warmup, repeats=repeats,
                                statistic=statistic)
    build_seconds = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(samples):
        arch = supernet.space.sample(rng)
        spec = supernet.arch_spec(arch)
        predicted = predict_latency(table, spec, resolution)
        summed = predict_latency(table, spec, resolution, calibrated=False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            network = MobileNet(spec).to(device)
        measured, spread = measure_latency(network, (spec.in_channels, resolution, resolution), batch_size,
                                           warmup, repeats, device, statistic=statistic)
        rows.append({"arch": supernet.space.format(arch), "predicted_ms": predicted, "measured_ms": measured,
                     "measured_spread_ms": spread, "relative_error": abs(predicted - measured) / measured,
                     "signed_error": (predicted - measured) / measured, "summed_ms": summed,
                     "summed_relative_error": abs(summed - measured) / measured})
    errors = [row["relative_error"] for row in rows]
    summed_errors = [row["summed_relative_error"] for row in rows]
    block_latencies = [entry[statistic + "_ms"] for entry in table["entries"].values() if entry["kind"] == "block"]
    return {
        "space": space, "width_mult": width_mult, "resolution": resolution, "num_classes": num_classes,
        "entries": len(table["entries"]), "table_build_seconds": build_seconds,
        "block_ms_range": [min(block_latencies), max(block_latencies)],
        "median_relative_error": statistics.median(errors),
        "p90_relative_error": float(np.percentile(errors, 90)),
        "median_signed_error": statistics.median(row["signed_error"] for row in rows),
        "median_measured_ms": statistics.median(row["measured_ms"] for row in rows),
        "calibration": table["calibration"],
        "summed_median_relative_error": statistics.median(summed_errors),
        "summed_p90_relative_error": float(np.percentile(summed_errors, 90)),
        "samples": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", default="proxyless,ofa", help="comma-separated (default proxyless,ofa)")
    parser.add_argument("--width-mult", type=float, default=0.35)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--samples", type=int, default=50, help="random subnets per space (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--statistic", choices=["min", "median"], default="min",
                        help="per-entry and end-to-end statistic of the repeats (default min)")
    parser.add_argument("--out", default="benchmarks/results/latency_check.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device {device} ({platform.processor() or platform.machine()}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), batch {args.batch_size}, width {args.width_mult}, "
          f"{args.resolution}px, {args.samples} subnets per space")
    results = []
    for space in args.spaces.split(","):
        result = check_space(space, args.width_mult, args.resolution, args.num_classes, args.samples, args.seed,
                             device, args.batch_size, args.warmup, args.repeats, args.statistic)
        results.append(result)
        print(f"{space}: {result['entries']} entries built in {result['table_build_seconds']:.1f} s (blocks "
              f"{result['block_ms_range'][0]:.3f}-{result['block_ms_range'][1]:.3f} ms); measured median "
              f"{result['median_measured_ms']:.2f} ms; |error| median {100 * result['median_relative_error']:.1f}%, "
              f"90th percentile {100 * result['p90_relative_error']:.1f}% (signed median "
              f"{100 * result['median_signed_error']:+.1f}%); calibration scale {result['calibration']['scale']:.3f} "
              f"from {result['calibration']['networks']} networks; plain sum of blocks: |error| median "
              f"{100 * result['summed_median_relative_error']:.1f}%, 90th percentile "
              f"{100 * result['summed_p90_relative_error']:.1f}%")
    record = {"device": str(device), "device_name": platform.processor() or platform.machine(),
              "torch_version": torch.__version__, "threads": torch.get_num_threads(), "batch_size": args.batch_size,
              "warmup": args.warmup, "repeats": args.repeats, "statistic": args.statistic, "seed": args.seed,
              "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
