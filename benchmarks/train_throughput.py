"""Training throughput of the NB201 supernet with naslid's SPOS loop (images per second).

Runs `naslid.train.train_supernet` on resident synthetic CIFAR-sized batches, so data loading is out of
the picture, for a reference recipe (fp32, batch 64) and a tuned one (bf16 autocast + channels_last on
CUDA, batch 256). Prints the device, torch version, images/s, ms per step and the tuned/reference ratio,
and writes them to benchmarks/results/train_throughput.json.

    python benchmarks/train_throughput.py [--device cuda] [--steps 50] [--channels 16 --cells 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from dataclasses import replace
from pathlib import Path

import torch

from naslid.nn import NB201SuperNet
from naslid.spaces import SubSpace
from naslid.train import TrainConfig, train_supernet


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


def measure(recipe: str, batch_size: int, precision: str, channels_last: bool, args, device) -> dict:
    torch.manual_seed(0)
    net = NB201SuperNet(channels=args.channels, cells_per_stage=args.cells).to(device)
    cfg = TrainConfig(epochs=args.repeats + 1, batch_size=batch_size, precision=precision, channels_last=channels_last)
    loader = SyntheticLoader(batch_size, args.steps, device, channels_last)
    state = train_supernet(net, SubSpace(), loader, replace(cfg), until_epoch=1)  # warm-up epoch
    state = train_supernet(net, SubSpace(), loader, cfg, state=state)
    rates = [entry["images_per_second"] for entry in state.history[1:]]
    rate = statistics.median(rates)
    return {"recipe": recipe, "batch_size": batch_size, "precision": precision, "channels_last": channels_last,
            "images_per_second": rate, "ms_per_step": 1000 * batch_size / rate, "repeats": rates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=20, help="steps per timed epoch")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs (median reported)")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cells", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "train_throughput.json"))
    args = parser.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    recipes = [("reference", 64, "fp32", False), ("tuned", 256, "bf16" if cuda else "fp32", cuda)]
    results = [measure(*recipe, args, device) for recipe in recipes]
    name = torch.cuda.get_device_name(device) if cuda else (platform.processor() or "cpu")
    print(f"device: {device} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"supernet C={args.channels} N={args.cells}")
    for result in results:
        print(f"  {result['recipe']:>9}: batch {result['batch_size']:>3} {result['precision']}"
              f"{' channels_last' if result['channels_last'] else ''}: {result['images_per_second']:,.0f} images/s, "
              f"{result['ms_per_step']:.1f} ms/step")
    ratio = results[1]["images_per_second"] / results[0]["images_per_second"]
    print(f"tuned/reference throughput: {ratio:.2f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": str(device), "device_name": name, "torch": torch.__version__,
                               "channels": args.channels, "cells": args.cells, "results": results,
                               "tuned_over_reference": ratio}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
