"""The commands about architectures: search (a run's proxy or any ranker), rank (any ranker against the
benchmark), export, retrain and latency-table.
"""

from __future__ import annotations

import argparse
import re

from naslid.cli.configuration import runner
from naslid.cli.output import bars, format_score
from naslid.cli.parsing import SEED, check_output, existing, overrides
from naslid.cli.run_flags import add_runner_flags
from naslid.options import integer, number


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
    parser.add_argument("--seed", type=SEED, help="search seed (default: the run's)")
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
    add_runner_flags(parser)
    _add_context_flags(parser.add_argument_group("a training-free --objective without a run: the network and images"))


def _run_search(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from naslid.bench import load_benchmark
    from naslid.rankers import get_ranker
    from naslid.runs import rank
    from naslid.runs.config import RunConfig
    from naslid.runs.partition import PartitionRun
    from naslid.runs.run_directory import CONFIG_FILE
    from naslid.runs.search import ranker_search, search_file, search_run
    from naslid.search import SearchConfig
    from naslid.spaces import get_space

    check_output(args.out)
    objective = get_ranker(args.objective) if args.objective else None
    settings = overrides(args, ["budget", "seed", "max_mflops", "max_params_m", "max_latency_ms"])
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
        config = RunConfig.load(existing(Path(args.run_dir) / CONFIG_FILE))
        _refuse_context_flags(args, args.run_dir)
        run = PartitionRun(args.run_dir, config, runner=runner(args))
        space_name, dataset, search = config.search_space, config.data.dataset, replace(config.search, **settings)
        context = None
    nb201 = space_name == "nb201"  # the only space with a ground-truth table
    benchmark = None if args.benchmark == "none" or not nb201 else load_benchmark(args.benchmark)
    if search.max_latency_ms is not None and not args.latency_table:
        raise ValueError(f"a latency budget ({search.max_latency_ms} ms) needs --latency-table FILE (build one with "
                         f"`naslid latency-table --space {space_name} ... --out FILE`)")
    table = _load_latency_table(args.latency_table) if args.latency_table else None
    if run is not None and (objective is None or objective.name == "proxy"):
        result = search_run(run, args.algorithm, search, latency_table=table, progress=bars(args))
        leaf = f"sub-supernet (leaf) {run.tree.leaf_for(result.best_arch).id}, "
        score = f"proxy accuracy {result.best_score:.2f}%"
    else:
        if run is not None:
            context = rank.run_context(run, seed=search.seed)
        result = ranker_search(objective, context, args.algorithm, search, latency_table=table,
                                    subspaces=[leaf.subspace for leaf in run.tree.leaves()] if run else None,
                                    progress=bars(args))
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

    check_output(args.out)
    if args.run_dir:
        from naslid.runs.config import RunConfig
        from naslid.runs.opened import OpenedRun
        from naslid.runs.run_directory import CONFIG_FILE

        config = RunConfig.load(existing(Path(args.run_dir) / CONFIG_FILE))
        for flag, value in (("--space", args.space), ("--width-mult", args.width_mult),
                            ("--num-classes", args.num_classes)):
            if value is not None:
                raise ValueError(f"{flag}: --run {args.run_dir} fixes the space and network; leave {flag} unset")
        space, network = config.search_space, config.network
        resolution = args.resolution or OpenedRun(args.run_dir, config).input_resolution()
    else:
        if args.space is None or args.resolution is None:
            raise ValueError("give --space and --resolution (or --run RUN_DIR)")
        space, resolution = args.space, args.resolution
        config_class = network_config_class(space)
        names = {item.name for item in fields(config_class)}
        settings = overrides(args, ["width_mult", "num_classes"])
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
    from naslid.runs.opened import OpenedRun
    from naslid.runs.run_directory import CONFIG_FILE
    from naslid.runs.search import find_search
    from naslid.search import load_search_result

    run_dir = Path(args.run_dir)
    config = RunConfig.load(existing(run_dir / CONFIG_FILE))
    if args.device is not None:
        from dataclasses import replace

        config = replace(config, device=args.device)
    run = OpenedRun(run_dir, config)
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
    parser.add_argument("--seed", type=SEED, help="initialisation and data-order seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _run_retrain(args: argparse.Namespace) -> int:
    from pathlib import Path

    from naslid.runs.retrain import RetrainConfig, retrain_exported

    cfg = RetrainConfig(**overrides(args, ["epochs", "batch_size", "learning_rate", "weight_decay",
                                            "label_smoothing", "seed"]))
    out = Path(args.out or Path(args.export_dir) / "retrain")
    result = retrain_exported(args.export_dir, out, cfg, device=args.device, progress=bars(args))
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
    parser.add_argument("--seed", type=SEED, default=0, help="initialisation, image batch and random<N> seed "
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
    check_output(out)
    if args.run_dir:
        from naslid.runs.config import RunConfig
        from naslid.runs.opened import OpenedRun
        from naslid.runs.run_directory import CONFIG_FILE

        _refuse_context_flags(args, args.run_dir)
        config = RunConfig.load(existing(Path(args.run_dir) / CONFIG_FILE))
        run = OpenedRun(args.run_dir, config)
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
                             share_isomorphic=args.share_isomorphic, progress=bars(args))
    print(f"ranked {len(archs):,} {space_name} architectures with {ranker.spelling} in {result.seconds:.1f} s "
          f"({context.data}; seed {args.seed})")
    if result.rankings:
        from naslid.runs.datasets import ranking_caveat

        print(f"against {truth.info.column}, beside the floor (params: a parameter count, no training):")
        print(f"  {'subset':<14}{'n':>6}{'tau-b':>9}{'Spearman':>10}{'params tau-b':>14}  ")
        for ranking, floor in zip(result.rankings, result.floor, strict=True):
            verdict = _versus_floor(ranking.kendall_tau_b, floor.kendall_tau_b)
            print(f"  {ranking.subset:<14}{ranking.n:>6}{format_score(ranking.kendall_tau_b, 9)}"
                  f"{format_score(ranking.spearman, 10)}{format_score(floor.kendall_tau_b, 14)}  {verdict}")
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


# naslid.cli builds each command's parser with the first and runs the command with the second
HANDLERS = {"search": (_add_search_arguments, _run_search), "rank": (_add_rank_arguments, _run_rank),
            "latency-table": (_add_latency_table_arguments, _run_latency_table),
            "export": (_add_export_arguments, _run_export), "retrain": (_add_retrain_arguments, _run_retrain)}
