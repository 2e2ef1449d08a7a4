"""Time-boxed `naslid compare --preset paper --methods nas-lid,spos`: wall time per phase, epoch cut stated.

The paper schedule (splits at epochs 20/40/60/80, 10 fine-tuning epochs per leaf) is scaled by
`--epoch-fraction` (default 0.1: splits at 2/4/6/8, 1 fine-tuning epoch), everything else is the preset's.
Training data: CIFAR-10 from `--data-path` (or ../shared/data/cifar10 when present), else random images
written as a cifar-10-batches-py folder (timings hold, accuracies and rankings mean nothing). The command
runs with a wall-clock limit of `--seconds`; the JSON records the command, the cut, the exit status, the
elapsed time, each method's phase times (its timings.json, written as phases finish, so a run cut short
still reports what it did), the supernet-epochs each method trained, and compare.json's results when the
run finished. With `--quick` (a CPU smoke run) it uses the tiny preset on random data instead.

    python benchmarks/compare_paper.py [--seconds 220] [--epoch-fraction 0.1] [--data-path PATH] [--runner processes:4]
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from naslid.partition import ScheduleConfig
from naslid.runs.run_directory import COMPARE_FILE, TIMINGS_FILE

PAPER_SPLIT_EPOCHS = (20, 40, 60, 80)
PAPER_FINETUNE_EPOCHS = 10


def write_random_cifar10(folder: Path, train: int, test: int, seed: int = 0) -> Path:
    """A cifar-10-batches-py folder of uniformly random images and labels (for timing only)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, handle)
    sizes = [train // 5] * 5 + [test]
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name, size in zip(names, sizes, strict=True):
        batch = {"data": rng.integers(0, 256, (size, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, size).tolist()}
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle)
    return folder


def scaled_schedule(fraction: float) -> tuple[tuple[int, ...], int]:
    """The paper's split and fine-tuning epochs times `fraction`, at least 1, 2, 3, ... and 1."""
    splits = tuple(max(round(e * fraction), i + 1) for i, e in enumerate(PAPER_SPLIT_EPOCHS))
    return splits, max(round(PAPER_FINETUNE_EPOCHS * fraction), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=220, help="wall-clock limit of the compare command")
    parser.add_argument("--epoch-fraction", type=float, default=0.1, help="scale of the paper's epochs")
    parser.add_argument("--methods", default="nas-lid,spos", help="in the order they run (NAS-LID first, so a "
                        "time limit cuts SPOS rather than NAS-LID)")
    parser.add_argument("--data-path", help="CIFAR-10 (npz or cifar-10-batches-py); default: random images")
    parser.add_argument("--benchmark", help="NB201 ground truth; default ../shared/data/nb201/nb201_merged.csv "
                        "when present")
    parser.add_argument("--train-step", help="module or fixed-kernels (default: fixed-kernels on CUDA)")
    parser.add_argument("--runner", help="job runner of the compare command, e.g. processes:4 (several sub-supernets "
                        "at once on one GPU); default: sequential")
    parser.add_argument("--run-dir", default="compare_paper_run")
    parser.add_argument("--quick", action="store_true", help="CPU smoke run: tiny preset, random data, 1 epoch each")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "compare_paper.json"))
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    run_dir = Path(args.run_dir)
    data_path = args.data_path
    if data_path is None and not args.quick and Path("../shared/data/cifar10").exists():
        data_path = "../shared/data/cifar10"
    random_data = data_path is None
    if random_data:
        train, test = (640, 128) if args.quick else (50_000, 10_000)
        data_path = str(write_random_cifar10(run_dir.parent / f"{run_dir.name}_data" / "cifar-10-batches-py",
                                             train, test))
    benchmark = args.benchmark
    if benchmark is None and not args.quick and Path("../shared/data/nb201/nb201_merged.csv").is_file():
        benchmark = "../shared/data/nb201/nb201_merged.csv"
    step = args.train_step or ("fixed-kernels" if cuda else "module")
    if args.quick:
        splits, finetune = (1, 2), 1
        preset = ["--preset", "tiny", "--dataset", "cifar10", "--train-limit", "640", "--channels", "4",
                  "--batch-size", "32", "--split-batches", "1", "--lid-batch-size", "32", "-k", "5", "--budget", "10",
                  "--calibration-batches", "1", "--device", "cpu"]
    else:
        splits, finetune = scaled_schedule(args.epoch_fraction)
        preset = ["--preset", "paper"]
    command = [sys.executable, "-m", "naslid.cli", "compare", str(run_dir / "compare"), *preset,
               "--methods", args.methods, "--data-path", data_path, "--split-epochs", ",".join(map(str, splits)),
               "--finetune-epochs", str(finetune), "--train-step", step, "--no-progress"]
    if benchmark:
        command += ["--benchmark", benchmark]
    if args.runner:
        command += ["--runner", args.runner]
    print("running:", " ".join(command), flush=True)
    start = time.perf_counter()
    try:
        finished = subprocess.run(command, timeout=args.seconds)
        status = finished.returncode
    except subprocess.TimeoutExpired:
        status = "timeout"
    elapsed = time.perf_counter() - start
    methods = [m.strip() for m in args.methods.split(",")]
    phases = {}
    for method in methods:
        timings = run_dir / "compare" / method / TIMINGS_FILE
        phases[method] = json.loads(timings.read_text()) if timings.is_file() else {}
    kinds = {"spos": "spos", "few-shot": "few-shot"}
    supernet_epochs = {m: ScheduleConfig(method=kinds.get(m, "split"), split_epochs=splits,
                                         finetune_epochs=finetune).supernet_epochs() for m in methods}
    paper_epochs = {m: ScheduleConfig(method=kinds.get(m, "split")).supernet_epochs() for m in methods}
    compare_json = run_dir / "compare" / COMPARE_FILE
    record = {
        "benchmark": "compare_paper",
        "device": "cuda" if cuda else "cpu",
        "device_name": torch.cuda.get_device_name() if cuda else "cpu",
        "torch": torch.__version__,
        "command": command,
        "preset": "tiny (quick smoke run)" if args.quick else "paper",
        "epoch_cut": {"split_epochs": list(splits), "finetune_epochs": finetune,
                      "paper_split_epochs": list(PAPER_SPLIT_EPOCHS), "paper_finetune_epochs": PAPER_FINETUNE_EPOCHS,
                      "fraction": None if args.quick else args.epoch_fraction,
                      "supernet_epochs": supernet_epochs, "paper_supernet_epochs": paper_epochs},
        "data": "random images (timing only)" if random_data else data_path,
        "train_step": step,
        "runner": args.runner or "sequential",
        "time_limit_seconds": args.seconds,
        "exit": status,
        "seconds": elapsed,
        "phase_seconds": phases,
        "compare": json.loads(compare_json.read_text()) if compare_json.is_file() else None,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, default=str))
    print(f"compare ({args.methods}, splits {splits}, fine-tune {finetune}, step {step}): exit {status} after "
          f"{elapsed:.0f} s; phases: {json.dumps(phases)}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
