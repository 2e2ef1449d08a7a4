"""The commands that train supernets into a run directory: train (single path), partition (train and split),
finetune (the leaves of a partition run).
"""

from __future__ import annotations

import argparse

from naslid.cli import run_flags_data
from naslid.cli.configuration import benchmark_path, run_config, runner
from naslid.cli.output import bars
from naslid.cli.parsing import existing
from naslid.cli.run_flags import add_run_flags, add_runner_flags, add_tracking_flags
from naslid.options import integer


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run directory (created, or resumed if it holds the same run)")
    parser.add_argument("--epochs", type=integer(1), help="training epochs (default: the preset's whole schedule)")
    parser.add_argument("--subspace", help="JSON file of a sub-space (naslid.subspace/1) to train on")
    add_run_flags(parser, schedule=False)
    add_tracking_flags(parser)
    parser.set_defaults(resolve_config=lambda args: (_train_config(args), None))  # what --print-config shows


def _run_train(args: argparse.Namespace) -> int:
    from naslid.runs.partition import PartitionRun

    config = _train_config(args)
    run = PartitionRun(args.run_dir, config, progress=bars(args), tracking=_tracking_for(args, config))
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
    config, _ = run_config(args)
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
    parser.add_argument("--method", choices=run_flags_data.METHODS(),
                        help="split method: nas-lid (LID criterion; the default, except with --config, whose own "
                        "method stands), gm-nas (gradient), few-shot (one child per op), spos (no split), random-split "
                        "(control)")
    parser.add_argument("--no-finetune", action="store_true", help="stop after the last split; run `naslid finetune`")
    add_run_flags(parser)
    add_tracking_flags(parser)
    parser.set_defaults(resolve_config=lambda args: (_partition_config(args), None))


def _run_partition(args: argparse.Namespace) -> int:
    from naslid.runs.partition import PartitionRun

    config = _partition_config(args)
    run = PartitionRun(args.run_dir, config, progress=bars(args), runner=runner(args),
                       tracking=_tracking_for(args, config))
    _print_tree(run.run(finetune=not args.no_finetune), args.run_dir)
    _print_curve(run, args)
    return 0


def _partition_config(args: argparse.Namespace):
    """What `naslid partition` runs: the configuration set up for --method; with --config and no --method, the
    file's own method (a run's config.json reproduces that run)."""
    from naslid.runs.protocols import method_config

    config, _ = run_config(args)
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
    add_runner_flags(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _run_finetune(args: argparse.Namespace) -> int:
    from pathlib import Path

    from naslid.runs.config import RunConfig
    from naslid.runs.partition import PartitionRun
    from naslid.runs.run_directory import CONFIG_FILE

    config = RunConfig.load(existing(Path(args.run_dir) / CONFIG_FILE))
    tree = PartitionRun(args.run_dir, config, progress=bars(args), runner=runner(args)).run()
    _print_tree(tree, args.run_dir)
    return 0


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
    benchmark = benchmark_path(args.benchmark)
    if benchmark is None:
        raise ValueError("--track-ranking needs ground truth: leave --benchmark unset or name a table")
    from naslid.bench import load_benchmark
    from naslid.runs.tracking import select_tracking

    return select_tracking(load_benchmark(benchmark), args.track_ranking, args.track_every or 1, seed, args.column)


def _print_curve(run, args: argparse.Namespace) -> None:
    benchmark = benchmark_path(args.benchmark)
    if run.tracking is None or benchmark is None:
        return
    from naslid.bench import load_benchmark

    truth = load_benchmark(benchmark).ground_truth(args.column)
    curve = run.ranking_curve(truth.values)
    run.write_ranking_curve(curve)
    if curve:
        points = ", ".join(f"{p['epoch']}: {p['kendall_tau_b']:.3f}" for p in curve)
        print(f"Kendall tau while training ({run.tracking.subset}, epoch: tau): {points}")


# naslid.cli builds each command's parser with the first and runs the command with the second
HANDLERS = {"train": (_add_train_arguments, _run_train), "partition": (_add_partition_arguments, _run_partition),
            "finetune": (_add_finetune_arguments, _run_finetune)}
