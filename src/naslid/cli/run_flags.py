"""The run commands' flags: the configuration's (one per flagged field), the job runner's, ranking while training.

The configuration flags are declared on the configuration fields (`naslid.options.flag`) and read from their
generated copy, `naslid.cli.run_flags_data`, so that building these parsers imports no torch. A choice that
plug-ins may extend (an edge score, a training step, a method, a preset) offers what they registered.
"""

from __future__ import annotations

import argparse
import sys

from naslid.cli import run_flags_data
from naslid.cli.parsing import SEED
from naslid.options import CliFlag, integer, number

# settings that are not one field's flag but set several (naslid.runs.configure.DERIVED_SETTINGS), by flag
_DERIVED_SETTING_FLAGS = {"search_space": "--space", "network.bn": "--bn", "seed": "--seed", "device": "--device",
                          "network.affine": "--bn", "network.track_running_stats": "--bn"}


def run_options(partition: bool = True) -> list[tuple[str, CliFlag]]:
    """(dotted setting, flag) of every configuration field with a flag (`naslid.runs.configure.run_options()`):
    the generated copy, which imports no torch; the library's own list once a space beyond the built-in ones has
    a supernet, whose network configuration may declare flags of its own. `partition=False` leaves out the split
    and schedule settings."""
    supernets = sys.modules.get("naslid.nn.supernet")
    if supernets is not None and set(supernets.SUPERNETS) - set(run_flags_data.NETWORK_SPACES):
        from naslid.runs.configure import run_options as library_options

        return library_options(partition=partition)
    return [(setting, cli) for setting, cli in run_flags_data.RUN_OPTIONS if partition or not cli.partition]


def setting_flags() -> dict[str, str]:
    """Dotted setting (naslid.runs.configure) -> the flag that sets it, to name it in an error."""
    return {**{setting: cli.name for setting, cli in run_options()}, **_DERIVED_SETTING_FLAGS}


def add_run_flags(parser: argparse.ArgumentParser, schedule: bool = True) -> None:
    """The configuration flags of train, partition and compare (with `schedule`, the split and schedule ones and the
    job runner's too)."""
    group = parser.add_argument_group(
        "configuration (unset flags keep the preset's values: `naslid presets` lists them, --print-config shows the "
        "resolved configuration)")
    group.add_argument("--preset", choices=run_flags_data.PRESETS(), default="tiny",
                       help="starting configuration: tiny (bundled digits, minutes on a CPU; default), cpu (CIFAR-10 "
                       "at 16x16 on 2 CPU cores: a ranking that means something), paper (the paper's text on the "
                       "authors' split schedule with our training, for a GPU) or authors (the NAS-LID authors' "
                       "released NB201 configuration, every value from its source, for a GPU)")
    group.add_argument("--config", dest="config_file", metavar="FILE",
                       help="start from this configuration instead of the preset's: a run's config.json or what "
                       "--print-config wrote (the preset still gives compare's plan); flags apply on top")
    group.add_argument("--print-config", action="store_true",
                       help="print the resolved configuration as JSON (preset, --config and flags applied) and exit "
                       "before any work; save it, edit it, pass it back with --config")
    group.add_argument("--protocol", choices=sorted(run_flags_data.PROTOCOLS()),
                       help="apply a published protocol on top of the preset: nas-lid-release (the NAS-LID authors' "
                       "code), gm-nas (GM-NAS's NB201 code) or few-shot-nas (Few-shot NAS's NB201 code); every value "
                       "and its source file: naslid.runs.protocols")
    group.add_argument("--scale", choices=sorted(run_flags_data.SCALES()),
                       help="run the configuration at a machine's size: cpu (16x16 CIFAR-10, C=8 N=1, the schedule "
                       "shrunk to 35 epochs in proportion), tiny (digits, 4 epochs) or full (as published); with "
                       "compare --protocols own, the size every method's own protocol runs at (default: the "
                       "preset's: tiny, cpu, or full for paper and authors)")
    group.add_argument("--space", metavar="SPACE",
                       help="search space: nb201 (default: the NAS-Bench-201 cell), proxyless (ProxylessNAS's "
                       "MobileNetV2 layers), ofa (OFA's MobileNetV3 with elastic kernel, expansion and depth) or one "
                       "of your own (--import MODULE; `naslid spaces` lists them)")
    group.add_argument("--bn", choices=run_flags_data.BN_CHOICES,
                       help="supernet BatchNorm: tracked (affine, running statistics: NB201, NAS-LID authors) or "
                       "batch-stats (no affine, no running statistics: GM-NAS's NB201 supernet)")
    _add_field_flags(group, partition=schedule)
    if schedule:
        add_runner_flags(parser)
    group.add_argument("--device", help="auto (default: CUDA if present), cpu, cuda, cuda:1")
    group.add_argument("--seed", type=SEED, help="seed of data split, initialisation and sampling")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _add_field_flags(group: argparse._ArgumentGroup, partition: bool) -> None:
    """One flag per configuration field that declares one (naslid.options.flag); its value lands in
    `args.<section.field>`, the setting `naslid.runs.configure` applies."""
    for setting, cli in run_options(partition=partition):
        choices = cli.choice_names()
        metavar = cli.metavar or (None if choices else cli.name.lstrip("-").upper().replace("-", "_"))
        group.add_argument(*cli.flags, dest=setting, type=cli.parse, choices=choices, metavar=metavar, help=cli.help)


def add_runner_flags(parser: argparse.ArgumentParser) -> None:
    """--runner and its Ray settings: where the jobs of a level, the leaves and evaluation shards run."""
    group = parser.add_argument_group("job runner (sub-supernets of a level, leaves, evaluation shards)")
    group.add_argument("--runner", default="sequential",
                       help="sequential (default); processes:N (N worker processes on this machine, e.g. several "
                       "sub-supernets at once on one GPU); ray (Ray tasks over the GPUs of this machine or a cluster; "
                       "pip install 'naslid[ray]')")
    group.add_argument("--ray-address", help="with --runner ray: 'auto' (the cluster started on this machine with "
                       "`ray start`) or HOST:PORT of a cluster's head (default: a local Ray instance)")
    group.add_argument("--gpus-per-job", type=number(0),
                       help="with --runner ray: GPUs per job, e.g. 1, or 0.25 to pack "
                       "four jobs on one GPU (default: 1 when the cluster has GPUs, else 0)")
    group.add_argument("--cpus-per-job", type=number(0), help="with --runner ray: CPUs per job (default 1)")


def add_tracking_flags(parser: argparse.ArgumentParser, with_benchmark: bool = True) -> None:
    """--track-ranking and --track-every (with `with_benchmark`, --benchmark and --column too)."""
    group = parser.add_argument_group("ranking while training")
    if with_benchmark:
        group.add_argument("--benchmark", help="NB201 ground truth to rank against (default: the NB201 table "
                           "shipped with naslid; e.g. nb201_merged.csv)")
        group.add_argument("--column", help="ground-truth column (default: the benchmark's, c10_test_acc_200)")
    group.add_argument("--track-ranking", metavar="SUBSET",
                       help="score this subset of architectures while training (e.g. random100, top1%%) and record "
                       "Kendall tau against --benchmark; compare: 'none' turns off the preset's tracking")
    group.add_argument("--track-every", type=integer(1), help="score after every N epochs (default 1)")
