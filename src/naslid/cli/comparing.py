"""The commands that compare methods and show results: compare (methods side by side), demo (the pipeline end to
end) and report (a run's or a comparison's HTML page).
"""

from __future__ import annotations

import argparse

from naslid.cli import run_flags_data
from naslid.cli.configuration import benchmark_path, run_config, runner
from naslid.cli.output import bars, format_score
from naslid.cli.run_flags import add_run_flags, add_tracking_flags
from naslid.options import whole_numbers


def _add_compare_arguments(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument("--protocols", choices=run_flags_data.PROTOCOL_CHOICES, default="common",
                        help="common (default): every method on the preset's (and --protocol's) training, only the "
                        "split rules differ; own: each method on its own paper's released protocol (spos, nas-lid, "
                        "random-split: nas-lid-release; gm-nas: gm-nas; few-shot: few-shot-nas) at --scale, keeping "
                        "the data location, device and seeds")
    add_run_flags(parser)
    add_tracking_flags(parser, with_benchmark=False)
    parser.set_defaults(resolve_config=_compare_setup)  # what --print-config shows


def _run_compare(args: argparse.Namespace) -> int:
    from naslid.runs.compare import compare_methods

    config, plan = _compare_setup(args)
    benchmark = benchmark_path(args.benchmark)
    if args.track_ranking and benchmark is None:
        raise ValueError("--track-ranking needs ground truth: leave --benchmark unset or name a table")
    from naslid.runs.presets import get_preset

    common = args.protocol or get_preset(args.preset).protocol
    results = compare_methods(args.run_dir, config, plan, benchmark, args.column, progress=bars(args),
                              runner=runner(args), common_protocol=common)
    _print_compare(results, args.run_dir)
    return 0


def _compare_setup(args: argparse.Namespace):
    """What `naslid compare` runs: the configuration and the plan, every method's settings checked as the
    comparison checks them before it writes anything (`naslid.runs.compare.check_comparison`)."""
    from naslid.runs.compare import check_comparison

    config, plan = run_config(args)
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


def _print_compare(results: dict, run_dir: str) -> None:
    width = max(12, *(len(method) for method in results["methods"]))
    for method, summary in results["methods"].items():
        ranking = ", ".join(f"tau {r['subset']} {format_score(r['kendall_tau_b'], 6).strip()}"
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

    benchmark = benchmark_path(args.benchmark)
    from naslid.data import default_cifar10_path

    data_path = args.data_path or (str(default_cifar10_path()) if default_cifar10_path().exists() else None)
    if data_path is not None:
        preset = get_preset("demo")
        config = replace(preset.config, data=replace(preset.config.data, path=data_path))
        plan = preset.plan
        print("naslid demo: SPOS and NAS-LID on CIFAR-10 at 16x16 with a narrow NB201 supernet (preset 'demo': "
              f"{preset.purpose}); a few minutes on 2 CPU cores")
    else:
        preset = get_preset("tiny")
        config, plan = preset.config, preset.plan
        print("naslid demo: no CIFAR-10 found (pass --data-path); SPOS, Few-shot NAS, GM-NAS, NAS-LID and random "
              "splits on the bundled 8x8 digits (preset 'tiny': " + preset.purpose + ")")
    config = replace(config, device=args.device or "auto")
    print(f"ranking against: {benchmark or 'nothing (--benchmark none)'}")
    results = compare_methods(args.run_dir, config, plan, benchmark, progress=bars(args))
    _print_compare(results, args.run_dir)
    if data_path is None:
        print("note: 8x8 digits for a few epochs cannot rank CIFAR-10 architectures; with CIFAR-10 (--data-path) "
              "the demo trains the 'demo' preset instead")
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


# naslid.cli builds each command's parser with the first and runs the command with the second
HANDLERS = {"compare": (_add_compare_arguments, _run_compare), "demo": (_add_demo_arguments, _run_demo),
            "report": (_add_report_arguments, _run_report)}
