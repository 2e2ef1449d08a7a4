"""Wall time of one tiny partition run (the `tiny` preset, NAS-LID) with each job runner.

Runs the same configuration with the sequential runner, `processes:N` and Ray (a local instance of N CPUs,
one CPU per job; its start-up is timed apart), each into a fresh run directory, checks that every runner
gives the sequential run's tree and weights, and prints the seconds and the ratios to sequential. On a
machine of few cores the parallel runners mostly pay start-up (worker processes import torch and reopen the
run); the figures are for the overhead, the speed-up needs jobs that are long against that.

    python benchmarks/runner_walltime.py [--workers 2] [--runners sequential,processes,ray] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch


def _max_difference(reference: Path, other: Path, tree) -> float:
    from naslid.train import load_checkpoint

    worst = 0.0
    for node in tree.nodes.values():
        expected = load_checkpoint(reference / node.checkpoint)["model"]
        actual = load_checkpoint(other / node.checkpoint)["model"]
        for name, tensor in expected.items():
            worst = max(worst, (actual[name].double() - tensor.double()).abs().max().item())
    return worst


def _decisions(tree) -> list:
    return [(n.id, n.subspace.allowed, n.split.edge if n.split else None, n.split.groups if n.split else None)
            for n in sorted(tree.nodes.values(), key=lambda n: n.id)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="worker processes / Ray CPUs (default 2)")
    parser.add_argument("--runners", default="sequential,processes,ray", help="which runners to time")
    parser.add_argument("--threads", type=int, help="torch threads of this process (the sequential run and the split "
                        "decisions); 1 matches Ray's one-CPU jobs bit for bit (default: torch's)")
    parser.add_argument("--out", default="benchmarks/results/runner_walltime.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from naslid.partition import ProcessPoolRunner, SequentialRunner
    from naslid.runs.partition import run_partition
    from naslid.runs.presets import get_preset, method_config

    config = method_config(replace(get_preset("tiny").config, device="cpu"), "nas-lid")
    names = args.runners.split(",")
    results: dict[str, dict] = {}
    ray_start = None
    with tempfile.TemporaryDirectory() as folder:
        trees = {}
        for name in names:
            if name == "sequential":
                runner = SequentialRunner()
            elif name == "processes":
                runner = ProcessPoolRunner(args.workers)
            elif name == "ray":
                import ray

                from naslid.partition.ray_runner import RayRunner

                tick = time.perf_counter()
                ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
                ray_start = time.perf_counter() - tick
                runner = RayRunner(cpus_per_job=1)
            else:
                raise SystemExit(f"unknown runner {name!r}; expected sequential, processes or ray")
            run_dir = Path(folder) / name
            tick = time.perf_counter()
            trees[name] = run_partition(run_dir, config, runner=runner)
            results[name] = {"seconds": time.perf_counter() - tick, "leaves": len(trees[name].leaves())}
            print(f"{name:>10}: {results[name]['seconds']:7.1f} s", flush=True)
        if "sequential" in results:
            for name in results:
                results[name]["over_sequential"] = results[name]["seconds"] / results["sequential"]["seconds"]
                results[name]["same_tree"] = _decisions(trees[name]) == _decisions(trees["sequential"])
                results[name]["max_weight_difference"] = _max_difference(Path(folder) / "sequential",
                                                                        Path(folder) / name, trees["sequential"])
    if ray_start is not None:
        import ray

        ray.shutdown()
    record = {
        "benchmark": "runner_walltime", "config": "tiny preset, nas-lid (splits at epochs 2/3, 4 leaves)",
        "device": "cpu", "cpu": platform.processor() or platform.machine(), "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__, "workers": args.workers, "ray_start_seconds": ray_start, "results": results,
    }
    print(f"device cpu ({record['cpu']}, {record['cpu_threads']} threads), torch {torch.__version__}, "
          f"{args.workers} workers")
    for name, result in results.items():
        ratio = result.get("over_sequential")
        print(f"runner_walltime/{name}: {result['seconds']:.1f} s" + (f", {ratio:.2f}x sequential" if ratio else "")
              + (f", same tree: {result['same_tree']}, max weight difference {result['max_weight_difference']:.1e}"
                 if ratio else ""))
    if ray_start is not None:
        print(f"runner_walltime/ray start-up (not included above): {ray_start:.1f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
