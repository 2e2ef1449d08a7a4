"""Training throughput of the NB201 supernet with naslid's SPOS loop (images per second).

Runs `naslid.train.train_supernet` on resident synthetic CIFAR-sized batches, so data loading is out of
the picture, in three modes at each batch size:

- reference: fp32, NCHW, one module per op (`step="module"`), the plain PyTorch loop;
- tuned: naslid's defaults: channels_last (on the CPU too), bf16 autocast on CUDA (fp32 elsewhere), still
  one module per op;
- fixed-kernels: the tuned settings with `step="fixed-kernels"`, the path-independent kernel sequence,
  captured once as a CUDA graph and replayed for every path on CUDA (run eagerly on the CPU).

The first epoch of each run is a warm-up (cuDNN autotuning, graph capture) and is not timed; the median
of the timed epochs is reported. Prints the device, torch version, images/s, ms per step and each mode's
ratio to the reference at the same batch size and at batch 64, and writes them to JSON.

    python benchmarks/train_throughput.py [--device cuda] [--batches 64,256] [--modes reference,fixed-kernels]
    python benchmarks/train_throughput.py --quick   # seconds on a CPU: a narrow supernet, a few steps
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path

import torch

from naslid.nn import NB201SuperNet
from naslid.spaces import SubSpace
from naslid.train import TrainConfig, train_supernet

MODES = ("reference", "tuned", "fixed-kernels")


class SyntheticLoader:
    """`steps` batches of fixed random images per epoch, already on the device."""

    def __init__(self, batch_size: int, steps: int, device: torch.device, channels_last: bool) -> None:
        generator = torch.Generator().manual_seed(0)
        self.images = torch.randn(batch_size, 3, 32, 32, generator=generator).to(device)
        if channels_last:
            self.images = self.images.contiguous(memory_format=torch.channels_last)
        self.labels = torch.randint(0, 10, (batch_size,), generator=generator).to(device)
        self.steps = steps

    def __len__(self) -> int:
        return self.steps

    def epoch(self, index: int):
        for _ in range(self.steps):
            yield self.images, self.labels


def mode_settings(mode: str, device: torch.device) -> dict:
    """TrainConfig fields of a mode on `device`."""
    cuda = device.type == "cuda"
    if mode == "reference":
        return {"precision": "fp32", "channels_last": False, "step": "module"}
    tuned = {"precision": "bf16" if cuda else "fp32", "channels_last": True}
    if mode == "tuned":
        return {**tuned, "step": "module"}
    if mode == "fixed-kernels":
        return {**tuned, "step": "fixed-kernels"}
    raise ValueError(f"unknown mode {mode!r}; expected one of {list(MODES)}")


def measure(mode: str, batch_size: int, args: argparse.Namespace, device: torch.device) -> dict:
    """Images/s of one mode: one warm-up epoch, then the median of `args.repeats` timed epochs."""
    settings = mode_settings(mode, device)
    torch.manual_seed(0)
    net = NB201SuperNet(channels=args.channels, cells_per_stage=args.cells).to(device)
    cfg = TrainConfig(epochs=args.repeats + 1, batch_size=batch_size, **settings)
    loader = SyntheticLoader(batch_size, args.steps, device, bool(settings["channels_last"]))
    state = train_supernet(net, SubSpace(None, "nb201"), loader, cfg)
    rates = [entry["images_per_second"] for entry in state.history[1:]]  # epoch 1: warm-up and capture
    rate = statistics.median(rates)
    return {"mode": mode, "batch_size": batch_size, **settings, "cuda_graph": mode == "fixed-kernels" and
            device.type == "cuda", "images_per_second": rate, "ms_per_step": 1000 * batch_size / rate,
            "repeats": rates, "steps_per_epoch": args.steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)}")
    parser.add_argument("--batches", help="comma-separated batch sizes (default 64,256; --quick: 8,16)")
    parser.add_argument("--steps", type=int, default=20, help="steps per timed epoch")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs (median reported)")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cells", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a smoke run: C=4 N=1, 2 steps, 1 timed epoch")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "train_throughput.json"))
    args = parser.parse_args()
    if args.quick:
        args.channels, args.cells, args.steps, args.repeats = 4, 1, 2, 1
    device = torch.device(args.device)
    modes = [mode.strip() for mode in args.modes.split(",")]
    for mode in modes:
        mode_settings(mode, device)  # an unknown mode fails before any measurement
    batches = [int(value) for value in (args.batches or ("8,16" if args.quick else "64,256")).split(",")]
    cuda = device.type == "cuda"
    name = torch.cuda.get_device_name(device) if cuda else (platform.processor() or "cpu")
    print(f"device: {device} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"supernet C={args.channels} N={args.cells}, {args.steps} steps x {args.repeats} timed epochs", flush=True)
    results = []
    for batch_size in batches:
        for mode in modes:
            result = measure(mode, batch_size, args, device)
            results.append(result)
            print(f"  {mode:>13} batch {batch_size:>4} {result['precision']}"
                  f"{' channels_last' if result['channels_last'] else ''}"
                  f"{' cuda-graph' if result['cuda_graph'] else ''}"
                  f": {result['images_per_second']:,.0f} images/s, {result['ms_per_step']:.1f} ms/step", flush=True)
    reference = {r["batch_size"]: r["images_per_second"] for r in results if r["mode"] == "reference"}
    base = reference.get(64)
    for result in results:
        same = reference.get(result["batch_size"])
        result["over_reference_same_batch"] = result["images_per_second"] / same if same else None
        result["over_reference_batch64"] = result["images_per_second"] / base if base else None
        if result["mode"] != "reference" and same:
            print(f"{result['mode']}/reference at batch {result['batch_size']}: "
                  f"{result['over_reference_same_batch']:.2f}x" + (f" ({result['over_reference_batch64']:.2f}x the "
                                                                   "batch-64 reference)" if base else ""))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "train_throughput", "device": str(device), "device_name": name,
                               "torch": torch.__version__, "threads": torch.get_num_threads(),
                               "channels": args.channels, "cells": args.cells, "results": results}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
