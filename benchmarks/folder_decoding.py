"""Images per second a `StreamingLoader` decodes from an ImageNet-layout folder, per number of workers.

Without --data-path it writes a folder of ImageNet-sized JPEGs (about 400 x 350) to a temporary directory.

    python benchmarks/folder_decoding.py --workers 0,2 --resolution 64
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from naslid.data import FolderAugment, StreamingLoader, load_image_folder


def write_folder(root: Path, classes: int, per_class: int, seed: int = 0) -> Path:
    """Smooth random JPEGs of ImageNet's typical sizes in ROOT/train/CLASS and ROOT/val/CLASS."""
    rng = np.random.default_rng(seed)
    for part, count in (("train", per_class), ("val", 1)):
        for label in range(classes):
            folder = root / part / f"n{label:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                width, height = int(rng.integers(300, 500)), int(rng.integers(250, 450))
                small = (rng.random((height // 16, width // 16, 3)) * 255).astype(np.uint8)
                image = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
                image.save(folder / f"{index:05d}.JPEG", quality=90)
    return root


def measure(root: Path, resolution: int, workers: int, batch_size: int, repeats: int) -> dict:
    train, _ = load_image_folder(root, resolution)
    loader = StreamingLoader(train, batch_size, augment=FolderAugment(), workers=workers, drop_last=False)
    times = []
    for epoch in range(repeats + 1):  # epoch 0 warms the page cache and is not counted
        start = time.perf_counter()
        images = sum(len(batch) for batch, _ in loader.epoch(epoch))
        if epoch:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {"workers": workers, "images": images, "seconds": seconds, "images_per_second": images / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-path", help="ImageNet-layout folder (default: a generated one)")
    parser.add_argument("--images", type=int, default=512, help="generated training images (default 512)")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", default="0,2", help="comma-separated worker counts (default 0,2)")
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs per worker count (median)")
    parser.add_argument("--out", default="folder_decoding.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(args.data_path) if args.data_path else write_folder(Path(temporary), 8, args.images // 8)
        results = [measure(root, args.resolution, int(w), args.batch_size, args.repeats)
                   for w in args.workers.split(",")]
    base = results[0]["images_per_second"]
    print(f"device: cpu, torch {torch.__version__}, {results[0]['images']} images at {args.resolution}px")
    for result in results:
        print(f"  workers {result['workers']}: {result['images_per_second']:.0f} images/s "
              f"({result['images_per_second'] / base:.2f}x)")
    record = {"torch": torch.__version__, "resolution": args.resolution, "batch_size": args.batch_size,
              "data_path": args.data_path, "results": results}
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
