"""`naslid` command line: thin subcommands over the library.

Each subcommand parses its flags (unset flags are None, so the library's defaults stand), calls one
library function, and prints a short summary with the path it wrote. A user error prints one line and
exits with status 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from naslid.options import integer, number, whole_numbers

# Each entry: (name, help, add_arguments(parser), run(args) -> exit code).
Command = tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


_SEED = integer(0)


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block): `naslid train: error: --seed -1: ...`."""

    def error(self, message: str) -> NoReturn:
        # "argument -k/--k: 0: expected ..." from a range type reads "--k 0: expected ..."
        match = re.fullmatch(r"argument (?:\S+/)?(\S+): (\S*: expected .*)", message, flags=re.DOTALL)
        if match:
            message = f"{match[1]} {match[2]}"
        self.exit(2, f"{self.prog}: error: {_shortened(' '.join(message.split()))}\n")


def _overrides(args: argparse.Namespace, names: Sequence[str]) -> dict:
    """The flags among `names` that the user set (not None), for overriding a config's defaults."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


# --- commands (each block adds its functions; register it in COMMANDS below) ---


def _add_score_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "predictions", help="predictions file: arch -> value, JSON or CSV (official strings or node tuples)"
    )
    parser.add_argument(
        "--benchmark",
        help="ground truth: CSV table (nb201_merged.csv), arch -> value JSON, or official NB201/NATS files "
        "(default: the NB201 table shipped with naslid)",
    )
    parser.add_argument(
        "--column", help="ground-truth column (default: c10_test_acc_200, seed mean at 200 epochs)"
    )
    parser.add_argument(
        "--subset",
        action="append",
        help="subset to rank on, repeatable: all, unique, top1%%, top5%%, random1000, list:FILE "
        "(default: all, top1%%)",
    )
    parser.add_argument("--seed", type=_SEED, help="seed for random<N> subsets (default: 0)")
    parser.add_argument(
        "--top-k", type=integer(1), action="append", dest="top_k", help="k for precision@k and tau@top-k, repeatable"
    )
    parser.add_argument("--prediction-column", help="value column of a CSV predictions file with several")
    parser.add_argument(
        "--api",
        choices=("auto", "nas-bench-201", "nats-bench"),
        default="auto",
        help="API for official benchmark files (default: by file type)",
    )
    parser.add_argument("--out", help="write the scores as naslid.scores/1 JSON to this path")


def _format_score(value: float | None, width: int) -> str:
    if value is None or value != value:  # missing or NaN
        return "-".rjust(width)
    return f"{value:{width}.4f}"


def _run_score(args: argparse.Namespace) -> int:
    from naslid.bench import load_benchmark, read_predictions, score_predictions, write_scores
    from naslid.bench.scoring import DEFAULT_KS, RANKING_METRICS

    _check_output(args.out)
    predictions = read_predictions(args.predictions, args.prediction_column)
    try:
        benchmark = load_benchmark(args.benchmark, api=args.api)
        report = score_predictions(
            predictions.values,
            benchmark,
            column=args.column,
            subsets=args.subset or ("all", "top1%"),
            ks=tuple(args.top_k or DEFAULT_KS),
            proxy_description=predictions.describe(),
            proxy_protocol=predictions.protocol,
            **_overrides(args, ["seed"]),
        )
    except ImportError as error:
        raise ValueError(str(error)) from error
    ks = report.protocol["ks"]
    print(f"scored {args.predictions}: {len(predictions)} predictions against {benchmark.source}")
    print(f"ground truth: {report.results[0].column}")
    # one column per registered metric, one per k for a per-k metric: (title, metric, k)
    columns = [(metric.title(k), metric, k) for metric in RANKING_METRICS.values()
               for k in (ks if metric.per_k else [None])]
    widths = [metric.width or max(len(title) + 2, 8) for title, metric, _ in columns]
    titles = "".join(f"{title:>{width}}" for (title, _, _), width in zip(columns, widths, strict=True))
    print(f"{'subset':<14}{'n':>7}{titles}")
    for result in report.results:
        values = [result.metrics.get(metric.name, {}).get(k) if metric.per_k else result.metrics.get(metric.name)
                  for _, metric, k in columns]
        line = f"{result.subset:<14}{result.n:>7}" + "".join(_format_score(value, width)
                                                              for value, width in zip(values, widths, strict=True))
        print(line + (f"  ({result.note})" if result.note else ""))
    if args.out:
        print(f"wrote {write_scores(report, args.out)}")
    return 0


def _check_output(path: str | None) -> None:
    """An output path that cannot be written fails before any work, not after the results are printed."""
    from naslid.atomic import check_target

    if path is not None:
        try:
            check_target(path)
        except ValueError as error:
            raise ValueError(f"--out {error}") from None


def _add_profile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", action="append", required=True, metavar="SPEC",
        help="model to profile, repeat to overlay several: 'nb201:<arch string>', 'torchvision:<name>', "
        "'path/to/file.py:factory' or 'package.module:factory'",
    )
    parser.add_argument(
        "--checkpoint", action="append", metavar="FILE",
        help="weights (torch pickle: only files you trust); once for all models or once per --model; for nb201 "
        "a supernet checkpoint from naslid train (default: fresh seeded initialisation)",
    )
    parser.add_argument(
        "--dataset", "--data", dest="data",
        help="inputs: gaussian (default), digits (bundled), cifar10 or imagefolder (need --data-path; imagefolder: "
        "centre crops of 32 pixels), or a .pt/.npy file (integer token ids are fed as they are)"
    )
    parser.add_argument("--data-path", help="CIFAR-10: the packed npz or a cifar-10-batches-py folder; imagefolder: "
                        "ROOT with train/CLASS/*.jpg")
    parser.add_argument("--lid-batch-size", "--batch-size", dest="batch_size", type=integer(1),
                        help="n of each LID estimate: samples per batch (default 128, as NAS-LID)")
    parser.add_argument("--num-batches", type=integer(1), help="batches to average over (default 4)")
    parser.add_argument("--estimator", help="LID estimator: mle (default), mackay_ghahramani or twonn")
    parser.add_argument("-k", "--k", type=integer(1), help="neighbours per point (default 20, as NAS-LID)")
    parser.add_argument("--mode", choices=["eval", "train", "keep"], help="module mode while measuring (default eval)")
    parser.add_argument(
        "--layer", action="append", dest="layers", metavar="NAME",
        help="module name to profile, repeatable (default: NB201's 17 layers, else the blocks, one per layer of "
        "containers and encoder-like stacks)",
    )
    parser.add_argument(
        "--sample-axis", type=int, metavar="AXIS",
        help="axis of the layer outputs that holds the samples, e.g. 1 for sequence-first (batch_first=False) "
        "outputs (default: the axis whose length is the batch size)",
    )
    parser.add_argument("--num-classes", type=integer(1), help="classes of freshly built models (default 10)")
    parser.add_argument("--seed", type=_SEED, help="seed of fresh initialisations and of the data draw (default 0)")
    parser.add_argument("--device", help="cpu (default), cuda, cuda:1 or auto")
    parser.add_argument("--out", default="lid_profile.json", help="JSON output (default lid_profile.json)")
    parser.add_argument("--plot", help="PNG output (default: --out with .png)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars (shown only on a terminal)")
    parser.add_argument("--progress", action="store_true", help=argparse.SUPPRESS)  # the old spelling: bars on a tty


def _run_profile(args: argparse.Namespace) -> int:
    from naslid.runs.profile import ProfileConfig, run_profile

    names = ["data", "data_path", "batch_size", "num_batches", "estimator", "k", "mode", "layers", "num_classes",
             "seed", "device", "sample_axis"]
    cfg = ProfileConfig(models=args.model, checkpoints=args.checkpoint or [], **_overrides(args, names))
    profiles, json_path, plot_path = run_profile(cfg, args.out, args.plot, progress=_bars(args))
    first = profiles[0]
    shared = [note for note in first.notes if all(note in profile.notes for profile in profiles)]
    print(f"profiled {len(profiles)} models: {first.estimator}, n={first.n}, k={first.k}, {first.num_batches} batches")
    for profile in profiles:
        peak = max(range(len(profile.mean)), key=profile.mean.__getitem__)
        print(f"  {profile.label}: {len(profile.layers)} layers, LID {profile.mean[0]:.1f} -> {profile.mean[-1]:.1f}, "
              f"peak {profile.mean[peak]:.1f} at depth {profile.depth[peak]:.2f}")
        print("".join(f"    note: {note}\n" for note in profile.notes if note not in shared), end="")
    print("".join(f"  note: {note}\n" for note in shared), end="")
    print(f"wrote {json_path} and {plot_path}")
    return 0


# --- run commands: train, partition, finetune, search, compare, demo ---

# settings that are not one field's flag but set several (naslid.runs.configure.DERIVED_SETTINGS), by flag
_DERIVED_SETTING_FLAGS = {"search_space": "--space", "network.bn": "--bn", "seed": "--seed", "device": "--device",
                          "network.affine": "--bn", "network.track_running_stats": "--bn"}


def _setting_flags() -> dict[str, str]:
    """Dotted setting (naslid.runs.configure) -> the flag that sets it, to name it in an error."""
    from naslid.runs.configure import run_options

    return {**{setting: cli.name for setting, cli in run_options()}, **_DERIVED_SETTING_FLAGS}


def _add_run_flags(parser: argparse.ArgumentParser, schedule: bool = True) -> None:
    group = parser.add_argument_group(
        "configuration (unset flags keep the preset's values: `naslid presets` lists them, --print-config shows the "
        "resolved configuration)")
    from naslid.runs.configure import BN_CHOICES
    from naslid.runs.presets import PRESETS
    from naslid.runs.protocols import PROTOCOLS, SCALES

    group.add_argument("--preset", choices=list(PRESETS), default="tiny",
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
    group.add_argument("--protocol", choices=sorted(PROTOCOLS),
                       help="apply a published protocol on top of the preset: nas-lid-release (the NAS-LID authors' "
                       "code), gm-nas (GM-NAS's NB201 code) or few-shot-nas (Few-shot NAS's NB201 code); every value "
                       "and its source file: naslid.runs.protocols")
    group.add_argument("--scale", choices=sorted(SCALES),
                       help="run the configuration at a machine's size: cpu (16x16 CIFAR-10, C=8 N=1, the schedule "
                       "shrunk to 35 epochs in proportion), tiny (digits, 4 epochs) or full (as published); with "
                       "compare --protocols own, the size every method's own protocol runs at (default: the "
                       "preset's: tiny, cpu, or full for paper and authors)")
    group.add_argument("--space", metavar="SPACE",
                       help="search space: nb201 (default: the NAS-Bench-201 cell), proxyless (ProxylessNAS's "
                       "MobileNetV2 layers), ofa (OFA's MobileNetV3 with elastic kernel, expansion and depth) or one "
                       "of your own (--import MODULE; `naslid spaces` lists them)")
    group.add_argument("--bn", choices=BN_CHOICES,
                       help="supernet BatchNorm: tracked (affine, running statistics: NB201, NAS-LID authors) or "
                       "batch-stats (no affine, no running statistics: GM-NAS's NB201 supernet)")
    _add_field_flags(group, partition=schedule)
    if schedule:
        _add_runner_flags(parser)
    group.add_argument("--device", help="auto (default: CUDA if present), cpu, cuda, cuda:1")
    group.add_argument("--seed", type=_SEED, help="seed of data split, initialisation and sampling")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _add_field_flags(group: argparse._ArgumentGroup, partition: bool) -> None:
    """One flag per configuration field that declares one (naslid.options.flag); its value lands in
    `args.<section.field>`, the setting `naslid.runs.configure` applies."""
    from naslid.runs.configure import run_options

    for setting, cli in run_options(partition=partition):
        choices = cli.choice_names()
        metavar = cli.metavar or (None if choices else cli.name.lstrip("-").upper().replace("-", "_"))
        group.add_argument(*cli.flags, dest=setting, type=cli.parse, choices=choices, metavar=metavar, help=cli.help)


def _add_runner_flags(parser: argparse.ArgumentParser) -> None:
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


def _runner(args: argparse.Namespace):
    """The job runner the flags ask for."""
    from naslid.partition import get_runner

    return get_runner(args.runner, address=args.ray_address, gpus_per_job=args.gpus_per_job,
                      cpus_per_job=args.cpus_per_job)


def _run_config(args: argparse.Namespace):
    """The preset's RunConfig with the flags the user set applied on top (naslid.runs.configure); a bad value
    names its flag."""
    from naslid.runs.presets import get_preset
    from naslid.runs.protocols import get_protocol, get_scale

    preset = get_preset(args.preset)
    config = preset.config
    if getattr(args, "config_file", None):
        from naslid.runs.config import RunConfig

        config = RunConfig.from_dict(_config_document(args.config_file))
    if getattr(args, "protocol", None):
        config = get_protocol(args.protocol).apply(config)
    if getattr(args, "scale", None):
        config = get_scale(args.scale).apply(config)
    from naslid.runs.configure import SettingError, configure, dataset_settings

    settings = {dest: value for dest, value in vars(args).items() if "." in dest and value is not None}
    for dest, name in (("space", "search_space"), ("bn", "network.bn"), ("device", "device"), ("seed", "seed")):
        if getattr(args, dest, None) is not None:
            settings[name] = getattr(args, dest)
    if getattr(args, "rank_device", None) is not None:  # torchrun: this rank's device
        settings["device"] = str(args.rank_device)
    implied = dataset_settings(getattr(args, "data.dataset", None), getattr(args, "data.path", None),
                               tiny_network=args.preset == "tiny")
    try:
        config = configure(config, settings, implied=implied)
    except SettingError as error:
        flag = _setting_flags().get(error.setting)
        if flag is not None and "does not apply" in str(error):
            message = f"{flag} does not apply to the {config.search_space} space"
        elif flag is not None:
            message = f"{flag} {settings.get(error.setting)}: {error}"
        else:
            message = str(error)
        raise ValueError(f"{message} (preset {args.preset!r})") from None
    except ValueError as error:
        raise ValueError(f"{error} (preset {args.preset!r})") from None
    plan = preset.plan
    if getattr(args, "scale", None):
        from dataclasses import replace as replaced

        plan = replaced(plan, scale=args.scale)
    return config, plan


def _config_document(path: str) -> dict:
    """The run configuration in `path`: a config.json, or the "config" part of what --print-config writes."""
    from naslid.reading import read_json

    try:
        document = read_json(path, what="--config")
    except FileNotFoundError:
        raise ValueError(f"--config {path}: no such file") from None
    if isinstance(document, dict) and "config" in document and "schema" not in document:
        document = document["config"]
    return document


def _print_config(args: argparse.Namespace) -> int:
    """--print-config: the configuration the command would run (built and checked as the command builds and checks
    it: the method, the epochs, every compared variant), as JSON on stdout; nothing is written."""
    import json

    plan = None
    if args.command == "compare":
        config, plan = _compare_setup(args)
    else:
        config = {"train": _train_config, "partition": _partition_config}[args.command](args)
    document = {"preset": args.preset, "config": config.to_dict()}
    if args.config_file:
        document["config_file"] = args.config_file
    if plan is not None:
        document["compare_plan"] = plan.to_dict()
    print(json.dumps(document, indent=1))
    return 0


def _add_tracking_flags(parser: argparse.ArgumentParser, with_benchmark: bool = True) -> None:
    group = parser.add_argument_group("ranking while training")
    if with_benchmark:
        group.add_argument("--benchmark", help="NB201 ground truth to rank against (default: the NB201 table "
                           "shipped with naslid; e.g. nb201_merged.csv)")
        group.add_argument("--column", help="ground-truth column (default: the benchmark's, c10_test_acc_200)")
    group.add_argument("--track-ranking", metavar="SUBSET",
                       help="score this subset of architectures while training (e.g. random100, top1%%) and record "
                       "Kendall tau against --benchmark; compare: 'none' turns off the preset's tracking")
    group.add_argument("--track-every", type=integer(1), help="score after every N epochs (default 1)")


def _tracking_for(args: argparse.Namespace, config):
    """The Tracking the flags ask for, or None."""
    seed = config.seed
    if not args.track_ranking:
        if args.track_every is not None:
            raise ValueError("--track-every needs --track-ranking SUBSET")
        return None
    if config.search_space != "nb201":
        raise ValueError(f"--track-ranking ranks NB201 architectures against NB201 ground truth; the "
                         f"{config.search_space} space has none")
    benchmark = _benchmark_path(args.benchmark)
    if benchmark is None:
        raise ValueError("--track-ranking needs ground truth: leave --benchmark unset or name a table")
    from naslid.bench import load_benchmark
    from naslid.runs.tracking import select_tracking

    return select_tracking(load_benchmark(benchmark), args.track_ranking, args.track_every or 1, seed, args.column)


def _print_curve(run, args: argparse.Namespace) -> None:
    benchmark = _benchmark_path(args.benchmark)
    if run.tracking is None or benchmark is None:
        return
    from naslid.bench import load_benchmark

    truth = load_benchmark(benchmark).ground_truth(args.column)
    curve = run.ranking_curve(truth.values)
    run.write_ranking_curve(curve)
    if curve:
        points = ", ".join(f"{p['epoch']}: {p['kendall_tau_b']:.3f}" for p in curve)
        print(f"Kendall tau while training ({run.tracking.subset}, epoch: tau): {points}")


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run directory (created, or resumed if it holds the same run)")
    parser.add_argument("--epochs", type=integer(1), help="training epochs (default: the preset's whole schedule)")
    parser.add_argument("--subspace", help="JSON file of a sub-space (naslid.subspace/1) to train on")
    _add_run_flags(parser, schedule=False)
    _add_tracking_flags(parser)


def _run_train(args: argparse.Namespace) -> int:
    from naslid.runs.partition import PartitionRun

    config = _train_config(args)
    run = PartitionRun(args.run_dir, config, progress=_bars(args), tracking=_tracking_for(args, config))
    tree = run.run()
    root = tree.root
    history = _history(args.run_dir, root.checkpoint)
    print(f"trained a supernet on {root.subspace.size()} architectures for {root.trained_epochs} epochs "
          f"({config.data.dataset}); last epoch: loss {history['loss']:.3f}, "
          f"accuracy {100 * history['accuracy']:.1f}%, "
          f"{history['images_per_second']:.0f} images/s")
    print(f"checkpoint: {args.run_dir}/{root.checkpoint}")
    _print_curve(run, args)
    return 0


def _train_config(args: argparse.Namespace):
    """What `naslid train` runs: the configuration, single-path for --epochs (default: the schedule's), on the
    --subspace when given."""
    from dataclasses import replace

    from naslid.spaces import SubSpace

    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs {args.epochs}: expected an integer >= 1 (unset: the preset's whole schedule)")
    config, _ = _run_config(args)
    epochs = config.schedule.total_epochs if args.epochs is None else args.epochs
    schedule = replace(config.schedule, method="spos", split_epochs=(epochs,), finetune_epochs=0)
    config = replace(config, schedule=schedule)
    if args.subspace:
        from naslid.reading import read_json

        document = read_json(args.subspace, what="--subspace")
        try:
            subspace = SubSpace.from_json(document)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"--subspace {args.subspace} is not a naslid.subspace/1 JSON file ({error})") from None
        config = replace(config, space=[list(ops) for ops in subspace.allowed])
    return config


def _history(run_dir: str, checkpoint: str) -> dict:
    from naslid.train import load_checkpoint

    return load_checkpoint(f"{run_dir}/{checkpoint}")["history"][-1]


def _add_partition_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run directory (created, or resumed if it holds the same run)")
    from naslid.runs.protocols import METHODS

    parser.add_argument("--method", choices=list(METHODS),
                        help="split method: nas-lid (LID criterion; the default, except with --config, whose own "
                        "method stands), gm-nas (gradient), few-shot (one child per op), spos (no split), random-split "
                        "(control)")
    parser.add_argument("--no-finetune", action="store_true", help="stop after the last split; run `naslid finetune`")
    _add_run_flags(parser)
    _add_tracking_flags(parser)


def _run_partition(args: argparse.Namespace) -> int:
    from naslid.runs.partition import PartitionRun

    config = _partition_config(args)
    run = PartitionRun(args.run_dir, config, progress=_bars(args), runner=_runner(args),
                       tracking=_tracking_for(args, config))
    _print_tree(run.run(finetune=not args.no_finetune), args.run_dir)
    _print_curve(run, args)
    return 0


def _partition_config(args: argparse.Namespace):
    """What `naslid partition` runs: the configuration set up for --method; with --config and no --method, the
    file's own method (a run's config.json reproduces that run)."""
    from naslid.runs.protocols import method_config

    config, _ = _run_config(args)
    method = args.method or (None if args.config_file else "nas-lid")
    return config if method is None else method_config(config, method)


def _print_tree(tree, run_dir) -> None:
    for node in sorted(tree.nodes.values(), key=lambda n: n.id):
        split = node.split
        what = (f"split on {split.point_name} into {split.groups} ({split.criterion}, {split.seconds:.2f} s)"
                if split else ("leaf, fine-tuned" if node.finetuned else "leaf"))
        print(f"{'  ' * node.depth}node {node.id}: {node.subspace.size()} archs, {node.trained_epochs} epochs, {what}")
    print(f"partition tree: {run_dir}/partition_tree.json")


def _add_finetune_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory made by `naslid partition`")
    _add_runner_flags(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _run_finetune(args: argparse.Namespace) -> int:
    from pathlib import Path

    from naslid.runs.config import RunConfig
    from naslid.runs.partition import CONFIG_FILE, PartitionRun

    config = RunConfig.load(_existing(Path(args.run_dir) / CONFIG_FILE))
    tree = PartitionRun(args.run_dir, config, progress=_bars(args), runner=_runner(args)).run()
    _print_tree(tree, args.run_dir)
    return 0


def _existing(path):
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {path.parent} a naslid run directory?")
    return path


def _add_search_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a finished run directory (naslid partition or train); with a training-free "
                        "--objective, any folder to write the result in")
    parser.add_argument("--algorithm", choices=["evolution", "random"], default="evolution")
    parser.add_argument("--objective", help="what the search maximises: proxy (default: each architecture's "
                        "accuracy with its leaf's weights; needs a run) or any ranker (naslid rank --help), e.g. "
                        "naswot or agg[params,naswot]; a training-free one needs no run (the flags below say the "
                        "network and images)")
    parser.add_argument("--budget", type=integer(1),
                        help="architectures to evaluate (default: the run's search config)")
    parser.add_argument("--seed", type=_SEED, help="search seed (default: the run's)")
    parser.add_argument("--max-mflops", type=number(0, above=True),
                        help="only architectures with at most this many million "
                        "multiply-accumulates at the run's input resolution (default: the run's search config)")
    parser.add_argument("--max-params", type=number(0, above=True), dest="max_params_m",
                        help="only architectures with at most this many million parameters")
    parser.add_argument("--max-latency-ms", type=number(0, above=True), help="only architectures whose latency, as "
                        "--latency-table predicts it, is at most this many milliseconds")
    parser.add_argument("--latency-table", help="latency table JSON (`naslid latency-table`) built for the run's "
                        "network and input resolution: predicts each architecture's latency (reported alone)")
    parser.add_argument("--benchmark", help="ground-truth table to look the best architecture up in (default: the "
                        "NB201 table shipped with naslid; 'none' to skip)")
    parser.add_argument("--out", help="search result JSON (default RUN_DIR/search_<algorithm>.json)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _add_runner_flags(parser)
    _add_context_flags(parser.add_argument_group("a training-free --objective without a run: the network and images"))


def _run_search(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from naslid.bench import load_benchmark
    from naslid.rankers import get_ranker
    from naslid.runs import rank
    from naslid.runs.config import RunConfig
    from naslid.runs.partition import CONFIG_FILE, PartitionRun
    from naslid.runs.search import ranker_search, search_file, search_run
    from naslid.search import SearchConfig
    from naslid.spaces import get_space

    _check_output(args.out)
    objective = get_ranker(args.objective) if args.objective else None
    settings = _overrides(args, ["budget", "seed", "max_mflops", "max_params_m", "max_latency_ms"])
    has_run = (Path(args.run_dir) / CONFIG_FILE).is_file()
    if not has_run and objective is not None and not objective.needs_run and objective.name != "proxy":
        context = _fresh_context(args, objective, settings.get("seed", 0))
        space_name, dataset, run, search = context.space_name, args.dataset, None, SearchConfig(**settings)
        if not objective.needs_images:
            dataset = None
    else:
        if not has_run and objective is not None:
            raise ValueError(f"--objective {objective.spelling} scores with a trained supernet, but {args.run_dir} "
                             f"holds no run ({CONFIG_FILE} not found); give a run directory")
        config = RunConfig.load(_existing(Path(args.run_dir) / CONFIG_FILE))
        _refuse_context_flags(args, args.run_dir)
        run = PartitionRun(args.run_dir, config, runner=_runner(args))
        space_name, dataset, search = config.search_space, config.data.dataset, replace(config.search, **settings)
        context = None
    nb201 = space_name == "nb201"  # the only space with a ground-truth table
    benchmark = None if args.benchmark == "none" or not nb201 else load_benchmark(args.benchmark)
    if search.max_latency_ms is not None and not args.latency_table:
        raise ValueError(f"a latency budget ({search.max_latency_ms} ms) needs --latency-table FILE (build one with "
                         f"`naslid latency-table --space {space_name} ... --out FILE`)")
    table = _load_latency_table(args.latency_table) if args.latency_table else None
    if run is not None and (objective is None or objective.name == "proxy"):
        result = search_run(run, args.algorithm, search, latency_table=table, progress=_bars(args))
        leaf = f"sub-supernet (leaf) {run.tree.leaf_for(result.best_arch).id}, "
        score = f"proxy accuracy {result.best_score:.2f}%"
    else:
        if run is not None:
            context = rank.run_context(run, seed=search.seed)
        result = ranker_search(objective, context, args.algorithm, search, latency_table=table,
                                    subspaces=[leaf.subspace for leaf in run.tree.leaves()] if run else None,
                                    progress=_bars(args))
        leaf = f"sub-supernet (leaf) {run.tree.leaf_for(result.best_arch).id}, " if run is not None else ""
        score = f"{objective.spelling} score {result.best_score:.4g}"
    best, best_cost = result.best_arch, result.protocol["best_costs"]
    evaluator_proxy = result.protocol["proxy"]
    Path(args.run_dir).mkdir(parents=True, exist_ok=True)
    out = result.save(args.out or search_file(args.run_dir, args.algorithm))
    space = get_space(space_name)
    side = result.protocol["input_resolution"]
    reason = {"budget": f"the budget of {result.settings.get('budget')} evaluations was spent",
              "generations": f"all {result.settings.get('generations')} generations ran",
              "exhausted": "no unvisited architecture was left"}.get(result.stopped_by, "")
    print(f"{args.algorithm}: {result.num_evaluations} architectures evaluated ({reason}); best {space.format(best)}")
    print(f"  {leaf}{score} ({evaluator_proxy}); {best_cost['mflops']:.2f} MFLOPs, {best_cost['params_m']:.3f} M "
          f"params at {side}x{side}" + (f", {best_cost['latency_ms']:.2f} ms predicted on {table['device_name']} "
                                        f"({table['device']}, {table['threads']} threads)" if table else ""))
    if result.cache_hits:
        print(f"  {result.cache_hits} architectures were networks already scored: the cache saved their evaluations")
    if benchmark is not None:
        from naslid.runs.datasets import ranking_caveat

        for column in benchmark.columns:
            print(f"  {column}: {benchmark.value(best, column):.2f}")
        caveat = ranking_caveat(dataset, benchmark.column_info().column) if dataset else None  # said once
        if caveat:
            print(f"  caveat: {caveat}")
    print(f"wrote {out}")
    return 0


def _load_latency_table(path: str) -> dict:
    """A latency table file, with the path it was read from."""
    from pathlib import Path

    from naslid.nn import load_latency_table

    return {**load_latency_table(path), "path": str(Path(path).resolve())}


# each timed repeat runs for about 2 ms (naslid.nn.latency): 10,000 of them take 20 s for each of the table's entries
_MOST_REPEATS = 10_000
_MOST_CALIBRATION_NETWORKS = 1_000


def _add_latency_table_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", metavar="SPACE", help="search space: proxyless or ofa (NB201 has no table: "
                        "its cells are DAGs, not a sequence of blocks); or take it from --run")
    parser.add_argument("--run", dest="run_dir", help="a run directory: build the table for its space, network and "
                        "input resolution (what `naslid search --latency-table` checks)")
    parser.add_argument("--resolution", type=integer(1), help="input side in pixels (with --run: the run's)")
    parser.add_argument("--width-mult", type=number(0, above=True), help="width multiplier (default 1.0)")
    parser.add_argument("--num-classes", type=integer(1), help="classifier outputs (default: the network's, 1000; "
                        "a CIFAR-10 run has 10)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N: the device to measure on")
    parser.add_argument("--batch-size", type=integer(1), default=1, help="images per forward (default 1)")
    parser.add_argument("--warmup", type=integer(0, _MOST_REPEATS), default=10,
                        help=f"untimed calls per entry (default 10, at most {_MOST_REPEATS:,})")
    parser.add_argument("--repeats", type=integer(1, _MOST_REPEATS), default=30,
                        help=f"timed repeats per entry (default 30, at most {_MOST_REPEATS:,})")
    parser.add_argument("--statistic", choices=["min", "median"], default="min",
                        help="what predictions sum per entry: the minimum of the repeats (default; other processes "
                        "only add time) or their median; both are stored")
    parser.add_argument("--calibration-networks", type=integer(0, _MOST_CALIBRATION_NETWORKS), default=8,
                        help="random networks timed end to end to scale the summed blocks by the median ratio "
                        "measured / summed (default 8; 0: no scaling)")
    parser.add_argument("--threads", type=integer(1), help="torch CPU threads (default: torch's)")
    parser.add_argument("--out", required=True, help="latency table JSON to write")


def _run_latency_table(args: argparse.Namespace) -> int:
    from dataclasses import fields
    from pathlib import Path

    import torch

    from naslid.nn import build_latency_table, build_supernet_for, network_config_class, save_latency_table

    _check_output(args.out)
    if args.run_dir:
        from naslid.runs.config import RunConfig
        from naslid.runs.partition import CONFIG_FILE, PartitionRun

        config = RunConfig.load(_existing(Path(args.run_dir) / CONFIG_FILE))
        for flag, value in (("--space", args.space), ("--width-mult", args.width_mult),
                            ("--num-classes", args.num_classes)):
            if value is not None:
                raise ValueError(f"{flag}: --run {args.run_dir} fixes the space and network; leave {flag} unset")
        space, network = config.search_space, config.network
        resolution = args.resolution or PartitionRun(args.run_dir, config, lock=False).input_resolution()
    else:
        if args.space is None or args.resolution is None:
            raise ValueError("give --space and --resolution (or --run RUN_DIR)")
        space, resolution = args.space, args.resolution
        config_class = network_config_class(space)
        names = {item.name for item in fields(config_class)}
        settings = _overrides(args, ["width_mult", "num_classes"])
        if "small_input" in names:
            settings["small_input"] = resolution < 64  # as runs build it (`_with_space`)
        network = config_class(**settings)
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise ValueError(f"--device {args.device}: expected cpu, cuda or cuda:N") from None
    if args.threads:
        torch.set_num_threads(args.threads)
    from naslid.memory import flag_list, network_flags, out_of_memory_named

    sizes = flag_list([*network_flags(network), ("--resolution", resolution), ("--batch-size", args.batch_size)])
    with out_of_memory_named("building the latency table", sizes):
        supernet = build_supernet_for(space, network)
        table = build_latency_table(supernet, resolution, device, batch_size=args.batch_size, warmup=args.warmup,
                                    repeats=args.repeats, statistic=args.statistic,
                                    calibration_networks=args.calibration_networks)
    out = save_latency_table(table, args.out)
    field, calibration = args.statistic + "_ms", table["calibration"]
    blocks = [entry[field] for entry in table["entries"].values() if entry["kind"] == "block"]
    print(f"{space} at {resolution}x{resolution}, batch {args.batch_size}, on {table['device_name']} "
          f"({table['device']}, {table['threads']} threads): {len(table['entries'])} entries; blocks "
          f"{min(blocks):.3f}-{max(blocks):.3f} ms ({args.statistic} of {args.repeats}); calibration scale "
          f"{calibration['scale']:.3f} from {calibration['networks']} networks timed end to end")
    print(f"wrote {out}")
    return 0


def _add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    from naslid.runs.protocols import PROTOCOL_CHOICES

    parser.add_argument("run_dir", help="comparison directory (one run folder per method; resumes if present)")
    parser.add_argument("--benchmark", help="NB201 ground truth to rank against (default: the NB201 table shipped "
                        "with naslid; e.g. nb201_merged.csv; 'none' to skip ranking)")
    parser.add_argument("--column", help="ground-truth column (default: the benchmark's, c10_test_acc_200)")
    parser.add_argument("--methods", help="comma-separated methods of spos,few-shot,gm-nas,nas-lid,random-split "
                        "(default: all five), each optionally a variant with overrides of any split, schedule, "
                        "training, proxy, data or search setting, e.g. "
                        "'nas-lid[similarity=cosine,edge-score=max-cross]', 'nas-lid[finetune=restart]', "
                        "'nas-lid[protocol=nas-lid-release]' (tuples as 20:40); "
                        "variants share the root training, split batches and path samplers where their settings allow")
    parser.add_argument("--control", help="the method (or variant spelling) every other is compared with, paired by "
                        "seed (default: random-split; spos is also reported as a reference)")
    parser.add_argument("--seeds", type=whole_numbers, help="one comparison per seed, e.g. 0,1,2 (initialisation, "
                        "paths, split batches, search; same train/valid split), reported as mean and spread")
    parser.add_argument("--subset", action="append", help="subset to rank on, repeatable (default: the preset's, "
                        "e.g. random1000 and top1%%)")
    parser.add_argument("--no-share-root", action="store_true", help="train every method's root supernet itself "
                        "instead of once for all")
    parser.add_argument("--protocols", choices=PROTOCOL_CHOICES, default="common",
                        help="common (default): every method on the preset's (and --protocol's) training, only the "
                        "split rules differ; own: each method on its own paper's released protocol (spos, nas-lid, "
                        "random-split: nas-lid-release; gm-nas: gm-nas; few-shot: few-shot-nas) at --scale, keeping "
                        "the data location, device and seeds")
    _add_run_flags(parser)
    _add_tracking_flags(parser, with_benchmark=False)


def _run_compare(args: argparse.Namespace) -> int:
    from naslid.runs.compare import compare_methods

    config, plan = _compare_setup(args)
    benchmark = _benchmark_path(args.benchmark)
    if args.track_ranking and benchmark is None:
        raise ValueError("--track-ranking needs ground truth: leave --benchmark unset or name a table")
    from naslid.runs.presets import get_preset

    common = args.protocol or get_preset(args.preset).protocol
    results = compare_methods(args.run_dir, config, plan, benchmark, args.column, progress=_bars(args),
                              runner=_runner(args), common_protocol=common)
    _print_compare(results, args.run_dir)
    return 0


def _compare_setup(args: argparse.Namespace):
    """What `naslid compare` runs: the configuration and the plan, every method's settings checked as the
    comparison checks them before it writes anything (`naslid.runs.compare.check_comparison`)."""
    from naslid.runs.compare import check_comparison

    config, plan = _run_config(args)
    if config.search_space != "nb201":
        raise ValueError(f"compare ranks against NAS-Bench-201 ground truth, which the {config.search_space} space has "
                         "none of; partition with each --method, then `naslid search` and `naslid export`")
    plan = _compare_plan(args, plan)
    check_comparison(config, plan)
    return config, plan


def _compare_plan(args: argparse.Namespace, plan):
    """The preset's ComparePlan with compare's flags applied; --control must name one of the methods."""
    from dataclasses import replace

    from naslid.runs.presets import method_spelling
    from naslid.runs.protocols import split_methods

    if args.methods:
        plan = replace(plan, methods=split_methods(args.methods))
    if args.control is not None:
        control = method_spelling(args.control)
        if control not in plan.all_methods():
            raise ValueError(f"--control {args.control}: not among the compared methods; expected one of "
                             f"{list(plan.all_methods())}")
        plan = replace(plan, control=control)
    if args.seeds:
        plan = replace(plan, seeds=tuple(args.seeds))
    if args.subset:
        plan = replace(plan, ranking_subsets=tuple(args.subset))
    if args.track_ranking:
        plan = replace(plan, track_subset=None if args.track_ranking == "none" else args.track_ranking)
    if args.track_every is not None:
        plan = replace(plan, track_every=args.track_every)
    if args.no_share_root:
        plan = replace(plan, share_root=False)
    return replace(plan, protocols=args.protocols)


def _benchmark_path(flag: str | None) -> str | None:
    """--benchmark as given, the packaged NB201 table when unset, None for 'none'."""
    from naslid.bench import packaged_table_path

    if flag == "none":
        return None
    return flag if flag is not None else str(packaged_table_path())


def _print_compare(results: dict, run_dir: str) -> None:
    width = max(12, *(len(method) for method in results["methods"]))
    for method, summary in results["methods"].items():
        ranking = ", ".join(f"tau {r['subset']} {_format_score(r['kendall_tau_b'], 6).strip()}"
                            for r in summary["ranking"]) or "no benchmark: no ranking"
        search = summary["search"]
        if summary.get("kind") == "training-free":
            kind, score = "training-free", f"score {search['proxy_score']:.4g}"
        else:
            kind, score = f"{summary['leaves']:>2} leaves", f"proxy {search['proxy_score']:.2f}%"
        print(f"{method:>{width}}: {kind}, {ranking}; EA best {search['best_arch']} {score}")
    _print_floor(results)
    caveat = results["protocol"].get("ranking_caveat")
    if caveat:
        print(f"caveat: {caveat}")
    print(f"wrote {run_dir}/compare.md, {run_dir}/compare.json and plots in {run_dir}/plots/ "
          f"({results['seconds']['total']:.0f} s)")


def _print_floor(results: dict) -> None:
    """Each method against the floor (params), on the first ranked subset: tau, difference and verdict."""
    from naslid.runs.compare import floor_verdicts

    rows = floor_verdicts(results)
    if not rows:
        return
    first = rows[0]["subset"]
    rows = [row for row in rows if row["subset"] == first]
    print(f"against the floor ({rows[0]['floor']}: a parameter count, no training; tau {rows[0]['floor_tau']:.3f} on "
          f"{first}), paired by seed:")
    width = max(12, *(len(row["method"]) for row in rows))
    for row in rows:
        interval = (f" [{row['interval'][0]:+.3f}, {row['interval'][1]:+.3f}]" if row["interval"] is not None else "")
        print(f"  {row['method']:>{width}}: tau {row['tau']:.3f}, {row['difference']:+.3f}{interval}: {row['verdict']}")


def _add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", nargs="?", default="naslid-demo", help="where to write (default ./naslid-demo)")
    parser.add_argument("--run-dir", dest="run_dir_option", help=argparse.SUPPRESS)  # the old spelling
    parser.add_argument("--benchmark", help="NB201 ground truth to rank against (default: the NB201 table shipped "
                        "with naslid; 'none' to skip ranking)")
    parser.add_argument("--data-path", help="CIFAR-10 (packed npz or cifar-10-batches-py folder); found "
                        "automatically at $NASLID_CIFAR10, ~/.cache/naslid/cifar10 or ../shared/data/cifar10 when "
                        "present. Without it the demo runs on the bundled 8x8 digits, which cannot rank CIFAR-10 "
                        "architectures")
    parser.add_argument("--device", help="auto (default), cpu or cuda")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _run_demo(args: argparse.Namespace) -> int:
    from dataclasses import replace

    args.run_dir = args.run_dir_option or args.run_dir  # `--run-dir D`, the old spelling of the positional

    from naslid.runs.compare import compare_methods
    from naslid.runs.presets import get_preset

    benchmark = _benchmark_path(args.benchmark)
    from naslid.data import default_cifar10_path

    data_path = args.data_path or (str(default_cifar10_path()) if default_cifar10_path().exists() else None)
    if data_path is not None:
        preset = get_preset("cpu")
        config = replace(preset.config, data=replace(preset.config.data, path=data_path))
        plan = replace(preset.plan, methods=("spos", "nas-lid"), ranking_subsets=("random500", "top1%"))
        print("naslid demo: SPOS and NAS-LID on CIFAR-10 at 16x16 with a narrow NB201 supernet (preset 'cpu': "
              f"{preset.purpose}); about 8 minutes on 2 CPU cores")
    else:
        preset = get_preset("tiny")
        config, plan = preset.config, preset.plan
        print("naslid demo: no CIFAR-10 found (pass --data-path); SPOS, Few-shot NAS, GM-NAS, NAS-LID and random "
              "splits on the bundled 8x8 digits (preset 'tiny': " + preset.purpose + ")")
    config = replace(config, device=args.device or "auto")
    print(f"ranking against: {benchmark or 'nothing (--benchmark none)'}")
    results = compare_methods(args.run_dir, config, plan, benchmark, progress=_bars(args))
    _print_compare(results, args.run_dir)
    if data_path is None:
        print("note: 8x8 digits for a few epochs cannot rank CIFAR-10 architectures; with CIFAR-10 (--data-path) "
              "the demo trains the 'cpu' preset instead")
    return 0


def _add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a finished run directory (naslid partition or train)")
    parser.add_argument("--arch", help="architecture string to export (default: the best of "
                        "RUN_DIR/search_evolution.json, else search_random.json, else compare's search.json)")
    parser.add_argument("--out", help="output folder (default RUN_DIR/export)")
    parser.add_argument("--device", help="auto (default), cpu, cuda")
    parser.add_argument("--latency-table", help="latency table JSON (`naslid latency-table`) built for the run's "
                        "network and input resolution: records the predicted latency with the costs")


def _run_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from naslid.runs.config import RunConfig
    from naslid.runs.export import export_architecture
    from naslid.runs.partition import CONFIG_FILE, PartitionRun
    from naslid.runs.search import find_search
    from naslid.search import load_search_result

    run_dir = Path(args.run_dir)
    config = RunConfig.load(_existing(run_dir / CONFIG_FILE))
    if args.device is not None:
        from dataclasses import replace

        config = replace(config, device=args.device)
    run = PartitionRun(run_dir, config, lock=False)  # reads only
    space = run.tree.root.subspace.space
    if args.arch:
        try:
            arch = space.parse(args.arch)
        except ValueError as error:
            raise ValueError(f"--arch: {error}") from None
    else:
        found = find_search(run_dir)
        if found is None:
            raise ValueError(f"no search result in {run_dir}: run `naslid search {run_dir}` first, or pass --arch")
        arch = load_search_result(found).best_arch
    table = _load_latency_table(args.latency_table) if args.latency_table else None
    exported = export_architecture(run, arch, args.out or run_dir / "export", latency_table=table)
    record = exported.record
    latency = (f", {record['costs']['latency_ms']:.2f} ms predicted on {table['device_name']} ({table['device']}, "
               f"{table['threads']} threads)" if table else "")
    print(f"exported {record['arch']} ({record['costs']['mflops']:.2f} MFLOPs, {record['costs']['params_m']:.3f} M "
          f"params at {record['costs']['input_resolution']}px{latency}) from leaf {record['leaf']}")
    if record["spec"] is not None and "blocks" in str(record["spec"]):
        print(f"  spec with block strings in {exported.folder / 'arch.json'}")
    print(f"  {exported.folder}/model.pt2 loads with torch.export.load(path).module() alone; weights.pt holds the "
          f"state_dict; largest difference to the supernet path: {exported.max_output_difference:.1e}")
    return 0


def _add_retrain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("export_dir", help="a folder written by `naslid export`")
    parser.add_argument("--out", help="output folder (default EXPORT_DIR/retrain; resumes if present)")
    parser.add_argument("--epochs", type=integer(1), help="training epochs (default 100)")
    parser.add_argument("--batch-size", type=integer(1), help="batch size (default 128)")
    parser.add_argument("--lr", type=number(0), dest="learning_rate",
                        help="initial learning rate (default 0.05, cosine "
                        "to 0)")
    parser.add_argument("--weight-decay", type=number(0), help="weight decay (default 4e-5, MobileNet-style)")
    parser.add_argument("--label-smoothing", type=number(0, below=1), help="label smoothing (default 0.1)")
    parser.add_argument("--seed", type=_SEED, help="initialisation and data-order seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _run_retrain(args: argparse.Namespace) -> int:
    from pathlib import Path

    from naslid.runs.retrain import RetrainConfig, retrain_exported

    cfg = RetrainConfig(**_overrides(args, ["epochs", "batch_size", "learning_rate", "weight_decay",
                                            "label_smoothing", "seed"]))
    out = Path(args.out or Path(args.export_dir) / "retrain")
    result = retrain_exported(args.export_dir, out, cfg, device=args.device, progress=_bars(args))
    print(f"retrained {result['arch']} from scratch for {cfg.epochs} epochs: valid {result['valid_accuracy']:.2f}%, "
          f"test {result['test_accuracy']:.2f}%")
    print(f"wrote {out / 'retrain.json'}")
    return 0


def _add_rank_arguments(parser: argparse.ArgumentParser) -> None:
    from naslid.ranker_names import AGGREGATE, TRAINING_FREE, WITH_A_RUN

    parser.add_argument("--ranker", default="params", help=f"what scores the architectures (default params): one of "
                        f"{', '.join(TRAINING_FREE)}; with --run also {', '.join(WITH_A_RUN)} (and rankers an "
                        f"--import module registers); settings as name[key=value] (naswot[batch-size=32]); an "
                        f"aggregate of ranks as {AGGREGATE}[params,naswot,lid-init] (docs/ranking.md)")
    parser.add_argument("--subset", action="append", help="architectures to rank, repeatable: all, unique, top1%%, "
                        "random1000, list:FILE (default: random1000 and top1%% on NB201, random1000 elsewhere)")
    parser.add_argument("--run", dest="run_dir", help="a finished run directory (naslid partition or train): its "
                        "network, data and trained leaves (for proxy and lid-supernet)")
    parser.add_argument("--seed", type=_SEED, default=0, help="initialisation, image batch and random<N> seed "
                        "(default 0)")
    _add_context_flags(parser.add_argument_group("without --run: the network and images rankers score with"))
    parser.add_argument("--share-isomorphic", action="store_true", help="score architectures the space counts as "
                        "one network (NB201's isomorphic cells) once (not params, flops or a run's rankers)")
    parser.add_argument("--benchmark", help="ground truth to rank against (NB201; default: the table shipped with "
                        "naslid; 'none' to skip)")
    parser.add_argument("--column", help="ground-truth column (default c10_test_acc_200)")
    parser.add_argument("--out", help="predictions file to write (default ./rank_<ranker>.json); `naslid score FILE "
                        "--subset all` ranks it again")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _add_context_flags(parser) -> None:
    """The flags that say which freshly initialised network (space, size) and which images a ranker scores with."""
    parser.add_argument("--space", help="search space (default nb201)")
    parser.add_argument("--dataset", choices=["cifar10", "digits", "imagefolder"], help="images for the rankers that "
                        "need a batch (default cifar10, found as `naslid demo` finds it)")
    parser.add_argument("--data-path", help="CIFAR-10 (packed npz or cifar-10-batches-py folder) or an imagefolder "
                        "ROOT")
    parser.add_argument("--resolution", type=integer(4), help="image side in pixels (default: the data's, 32 for "
                        "CIFAR-10)")
    parser.add_argument("--channels", type=integer(1), help="NB201 width C (default 16, the benchmark's)")
    parser.add_argument("--cells", type=integer(1), help="NB201 cells per stage N (default 5, the benchmark's)")
    parser.add_argument("--width-mult", type=number(0, above=True), help="MobileNet spaces: width multiplier")
    parser.add_argument("--device", help="cpu (default), cuda, cuda:N")


_CONTEXT_FLAGS = (("--space", "space"), ("--dataset", "dataset"), ("--data-path", "data_path"),
                  ("--resolution", "resolution"), ("--channels", "channels"), ("--cells", "cells"),
                  ("--width-mult", "width_mult"), ("--device", "device"))


def _fresh_context(args: argparse.Namespace, ranker, seed: int):
    """The training-free scoring context the context flags describe."""
    from naslid.runs import rank

    if ranker.needs_run:
        raise ValueError(f"ranker {ranker.spelling} scores with a trained supernet: give a run directory")
    space_name = args.space or "nb201"
    data = _rank_data(args) if ranker.needs_images else None
    network, resolution = _rank_network(args, space_name, data)
    return rank.fresh_context(space_name, network, resolution, data, seed=seed, device=args.device or "cpu")


def _refuse_context_flags(args: argparse.Namespace, run_dir: str) -> None:
    for flag, name in _CONTEXT_FLAGS:
        if getattr(args, name, None) is not None:
            raise ValueError(f"{flag}: the run {run_dir} fixes the space, network and data; leave {flag} unset")


def _run_rank(args: argparse.Namespace) -> int:
    from pathlib import Path

    from naslid.rankers import get_ranker
    from naslid.runs import rank

    ranker = get_ranker(args.ranker)
    out = args.out or f"rank_{re.sub(r'[^A-Za-z0-9._=,-]+', '_', ranker.spelling)[:80]}.json"
    _check_output(out)
    if args.run_dir:
        from naslid.runs.config import RunConfig
        from naslid.runs.partition import CONFIG_FILE, PartitionRun

        _refuse_context_flags(args, args.run_dir)
        config = RunConfig.load(_existing(Path(args.run_dir) / CONFIG_FILE))
        run = PartitionRun(args.run_dir, config, lock=False)
        context = rank.run_context(run, seed=args.seed)
        space_name, dataset = config.search_space, config.data.dataset
    else:
        context = _fresh_context(args, ranker, args.seed)
        space_name, dataset = context.space_name, (args.dataset or "cifar10") if ranker.needs_images else None
    benchmark, column = _rank_benchmark(args, space_name)
    subsets, archs = rank.select_architectures(space_name, args.subset or (["random1000", "top1%"] if benchmark
                                                                          else ["random1000"]),
                                               args.seed, benchmark, column)
    truth = benchmark.ground_truth(column) if benchmark is not None else None
    result = rank.rank_space(ranker, context, subsets, archs, out, truth=truth,
                             share_isomorphic=args.share_isomorphic, progress=_bars(args))
    print(f"ranked {len(archs):,} {space_name} architectures with {ranker.spelling} in {result.seconds:.1f} s "
          f"({context.data}; seed {args.seed})")
    if result.rankings:
        from naslid.runs.datasets import ranking_caveat

        print(f"against {truth.info.column}, beside the floor (params: a parameter count, no training):")
        print(f"  {'subset':<14}{'n':>6}{'tau-b':>9}{'Spearman':>10}{'params tau-b':>14}  ")
        for ranking, floor in zip(result.rankings, result.floor, strict=True):
            verdict = _versus_floor(ranking.kendall_tau_b, floor.kendall_tau_b)
            print(f"  {ranking.subset:<14}{ranking.n:>6}{_format_score(ranking.kendall_tau_b, 9)}"
                  f"{_format_score(ranking.spearman, 10)}{_format_score(floor.kendall_tau_b, 14)}  {verdict}")
        caveat = ranking_caveat(dataset, truth.info.column) if dataset else None
        if caveat:
            print(f"caveat: {caveat}")
    print(f"wrote {result.out} (`naslid score {result.out} --subset all` ranks it again)")
    return 0


def _versus_floor(tau: float, floor: float) -> str:
    if tau != tau or floor != floor:
        return ""
    if abs(tau - floor) < 0.005:
        return "level with the floor"
    return "above the floor" if tau > floor else "below the floor"


def _rank_data(args: argparse.Namespace):
    """The DataConfig the rankers' image batch comes from (CIFAR-10 found as the demo finds it, unless set)."""
    from naslid.data import default_cifar10_path
    from naslid.runs.datasets import DataConfig

    dataset = args.dataset or "cifar10"
    path = args.data_path
    if dataset == "cifar10" and path is None:
        if not default_cifar10_path().exists():
            raise ValueError("no CIFAR-10 found for the rankers' image batch: pass --data-path, or --dataset digits "
                             "(the bundled 8x8 digits), or a ranker that needs no images (params, flops, synflow)")
        path = str(default_cifar10_path())
    return DataConfig(dataset=dataset, path=path if dataset != "digits" else None, resolution=args.resolution)


def _rank_network(args: argparse.Namespace, space: str, data) -> tuple[object, int]:
    """The network configuration and input side a fresh ranking context builds."""
    from dataclasses import fields

    from naslid.nn import network_config_class

    resolution = args.resolution or (8 if data is not None and data.dataset == "digits" else 32)
    config_class = network_config_class(space)
    names = {item.name for item in fields(config_class)}
    settings = {key: value for key, value in (("channels", args.channels), ("cells_per_stage", args.cells),
                                              ("width_mult", args.width_mult)) if value is not None}
    unknown = sorted(set(settings) - names)
    if unknown:
        flags = {"channels": "--channels", "cells_per_stage": "--cells", "width_mult": "--width-mult"}
        raise ValueError(f"{', '.join(flags[name] for name in unknown)}: the {space} network has no such setting")
    if data is not None and data.dataset == "digits" and "in_channels" in names:
        settings["in_channels"] = 1
    if data is not None and data.dataset in ("cifar10", "digits") and "num_classes" in names:
        settings["num_classes"] = 10  # the classifier's outputs follow the data, as in a run
    if "small_input" in names:
        settings["small_input"] = resolution < 64
    return config_class(**settings), resolution


def _rank_benchmark(args: argparse.Namespace, space: str):
    if space != "nb201" or args.benchmark == "none":
        if args.benchmark not in (None, "none"):
            raise ValueError(f"--benchmark: ground truth exists for nb201 only, not for the {space} space")
        return None, None
    from naslid.bench import load_benchmark

    benchmark = load_benchmark(args.benchmark)
    return benchmark, benchmark.column_info(args.column).column


def _add_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory (naslid train, partition or one method's folder of compare)")


def _run_check(args: argparse.Namespace) -> int:
    from naslid.runs.verify import verify_run

    problems = verify_run(args.run_dir)
    for problem in problems:
        print(problem)
    if problems:
        raise ValueError(f"{args.run_dir} has {len(problems)} problem{'s' * (len(problems) > 1)} (listed above)")
    print(f"{args.run_dir}: configuration, partition tree and checkpoints agree")
    return 0


def _add_spaces_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "a space of your own: docs/own-space.md (register it in a module, then --import MODULE)"


def _run_spaces(args: argparse.Namespace) -> int:
    from naslid.nn import SUPERNETS
    from naslid.spaces import SPACES, SubSpace, get_space

    print(f"{'space':<12}{'choice points':>14}{'architectures':>16}  supernet")
    for name in sorted(SPACES):
        space = get_space(name)
        supernet = SUPERNETS.get(name)
        size = SubSpace(None, space).size()
        size_text = f"{size:,}" if size < 10**9 else f"{float(size):.2e}"
        print(f"{name:<12}{len(space.points):>14}{size_text:>16}  "
              + (f"{supernet[1].__module__}.{supernet[1].__name__}" if supernet else "none registered: cannot train"))
    return 0


def _add_presets_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "a flag of train, partition or compare overrides one setting; --print-config shows the result"


def _run_presets(args: argparse.Namespace) -> int:
    from naslid.runs.presets import describe_presets

    print(describe_presets())
    return 0


def _add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory (naslid train or partition, or one method's folder of "
                        "compare) or a compare folder")
    parser.add_argument("--out", help="HTML file to write (default RUN_DIR/report.html)")
    parser.add_argument("--benchmark", help="ground truth that proxy and tracked scores are ranked against (NB201 "
                        "runs; default: the comparison's own, else the NB201 table shipped with naslid)")
    parser.add_argument("--column", help="ground-truth column (default: the benchmark's, c10_test_acc_200)")


def _run_report(args: argparse.Namespace) -> int:
    from naslid.runs.report import write_report

    print(f"wrote {write_report(args.run_dir, args.out, benchmark=args.benchmark, column=args.column)}")
    return 0


COMMANDS: list[Command] = [
    ("score", "score a predictions file against benchmark ground truth", _add_score_arguments, _run_score),
    ("profile", "profile the layer-wise LID of models; write JSON and a plot", _add_profile_arguments, _run_profile),
    ("train", "train a supernet single-path (SPOS) into a run directory", _add_train_arguments, _run_train),
    ("partition", "train and split a supernet (NAS-LID, GM-NAS, few-shot, SPOS)", _add_partition_arguments,
     _run_partition),
    ("finetune", "fine-tune the leaves of a partition run", _add_finetune_arguments, _run_finetune),
    ("search", "evolutionary or random search with a run's (sub-)supernets", _add_search_arguments, _run_search),
    ("rank", "score architectures with any ranker (params, flops, naswot, ..., a run's proxy, an aggregate) and "
     "rank them against the benchmark beside the floor", _add_rank_arguments, _run_rank),
    ("latency-table", "measure a MobileNet space's per-block latency table on this device (for latency budgets)",
     _add_latency_table_arguments, _run_latency_table),
    ("export", "export an architecture: JSON spec, standalone network with inherited weights (torch.export)",
     _add_export_arguments, _run_export),
    ("retrain", "retrain an exported architecture from scratch with a standard recipe", _add_retrain_arguments,
     _run_retrain),
    ("spaces", "list the search spaces naslid knows: built in, installed (entry points) and --import-ed",
     _add_spaces_arguments, _run_spaces),
    ("presets", "list the presets: each one's purpose and every setting on which they differ",
     _add_presets_arguments, _run_presets),
    ("check", "verify a run directory: its tree partitions the space and every checkpoint is its node's",
     _add_check_arguments, _run_check),
    ("report", "write a run's or a comparison's self-contained HTML page: tables, tau curves, partition tree, "
     "split evidence, LID profiles", _add_report_arguments, _run_report),
    ("compare", "SPOS, Few-shot NAS, GM-NAS and NAS-LID side by side: table, JSON, plots", _add_compare_arguments,
     _run_compare),
    ("demo", "the pipeline end to end: SPOS vs NAS-LID on CIFAR-10 at 16x16 (about 8 minutes on 2 CPU cores), or "
     "on the bundled digits when CIFAR-10 is absent", _add_demo_arguments, _run_demo),
]


def _add_global_flags(parser: argparse.ArgumentParser, default: object) -> None:
    """--debug and -v/--verbose: on the main parser (default False) and again on every subcommand (default
    SUPPRESS, so an unset flag there keeps the main parser's value): `naslid -v train RUN` = `naslid train RUN -v`."""
    group = parser.add_argument_group("global options") if default is argparse.SUPPRESS else parser
    group.add_argument("--debug", action="store_true", default=default, help="show full tracebacks for errors")
    group.add_argument("-v", "--verbose", action="store_true", default=default, help="log progress details")
    group.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                       default=None if default is False else default,  # a list once given (False cannot grow)
                       help="import MODULE (a dotted name or a .py file) before the command runs, e.g. one that "
                       "registers a search space of your own (repeatable; installed naslid.spaces entry points are "
                       "imported without it)")


_EVERY_COMMAND = "*"


def build_parser(command: str | None = _EVERY_COMMAND) -> argparse.ArgumentParser:
    """The parser of every command, or with `command` only that command's flags (the others' help lines stay):
    the run commands generate their flags from the library's configuration fields, which imports torch, so
    `naslid --help` and the light commands build only what they use."""
    from naslid import __version__

    parser = _OneLineParser(
        prog="naslid",
        description="Neural architecture search with local intrinsic dimension (NAS-LID).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_global_flags(parser, default=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text, add_arguments, run in COMMANDS:
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if command in (_EVERY_COMMAND, name):
            add_arguments(command_parser)
        _add_global_flags(command_parser, default=argparse.SUPPRESS)
        command_parser.set_defaults(run=run)
    return parser


# the logger of the one line per training epoch (naslid.train.spos; named here so that the parser imports no torch)
_EPOCH_LOGGER = "naslid.train.epochs"


def _terminal() -> bool:
    """Whether stderr is a terminal: progress bars only there; a file or pipe gets one line per epoch instead."""
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def _bars(args: argparse.Namespace) -> bool:
    """Progress bars: on a terminal, unless --no-progress."""
    return not getattr(args, "no_progress", False) and _terminal()


def _configure_logging(args: argparse.Namespace) -> None:
    """INFO lines (progress details) only with -v; warnings and errors always; all on stderr. When stderr is not
    a terminal (a log file, a pipe), training writes one line per epoch without -v, in place of progress bars."""
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    logging.getLogger("naslid").setLevel(level)
    logging.getLogger(_EPOCH_LOGGER).setLevel(logging.NOTSET if _terminal() else logging.INFO)


def _scan(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """The command `argv` names (its first word that is not a flag or --import's module), if any, and the modules
    it asks to import (--import MODULE, --import=MODULE or an abbreviation argparse takes, anywhere)."""
    names = {name for name, *_ in COMMANDS}
    command, imports, words = None, [], iter(argv)
    for word in words:
        flag, equals, value = word.partition("=")
        if len(flag) >= 4 and "--import".startswith(flag):  # --imp, --impo, ... as argparse abbreviates
            imports.append(value if equals else next(words, ""))
        elif command is None and not word.startswith("-"):
            command = word if word in names else ""
    return command or None, [name for name in imports if name]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command, preloaded = _scan(argv)
    if command is not None:  # entry points and --import first: what they register is offered as a flag's choice
        from naslid.plugins import load_plugins

        try:
            load_plugins(preloaded)
        except ValueError as error:
            if "--debug" in argv:
                raise
            print(f"naslid {command}: error: {_one_line(error)}", file=sys.stderr)
            return 2
    parser = build_parser(command)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help or --version (0), or a bad flag already printed as one line (2)
        return int(exit.code or 0)
    _configure_logging(args)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from naslid.runs.lock import RunDirectoryBusy

    try:
        missed = [name for name in getattr(args, "imports", None) or () if name not in preloaded]
        if missed:  # a spelling the scan above did not know: imported now (its entries were not offered as choices)
            from naslid.plugins import load_plugins

            load_plugins(missed)
        if getattr(args, "print_config", False):
            return _print_config(args)
        _join_torchrun(args)
        from naslid.memory import command_flags, out_of_memory_named

        with out_of_memory_named(f"running `naslid {args.command}`", lambda: command_flags(args)):  # if not named yet
            return int(args.run(args) or 0)
    except (ValueError, KeyError, OSError, MemoryError, RunDirectoryBusy) as error:
        if args.debug:
            raise
        print(f"naslid {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"naslid {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    finally:
        _leave_torchrun()


# subcommands that train data-parallel when started by torchrun (every rank runs the same command)
_TORCHRUN_COMMANDS = ("train", "partition")


def _join_torchrun(args: argparse.Namespace) -> None:
    """Under torchrun: join the process group, train on this rank's device; only rank 0 prints and writes."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return
    if args.command not in _TORCHRUN_COMMANDS:
        raise ValueError(f"torchrun runs `naslid {' / '.join(_TORCHRUN_COMMANDS)}` data-parallel, not `naslid "
                         f"{args.command}`; start it without torchrun (several GPUs: --runner ray)")
    if getattr(args, "runner", "sequential") != "sequential":
        raise ValueError(f"--runner {args.runner}: under torchrun every rank trains the same node; leave --runner "
                         "unset")
    from naslid.train.distributed import init_from_environment, is_main_process

    args.rank_device = init_from_environment()
    if not is_main_process():
        args.no_progress = True
        logging.getLogger(_EPOCH_LOGGER).setLevel(logging.NOTSET)  # epoch lines from rank 0 only (unless -v)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the rest of this process)


def _leave_torchrun() -> None:
    if "torch.distributed" not in sys.modules:  # nothing to leave (and no torch import for a quick command)
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _one_line(error: BaseException) -> str:
    """A user error as one line: the message, and for an OS error the file it concerns."""
    if isinstance(error, KeyError) and error.args:
        message = str(error.args[0])
    elif isinstance(error, OSError) and error.filename is not None and error.strerror:
        message = f"{error.filename}: {error.strerror}"
    else:
        message = str(error) or type(error).__name__
    return _shortened(" ".join(message.split()))


_LONGEST_WORD = 120  # characters of one value an error line repeats; a longer one is cut in the middle
_LONGEST_LINE = 2000


def _shortened(message: str) -> str:
    """`message` with every overlong word (a pasted value, a file's contents) cut to its two ends and its length,
    and the whole line kept under `_LONGEST_LINE` characters (its start and its end, where the advice is)."""
    def cut(word: str) -> str:
        if len(word) <= _LONGEST_WORD:
            return word
        half = _LONGEST_WORD // 2 - 10
        return f"{word[:half]}...[{len(word):,} characters]...{word[-half:]}"

    message = " ".join(cut(word) for word in message.split(" "))
    if len(message) > _LONGEST_LINE:
        message = f"{message[:_LONGEST_LINE // 2]} ...[{len(message):,} characters]... {message[-_LONGEST_LINE // 4:]}"
    return message


if __name__ == "__main__":
    sys.exit(main())
