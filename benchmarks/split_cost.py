"""Cost of one split decision: LID criterion vs gradient (GM-NAS) criterion, memory and time.

For the NB201 supernet (C=16, N=5) and one batch, measures one edge's decision (every op of the edge on
one shared path) for `lid` and `gradient` at inputs 128x3x32x32 and 32x3x224x224. Memory is the extra
peak over the model and batch already in memory: CUDA peak allocation on a GPU; on the CPU, the peak of
live tensor memory, from the allocation and free events of torch's profiler (a separate, untimed run).
Prints absolute numbers and the lid/gradient ratios; writes benchmarks/results/split_cost.json.

    python benchmarks/split_cost.py [--device cuda] [--repeats 3] [--inputs 128x32,32x224]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch


def _measure_once(criterion: str, batch: int, size: int, device_name: str, repeats: int) -> dict:
    from naslid.nn import NB201SuperNet
    from naslid.partition import SplitConfig, edge_similarities
    from naslid.spaces import SubSpace

    device = torch.device(device_name)
    torch.manual_seed(0)
    net = NB201SuperNet().to(device)
    images = torch.randn(batch, 3, size, size, device=device)
    labels = torch.randint(0, 10, (batch,), device=device)
    cfg = SplitConfig(criterion=criterion, batches=1, batch_size=batch, k=min(20, batch - 1), seed=0)
    edge = 5  # the cell output edge 3<-2; every edge costs the same forward work
    run = lambda: edge_similarities(net, SubSpace(None, "nb201"), [(images, labels)], cfg, edges=[edge])  # noqa: E731
    run()  # warm-up (cuDNN autotuning, allocator, lazy initialisation)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) - baseline
    else:
        peak = _cpu_tensor_peak(run)
    return {"criterion": criterion, "input": f"{batch}x3x{size}x{size}", "seconds": statistics.median(times),
            "seconds_all": times, "extra_peak_mib": peak / 2**20,
            "memory_measure": "CUDA peak allocation" if device.type == "cuda" else "peak of live CPU tensor bytes"}


def _cpu_tensor_peak(run) -> int:
    """Peak of live tensor bytes allocated during `run()` (relative to its start), from profiler events."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    live = peak = 0
    for event in events:
        live += event.nbytes()
        peak = max(peak, live)
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--inputs", default="128x32,32x224", help="comma-separated BATCHxSIZE")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "split_cost.json"))
    args = parser.parse_args()
    if args.child:
        criterion, batch, size = args.child.split(":")
        print(json.dumps(_measure_once(criterion, int(batch), int(size), args.device, args.repeats)))
        return
    results = []
    for spec in args.inputs.split(","):
        batch, size = (int(v) for v in spec.split("x"))
        for criterion in ("lid", "gradient"):
            child = [sys.executable, __file__, "--device", args.device, "--repeats", str(args.repeats),
                     "--child", f"{criterion}:{batch}:{size}"]
            output = subprocess.run(child, check=True, capture_output=True, text=True).stdout
            results.append(json.loads(output.strip().splitlines()[-1]))
            print(f"  {criterion:>8} at {results[-1]['input']}: {results[-1]['seconds']:.3f} s, "
                  f"extra peak {results[-1]['extra_peak_mib']:.1f} MiB", flush=True)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")
    print(f"device: {device} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}")
    ratios = {}
    for spec in sorted({r["input"] for r in results}, key=[r["input"] for r in results].index):
        lid = next(r for r in results if r["input"] == spec and r["criterion"] == "lid")
        grad = next(r for r in results if r["input"] == spec and r["criterion"] == "gradient")
        saving = 1 - lid["extra_peak_mib"] / grad["extra_peak_mib"] if grad["extra_peak_mib"] > 0 else float("nan")
        speed = grad["seconds"] / lid["seconds"]
        ratios[spec] = {"memory_saving": saving, "lid_over_gradient_memory": 1 - saving, "speedup": speed}
        print(f"{spec}: lid/gradient peak memory {lid['extra_peak_mib']:.1f}/{grad['extra_peak_mib']:.1f} MiB "
              f"= {1 - saving:.3f}x ({100 * saving:.1f}% less); time {lid['seconds']:.3f}/{grad['seconds']:.3f} s "
              f"({speed:.2f}x faster)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": str(device), "device_name": name, "torch": torch.__version__,
                               "results": results, "ratios": ratios}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
