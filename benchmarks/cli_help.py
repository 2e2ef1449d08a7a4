"""How long `naslid COMMAND --help` takes, for `naslid --help` and every command (issue 31: under 0.5 s each).

Each help runs as its own process, `python -m naslid COMMAND --help`, as a user types it: interpreter start-up,
imports and the parser included. Prints the median of `--repeats` runs per command (after one untimed warm-up that
fills the file cache), the machine's load average, the Python version, and writes them to JSON.

    python benchmarks/cli_help.py                      # every command, 5 repeats
    python benchmarks/cli_help.py --repeats 3 --out benchmarks/results/cli_help.json

A busy machine reads slower: the load average beside the numbers says how busy it was.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_SECONDS = 0.5


def commands() -> list[str]:
    """Every command `naslid --help` lists, read from its output (no naslid import in this process)."""
    done = subprocess.run([sys.executable, "-m", "naslid", "--help"], capture_output=True, text=True, check=True)
    return re.findall(r"^ {4}(\S+)(?: {2,}|$)", done.stdout.split("COMMAND\n", 2)[-1], flags=re.MULTILINE)


def time_help(argv: list[str], repeats: int) -> list[float]:
    """Seconds of `repeats` runs of `python -m naslid ARGV --help` (after one untimed run)."""
    command = [sys.executable, "-m", "naslid", *argv, "--help"]
    subprocess.run(command, capture_output=True, check=True)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per command (default 5)")
    parser.add_argument("--commands", help="comma-separated commands to time (default: every one)")
    parser.add_argument("--out", default="benchmarks/results/cli_help.json", help="JSON to write")
    args = parser.parse_args()

    names = args.commands.split(",") if args.commands else commands()
    load = os.getloadavg()
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; median of {args.repeats} runs")
    rows = []
    for name in ["", *names]:
        seconds = time_help([name] if name else [], args.repeats)
        median = statistics.median(seconds)
        rows.append({"command": name or "(none)", "median_s": round(median, 4),
                     "runs_s": [round(second, 4) for second in seconds]})
        verdict = "ok" if median < TARGET_SECONDS else f"over {TARGET_SECONDS} s"
        print(f"  naslid {name + ' ' if name else ''}--help: {median:.3f} s  ({verdict})")
    slowest = max(rows, key=lambda row: row["median_s"])
    print(f"slowest: naslid {slowest['command']} --help, {slowest['median_s']:.3f} s")
    record = {"python": platform.python_version(), "cores": os.cpu_count(), "load_average": load,
              "repeats": args.repeats, "target_s": TARGET_SECONDS, "results": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
