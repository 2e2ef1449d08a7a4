"""The commands that measure, check and list: score (a predictions file against ground truth), profile (layer-wise
LID of any model), check (a run directory), spaces and presets.
"""

from __future__ import annotations

import argparse

from naslid.cli.output import bars, format_score
from naslid.cli.parsing import SEED, check_output, overrides
from naslid.options import integer


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
    parser.add_argument("--seed", type=SEED, help="seed for random<N> subsets (default: 0)")
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


def _run_score(args: argparse.Namespace) -> int:
    from naslid.bench import load_benchmark, read_predictions, score_predictions, write_scores
    from naslid.bench.scoring import DEFAULT_KS, RANKING_METRICS

    check_output(args.out)
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
            **overrides(args, ["seed"]),
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
        line = f"{result.subset:<14}{result.n:>7}" + "".join(format_score(value, width)
                                                              for value, width in zip(values, widths, strict=True))
        print(line + (f"  ({result.note})" if result.note else ""))
    if args.out:
        print(f"wrote {write_scores(report, args.out)}")
    return 0


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
    parser.add_argument("--seed", type=SEED, help="seed of fresh initialisations and of the data draw (default 0)")
    parser.add_argument("--device", help="cpu (default), cuda, cuda:1 or auto")
    parser.add_argument("--out", default="lid_profile.json", help="JSON output (default lid_profile.json)")
    parser.add_argument("--plot", help="PNG output (default: --out with .png)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars (shown only on a terminal)")
    parser.add_argument("--progress", action="store_true", help=argparse.SUPPRESS)  # the old spelling: bars on a tty


def _run_profile(args: argparse.Namespace) -> int:
    from naslid.runs.profile import ProfileConfig, run_profile

    names = ["data", "data_path", "batch_size", "num_batches", "estimator", "k", "mode", "layers", "num_classes",
             "seed", "device", "sample_axis"]
    cfg = ProfileConfig(models=args.model, checkpoints=args.checkpoint or [], **overrides(args, names))
    profiles, json_path, plot_path = run_profile(cfg, args.out, args.plot, progress=bars(args))
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


# naslid.cli builds each command's parser with the first and runs the command with the second
HANDLERS = {"score": (_add_score_arguments, _run_score), "profile": (_add_profile_arguments, _run_profile),
            "spaces": (_add_spaces_arguments, _run_spaces), "presets": (_add_presets_arguments, _run_presets),
            "check": (_add_check_arguments, _run_check)}
