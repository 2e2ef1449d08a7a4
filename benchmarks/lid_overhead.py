"""Cost of the 17 layer LIDs of an NB201 supernet path against the forward pass that produced the features.

For each architecture: the median time of the forward pass (no grad, eval mode), the median time of the 17
LID estimates on that forward's features, their ratio, and the end-to-end `profile_layers` time (forward
with the LID hooks) against the plain forward. Prints device, torch version, absolute times and ratios,
and writes them to JSON.

    python benchmarks/lid_overhead.py                      # CPU, batch 128, k 20
    python benchmarks/lid_overhead.py --device cuda --out lid_overhead_cuda.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from naslid.lid import get_estimator, profile_layers
from naslid.nn import NB201SuperNet
from naslid.spaces import NB201Space, parse_arch

ARCHS = {
    # the heaviest path: every edge a 3x3 conv (DESIGN's "all-conv forward")
    "all_conv_3x3": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    # a typical good NB201 cell (mixed convs and skips)
    "mixed": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    # a light path: pools and skips only (the forward is cheap, so the ratio is high)
    "pool_skip": "|avg_pool_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|skip_connect~0|avg_pool_3x3~1|avg_pool_3x3~2|",
}


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _seconds(work: Callable[[], object], device: torch.device) -> float:
    _synchronize(device)
    start = time.perf_counter()
    work()
    _synchronize(device)
    return time.perf_counter() - start


def measure(net: NB201SuperNet, arch_text: str, inputs: torch.Tensor, estimator_name: str, k: int,
            repeats: int, warmup: int) -> dict:
    """Forward, LID and profile timings of one architecture, interleaved so that load changes hit all three."""
    arch = parse_arch(arch_text)
    device = inputs.device
    estimator = get_estimator(estimator_name, **({} if estimator_name == "twonn" else {"k": k}))
    with torch.no_grad():
        features = [feature.flatten(1) for feature in net.forward_features(inputs, arch)]
    layers = [f"cells.{index}" for index in range(len(features))]

    def forward() -> None:
        with torch.no_grad():
            net(inputs, arch)

    def lids() -> None:
        with torch.no_grad():
            torch.stack([estimator.estimate(feature) for feature in features]).cpu()

    def profile() -> None:
        profile_layers(net, [inputs], layers, estimator, forward=lambda model, x: model(x, arch))

    times: dict[str, list[float]] = {"forward": [], "lid": [], "profile": []}
    for repeat in range(warmup + repeats):
        for name, work in (("forward", forward), ("lid", lids), ("profile", profile)):
            elapsed = _seconds(work, device)
            if repeat >= warmup:
                times[name].append(elapsed)
    median = {name: statistics.median(values) for name, values in times.items()}
    best = {name: min(values) for name, values in times.items()}
    return {
        "arch": arch_text,
        "feature_dims": [feature.shape[1] for feature in features],
        "forward_s": median["forward"],
        "lid_17_layers_s": median["lid"],
        "profile_s": median["profile"],
        "lid_over_forward": median["lid"] / median["forward"],
        "profile_over_forward": median["profile"] / median["forward"],
        "min_forward_s": best["forward"],
        "min_lid_17_layers_s": best["lid"],
        "min_lid_over_forward": best["lid"] / best["forward"],
        "times_s": times,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--estimator", default="mle")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--arch", action="append", choices=sorted(ARCHS), help="default: all of them")
    parser.add_argument("--random-archs", type=int, default=0, help="also time this many seeded random archs")
    parser.add_argument("--out", default="lid_overhead.json")
    args = parser.parse_args()

    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = NB201SuperNet().to(device).eval()
    inputs = torch.randn(args.batch_size, 3, 32, 32, generator=torch.Generator().manual_seed(0)).to(device)
    archs = {name: ARCHS[name] for name in (args.arch or ARCHS)}
    space = NB201Space()
    generator = np.random.default_rng(0)
    for index in range(args.random_archs):
        archs[f"random_{index}"] = str(space.sample(generator))
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"device: {device} ({device_name}), torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"NB201 supernet C=16 N=5, batch {args.batch_size}, estimator {args.estimator}, k {args.k}, "
          f"median of {args.repeats}")
    results = {}
    for name, arch_text in archs.items():
        result = measure(net, arch_text, inputs, args.estimator, args.k, args.repeats, args.warmup)
        results[name] = result
        print(
            f"{name:>14}: forward {result['forward_s'] * 1e3:8.1f} ms,"
            f" 17 LIDs {result['lid_17_layers_s'] * 1e3:7.1f} ms,"
            f" LID/forward {result['lid_over_forward']:.3f}x (from minima {result['min_lid_over_forward']:.3f}x),"
            f" profile/forward {result['profile_over_forward']:.3f}x"
        )
    record = {
        "benchmark": "lid_overhead",
        "device": str(device),
        "device_name": device_name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "estimator": args.estimator,
        "k": args.k,
        "repeats": args.repeats,
        "results": results,
    }
    Path(args.out).write_text(json.dumps(record, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
