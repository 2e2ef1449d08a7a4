"""Figures of a comparison: proxy vs ground truth, LID profiles of good and poor architectures, separability.

Every figure reads without the code: legends sit outside the axes (the layout reserves their room), each method
has one fixed colour in every figure (`method_colour`), abbreviations are spelled out in the labels, and each
`*_figure` function returns the matplotlib Figure that its `write_*` / `_save` caller writes to disk.
"""

from __future__ import annotations

import io
import math
import textwrap
import zlib
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg  # the object API: no pyplot, no global backend state
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from naslid.atomic import write_with
from naslid.bench import GroundTruth, kendall_tau_b
from naslid.partition import CRITERIA, lid_profile
from naslid.runs.protocols import METHODS
from naslid.spaces import NB201Arch, format_arch

_TAB10 = tuple(to_hex(colour) for colour in matplotlib.colormaps["tab10"].colors)
# a registered method's tab10 slot is its `Method.colour`; grey (slot 7) is the shared root's, red (slot 3) the zero
# line's
_SPARE_SLOTS = (9, 8, 6)
SHARED_ROOT_COLOUR = _TAB10[7]
_SUBSET_MARKERS = ("o", "^", "s", "D", "v", "P")
OP_NAMES = {"none": ("0", "none (zero)"), "skip_connect": ("s", "skip connection"),
            "nor_conv_1x1": ("c1", "1x1 convolution"), "nor_conv_3x3": ("c3", "3x3 convolution"),
            "avg_pool_3x3": ("p", "3x3 average pooling")}
MAX_TICK_LABELS = 40  # more layers than this: every few layers named


def method_colour(method: str) -> str:
    """The colour (hex) of `method` in every figure: a registered method's own tab10 colour (`Method.colour`), for
    any other a spare tab10 colour chosen by a checksum of its name (so also the same in every figure and run)."""
    registered = METHODS.get(method)
    slot = registered.colour if registered is not None else None
    if slot is None:
        slot = _SPARE_SLOTS[zlib.crc32(method.encode()) % len(_SPARE_SLOTS)]
    return _TAB10[slot]


def short_layer_name(name: str, width: int = 20) -> str:
    """`name` as a tick label: whole when it fits `width` characters, else its last dotted parts that fit (at
    least the last one, cut to `width`), after an ellipsis."""
    if len(name) <= width:
        return name
    parts = name.split(".")
    kept = parts[-1][-(width - 1):]
    for part in reversed(parts[:-1]):
        if len(part) + 1 + len(kept) > width - 1:
            break
        kept = f"{part}.{kept}"
    return "\u2026" + kept


def layer_tick_labels(names: Sequence[str], width: int = 20) -> list[str]:
    """Tick labels for layers `names` in order: shortened (`short_layer_name`), numbered where shortening
    made two of them equal."""
    short = [short_layer_name(str(name), width) for name in names]
    if len(set(short)) == len(short):
        return short
    return [f"{index + 1}: {label}" if short.count(label) > 1 else label for index, label in enumerate(short)]


def set_layer_ticks(axis, names: Sequence[str], fontsize: float = 7) -> None:
    """The layer names as the x tick labels of `axis` (layer i at x = i), rotated; past MAX_TICK_LABELS layers
    only every few are labelled."""
    step = max(1, math.ceil(len(names) / MAX_TICK_LABELS))
    positions = list(range(0, len(names), step))
    labels = layer_tick_labels(names)
    axis.set_xticks(positions, [labels[i] for i in positions], rotation=60, ha="right", rotation_mode="anchor",
                    fontsize=fontsize)
    axis.set_xlim(-0.5, len(names) - 0.5)


def new_figure(width: float, height: float) -> Figure:
    """A figure with constrained layout (which reserves room for legends placed outside the axes) on an Agg
    canvas, not registered with pyplot."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def write_compare_plots(folder: Path, outcomes: list, truth: GroundTruth | None, plan, separability: dict,
                        subsets: list | None = None, curves: dict | None = None,
                        splits: dict[str, Sequence[int]] | None = None) -> list[str]:
    """Write the comparison figures into `folder`; returns their paths. `splits` (method: its split epochs)
    marks the splits on the tau-while-training curves; by default each outcome's run schedule says them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [_save(scatter_figure(outcomes, truth, subsets or []), folder / "proxy_vs_truth.png")]
    curves = {method: curve for method, curve in (curves or {}).items() if curve}
    if curves:
        marks = splits if splits is not None else split_epochs_of(outcomes)
        paths.append(_save(tau_curves_figure(curves, plan, marks), folder / "tau_while_training.png"))
    trained = [o for o in outcomes if getattr(o, "run", None) is not None]  # training-free rankers have no leaves
    if trained:
        profiled = next((o for o in reversed(trained) if _splits_by_lid_profiles(o.run.cfg)), trained[-1])
        paths.append(_profiles(folder / "lid_profiles.png", profiled, truth, plan))
    if separability:
        paths.append(_save(separability_figure(separability), folder / "separability.png"))
    return [str(p) for p in paths]


def _splits_by_lid_profiles(cfg) -> bool:
    """Whether a run's splits compare LID profiles (its criterion says so): its leaves' profiles are the ones shown."""
    return cfg.schedule.method == "split" and CRITERIA[cfg.split.criterion].compares_lid_profiles


def split_epochs_of(outcomes: list) -> dict[str, list[int]]:
    """Each outcome's split epochs, from its run's schedule (none for an outcome without one)."""
    out = {}
    for outcome in outcomes:
        schedule = getattr(getattr(getattr(outcome, "run", None), "cfg", None), "schedule", None)
        if schedule is not None:
            out[outcome.method] = [int(epoch) for epoch in schedule.split_points]
    return out


def _save(figure: Figure, path: Path) -> Path:
    if figure.get_layout_engine() is None:
        figure.tight_layout()
    write_with(path, lambda handle: figure.savefig(handle, format=path.suffix[1:] or None, dpi=120))
    return path


def png_bytes(figure: Figure, dpi: int = 100) -> bytes:
    """`figure` as PNG bytes (for a page that inlines its figures), laid out like `_save` lays out a file."""
    if figure.get_layout_engine() is None:
        figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _outside_legend(figure: Figure, handles: list, where: str = "lower center", columns: int | None = None,
                    **options):
    """A legend outside every axes, in the room the constrained layout reserves at `where`."""
    columns = columns or (min(len(handles), 4) if where.startswith("lower") else 1)
    return figure.legend(handles=handles, loc=f"outside {where}", ncols=columns, fontsize=7, frameon=False,
                         **options)


def scatter_figure(outcomes: list, truth: GroundTruth | None, subsets: list) -> Figure:
    """One panel per method: its proxy accuracy against the ground truth accuracy of each ranked subset, in the
    method's colour (a marker per subset), Kendall tau-b per subset in the title."""
    columns = len(outcomes)
    figure = new_figure(3.8 * columns, 4.2)
    axes = figure.subplots(1, columns, squeeze=False)[0]
    handles: dict[str, Line2D] = {}
    for axis, outcome in zip(axes, outcomes, strict=True):
        colour = method_colour(outcome.method)
        if truth is None:
            axis.hist(list(outcome.scores.values()), bins=30, color=colour)
            axis.set_xlabel("proxy accuracy (%)")
            axis.set_ylabel("architectures")
            axis.set_title(f"{outcome.method} (no benchmark given)", fontsize=9)
            continue
        groups = [(s.name, list(s.archs)) for s in subsets] or [("scored", list(outcome.scores))]
        titles = [outcome.method]
        for index, (name, archs) in enumerate(groups):
            proxy = np.array([outcome.scores[a] for a in archs])
            gt = np.array([truth.values[a] for a in archs])
            tau = kendall_tau_b(proxy, gt)
            marker, filled = _SUBSET_MARKERS[index % len(_SUBSET_MARKERS)], index == 0
            axis.scatter(gt, proxy, s=10, alpha=0.7, marker=marker, facecolors=colour if filled else "none",
                         edgecolors=colour, linewidths=0.8, label=f"{name} (n={len(archs)})")
            titles.append(f"Kendall tau-b, {name}: {tau:.3f}")
            handles.setdefault(name, Line2D([], [], linestyle="none", marker=marker, color="black",
                                            markerfacecolor="black" if filled else "none",
                                            label=f"{name} ({len(archs)} architectures)"))
        axis.set_xlabel(f"ground truth accuracy: {truth.column} (%)", fontsize=8)
        axis.set_ylabel("proxy accuracy with supernet weights (%)", fontsize=8)
        axis.set_title("\n".join(titles), fontsize=8, color=colour)
        axis.grid(alpha=0.3)
    if handles:
        _outside_legend(figure, list(handles.values()), title="architectures ranked (the marker; the colour is "
                        "the method's)", title_fontsize=7)
    return figure


def _profiles(path: Path, outcome, truth: GroundTruth | None, plan) -> Path:
    run = outcome.run
    ranked = sorted(outcome.scores, key=lambda a: truth.values[a] if truth is not None else outcome.scores[a])
    count = min(plan.profile_archs, len(ranked) // 2)
    chosen = [(a, "best") for a in ranked[::-1][:count]] + [(a, "worst") for a in ranked[:count]]
    split = run.cfg.split
    batches = run.data.batches(plan.profile_batches, split.batch_size, seed=run.cfg.seed + 1)
    lines = []
    for arch, kind in chosen:
        net = run.load_network(run.tree.leaf_for(arch)).eval()
        with torch.no_grad():
            values = torch.stack([lid_profile(net, arch, images, split.k) for images, _ in batches]).mean(0).cpu()
        label_value = truth.values[arch] if truth is not None else outcome.scores[arch]
        lines.append((kind, f"{kind}: {label_value:.1f}%  {_short(arch)}", values.numpy()))
    source = "ground truth accuracy" if truth is not None else "proxy accuracy"
    title = (f"Local intrinsic dimension (LID) profiles of the best and worst architectures by {source}\n"
             f"({outcome.method} leaf weights, batch normalisation running statistics of the leaf)")
    caption = _ops_caption([arch for arch, _ in chosen])
    return _save(lid_profiles_figure(lines, _layer_names(net, len(lines[0][2])), split.batch_size, split.k,
                                     title, caption), path)


def lid_profiles_figure(lines: list[tuple[str, str, np.ndarray]], layers: Sequence[str], n: int, k: int,
                        title: str, caption: str = "") -> Figure:
    """LID per layer of each (kind "best" or "worst", label, values) line, the layer names on the x axis."""
    figure = new_figure(max(7.0, min(16.0, 2.5 + 0.3 * len(layers))), 5.2 + 0.12 * len(lines))
    axis = figure.add_subplot()
    styles = {"best": ("#1b7837", "-", "o"), "worst": ("#b2182b", "--", "s")}
    for kind, label, values in lines:
        colour, style, marker = styles.get(kind, ("black", ":", "x"))
        axis.plot(np.arange(len(values)), values, linestyle=style, marker=marker, markersize=3, color=colour,
                  alpha=0.85, label=label)
    set_layer_ticks(axis, layers)
    axis.set_xlabel("layer (in forward order)")
    axis.set_ylabel(f"local intrinsic dimension (LID)\nmaximum-likelihood estimate, n = {n} images, k = {k} "
                    "neighbours", fontsize=8)
    axis.set_title(title, fontsize=9)
    axis.grid(alpha=0.3)
    handles, _ = axis.get_legend_handles_labels()
    _outside_legend(figure, handles, columns=2 if len(handles) > 3 else 1,
                    title=caption or None, title_fontsize=7)
    return figure


ESTIMATOR_NAMES = {"mle": "maximum-likelihood estimate (Levina-Bickel)",
                   "mackay_ghahramani": "maximum-likelihood estimate (MacKay-Ghahramani)",
                   "twonn": "two-nearest-neighbours estimate (TwoNN)"}


def profiles_figure(profiles: Sequence, title: str = "") -> Figure:
    """The figure of `naslid profile`: LID per layer of each profile (mean line, band of +- one standard
    deviation over batches), the layer names on the x axis; one panel per distinct list of layers (models with
    other layers get their own panel), all on one LID scale."""
    groups: dict[tuple[str, ...], list] = {}
    for profile in profiles:
        groups.setdefault(tuple(str(layer) for layer in profile.layers), []).append(profile)
    longest = max(len(layers) for layers in groups)
    figure = new_figure(max(8.0, min(18.0, 2.5 + 0.3 * longest)), 0.5 + 4.2 * len(groups) + 0.22 * len(profiles))
    axes = figure.subplots(len(groups), 1, squeeze=False, sharey=True)[:, 0]
    handles: list = []
    for number, (axis, (layers, members)) in enumerate(zip(axes, groups.items(), strict=True)):
        for profile in members:
            colour = _TAB10[len(handles) % len(_TAB10)]
            positions = np.arange(len(layers))
            mean, spread = np.asarray(profile.mean, dtype=float), np.asarray(profile.std, dtype=float)
            (line,) = axis.plot(positions, mean, marker="o", markersize=3.5, linewidth=1.6, color=colour,
                                label=profile.label or f"model {len(handles) + 1}")
            handles.append(line)
            if profile.num_batches > 1:
                axis.fill_between(positions, mean - spread, mean + spread, color=colour, alpha=0.18, linewidth=0)
        set_layer_ticks(axis, layers)
        axis.set_xlabel("layer (in forward order)", fontsize=8)
        axis.set_ylabel("local intrinsic dimension (LID)\nmean over batches", fontsize=8)
        axis.set_ylim(bottom=0.0)
        axis.grid(True, alpha=0.3)
        if len(groups) > 1:
            axis.set_title(f"models with these {len(layers)} layers: " + ", ".join(p.label for p in members),
                           fontsize=8)
        if number == 0 and title:
            figure.suptitle(title, fontsize=10)
    batches = sorted({p.num_batches for p in profiles if p.num_batches > 1})
    if batches:
        handles.append(Patch(color="0.6", alpha=0.35, label="band: \u00b1 1 standard deviation over "
                             f"{'/'.join(map(str, batches))} batches (in the line's colour)"))
    estimators = sorted({p.estimator for p in profiles})
    caption = ("LID: local intrinsic dimension, " + "; ".join(f"{e}: {ESTIMATOR_NAMES.get(e, e)}" for e in estimators)
               + "; n: images per batch; k: nearest neighbours the estimator uses")
    _outside_legend(figure, handles, columns=1 if len(handles) <= 6 else 2, title=textwrap.fill(caption, 120),
                    title_fontsize=7)
    return figure


def _layer_names(net, count: int) -> list[str]:
    """The names of `net`'s profiled layers: its `layer_names` when it has them, else the module names of its
    probed layers, else numbers."""
    names = getattr(net, "layer_names", None)
    if names is not None and len(names) == count:
        return [str(name) for name in names]
    layers = list(net.probed_layers()) if hasattr(net, "probed_layers") else list(getattr(net, "cells", []))
    modules = {id(module): name for name, module in net.named_modules()}
    found = [modules.get(id(layer), "") for layer in layers]
    if len(found) == count and all(found):
        return found
    return [f"layer {index + 1}" for index in range(count)]


def _ops_caption(archs: list) -> str:
    """What the short op names of `_short` stand for, when every one of `archs` is written with them."""
    if not archs or not all(arch and all(op in OP_NAMES for op in getattr(arch, "ops", ())) for arch in archs):
        return ""
    return "ops of the edges in [ ]: " + ", ".join(f"{short} = {name}" for short, name in OP_NAMES.values())


def shared_root_epochs(curves: dict[str, list[dict]], splits: dict[str, Sequence[int]] | None = None) -> list[int]:
    """The first epochs of the curves, where every method's curve has the same values (the shared root trains
    them once for all); none for a single curve. With `splits`, no later than the earliest split epoch."""
    if len(curves) < 2:
        return []
    by_epoch = [{point["epoch"]: point for point in curve} for curve in curves.values()]
    firsts = [min(epochs) for epochs in (splits or {}).values() if epochs]
    last = min(firsts) if firsts else math.inf
    out = []
    for epoch in sorted(set().union(*by_epoch)):
        if epoch > last or any(epoch not in points for points in by_epoch):
            break
        values = [_tau_values(points[epoch]) for points in by_epoch]
        if any(len(v) != len(values[0]) or not np.allclose(v, values[0], rtol=0, atol=1e-12, equal_nan=True)
               for v in values):
            break
        out.append(epoch)
    return out


def _tau_values(point: dict) -> np.ndarray:
    seeds = point.get("kendall_tau_b_seeds") or [point["kendall_tau_b"]]
    return np.array([math.nan if v is None else v for v in [point["kendall_tau_b"], *seeds]], dtype=float)


def _tau_series(points: list[dict]) -> tuple[list, np.ndarray, list[float], list[float]]:
    epochs = [p["epoch"] for p in points]
    taus = np.array([math.nan if p["kendall_tau_b"] is None else p["kendall_tau_b"] for p in points], dtype=float)
    seeds = [[v for v in (p.get("kendall_tau_b_seeds") or [p["kendall_tau_b"]]) if v is not None] or [math.nan]
             for p in points]
    return epochs, taus, [min(s) for s in seeds], [max(s) for s in seeds]


def tau_curves_figure(curves: dict[str, list[dict]], plan, splits: dict[str, Sequence[int]] | None = None) -> Figure:
    """Kendall tau-b against epoch per method, in the method's colour; the epochs every method shares (the shared
    root) drawn once in grey; each method's split epochs as vertical dashed lines in its colour; a stretch where
    some methods' curves coincide dashed in their colours in turn; with several seeds, each point's spread as a
    whisker (no shaded bands, whose overlaps would blend into colours no legend shows)."""
    splits = {method: list(epochs) for method, epochs in (splits or {}).items() if method in curves}
    figure = new_figure(8.6, 4.6)
    axis = figure.add_subplot()
    shared = shared_root_epochs(curves, splits)
    seeds = max(len(p.get("kendall_tau_b_seeds") or [0]) for curve in curves.values() for p in curve)
    epochs_all = sorted({p["epoch"] for curve in curves.values() for p in curve})
    nudge = 0.012 * max(1, epochs_all[-1] - epochs_all[0])  # whiskers of the methods side by side
    handles: list = []
    if shared:
        points = [p for p in next(iter(curves.values())) if p["epoch"] in shared]
        epochs, taus, low, high = _tau_series(points)
        span = f"epoch {shared[0]}" if len(shared) == 1 else f"epochs {shared[0]}\u2013{shared[-1]}"
        (line,) = axis.plot(epochs, taus, "-o", color=SHARED_ROOT_COLOUR, linewidth=2.4, markersize=4, zorder=3,
                            label=f"shared root: every method ({span})", gid="shared-root")
        handles.append(line)
        if seeds > 1:
            axis.errorbar(epochs, taus, yerr=_whiskers(taus, low, high), fmt="none", ecolor=SHARED_ROOT_COLOUR,
                          elinewidth=1, capsize=2, zorder=3)
    segments: dict[tuple, list[str]] = {}
    for index, (method, curve) in enumerate(curves.items()):
        colour = method_colour(method)
        # from the last shared epoch on, so that the method's line continues the shared root's
        points = [p for p in curve if not shared or p["epoch"] >= shared[-1]]
        own = [p for p in points if not shared or p["epoch"] > shared[-1]]
        epochs, taus, low, high = _tau_series(points)
        for start in range(len(points) - 1):
            key = (epochs[start], _rounded(taus[start]), epochs[start + 1], _rounded(taus[start + 1]))
            segments.setdefault(key, []).append(method)
        own_epochs, own_taus, own_low, own_high = _tau_series(own)
        axis.plot(own_epochs, own_taus, "o", color=colour, markersize=3.5, zorder=2, label=method,
                  gid=f"curve:{method}")
        handles.append(Line2D([], [], color=colour, marker="o", markersize=3.5, linewidth=1.5, label=method))
        if seeds > 1 and own:
            shift = (index - (len(curves) - 1) / 2) * nudge
            axis.errorbar(np.add(own_epochs, shift), own_taus, yerr=_whiskers(own_taus, own_low, own_high),
                          fmt="none", ecolor=colour, elinewidth=1, capsize=2, zorder=2)
    coincide = _curve_segments(axis, segments)
    _split_lines(axis, splits)
    axis.axhline(0.0, color="black", linewidth=0.8)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("epoch of supernet training")
    axis.set_ylabel("Kendall tau-b rank correlation\nwith ground truth accuracy", fontsize=9)
    n = next(iter(curves.values()))[0]["n"]
    subset = getattr(plan, "track_subset", None) or "tracked architectures"
    axis.set_title(f"Ranking while training: proxy vs ground truth accuracy\non {subset} ({n} architectures)",
                   fontsize=9)
    axis.grid(alpha=0.3)
    if coincide:
        handles.append(Line2D([], [], color="0.3", linestyle=(0, (4, 2)), linewidth=1.5,
                              label="dashes in turns: the curves of those methods coincide"))
    if any(splits.values()):
        handles.append(Line2D([], [], color="black", linestyle="--", linewidth=1.1,
                              label="split epoch (vertical, in the colour of the method splitting)"))
    if seeds > 1:
        handles.append(Line2D([], [], color="0.3", marker="_", markersize=6, linewidth=1,
                              label=f"whisker: minimum to maximum over {seeds} seeds (dot: the mean)"))
    _outside_legend(figure, handles, where="right upper")
    return figure


def ranking_curve_figure(curves: dict[str, list[dict]]) -> Figure:
    """Kendall tau-b (solid, with markers) and Spearman (dashed, same colour) against epoch, one pair of lines per
    labelled curve: the ranking while training of one run (`naslid report`), whose points carry both."""
    figure = Figure(figsize=(7.0, 3.8))
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    for label, curve in curves.items():
        epochs = [point["epoch"] for point in curve]
        (line,) = axis.plot(epochs, [_nan(p["kendall_tau_b"]) for p in curve], "-o", markersize=3,
                            label=f"{label}: Kendall tau-b")
        axis.plot(epochs, [_nan(p.get("spearman")) for p in curve], "--", color=line.get_color(), alpha=0.6,
                  label=f"{label}: Spearman")
    axis.axhline(0.0, color="grey", linewidth=0.8)
    axis.set_xlabel("epoch")
    axis.set_ylabel("rank correlation with ground truth")
    axis.legend(fontsize=7)
    axis.grid(alpha=0.3)
    return figure


def _nan(value: object) -> float:
    return math.nan if value is None else float(value)


def _whiskers(taus: np.ndarray, low: list[float], high: list[float]) -> np.ndarray:
    """Errorbar lengths below and above each mean to the seeds' minimum and maximum (never negative: a mean
    rounded past its seeds' extreme)."""
    return np.maximum(0.0, np.array([taus - np.asarray(low, dtype=float), np.asarray(high, dtype=float) - taus]))


def _rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 12)


def _curve_segments(axis, segments: dict[tuple, list[str]]) -> bool:
    """Each stretch between two tracked epochs once: solid in the colour of the one method it belongs to, or
    dashed in the colours of the methods whose curves coincide there, in turns so that every colour shows.
    Whether any stretch is shared."""
    for (start, low, end, high), methods in segments.items():
        ys = [math.nan if low is None else low, math.nan if high is None else high]
        dash, count = 5.0, len(methods)
        for index, method in enumerate(methods):
            style = "-" if count == 1 else (index * dash, (dash, dash * (count - 1)))
            axis.plot([start, end], ys, linestyle=style, color=method_colour(method), linewidth=1.5, zorder=2,
                      gid=f"segment:{method}:{start}-{end}")
    return any(len(methods) > 1 for methods in segments.values())


def _split_lines(axis, splits: dict[str, list[int]]) -> None:
    """A vertical dashed line per method and split epoch, in the method's colour; methods that split at the same
    epoch share the line, their dashes alternating so that every colour shows."""
    at: dict[int, list[str]] = {}
    for method, epochs in splits.items():
        for epoch in epochs:
            at.setdefault(int(epoch), []).append(method)
    for epoch, methods in sorted(at.items()):
        dash, count = 4.0, len(methods)
        for index, method in enumerate(methods):
            style = "--" if count == 1 else (index * dash, (dash, dash * (count - 1)))
            axis.axvline(epoch, color=method_colour(method), linestyle=style, linewidth=1.3, zorder=1,
                         gid=f"split:{method}:{epoch}")


def _short(arch: NB201Arch) -> str:
    short = {op: letters for op, (letters, _) in OP_NAMES.items()}
    return "[" + " ".join(short[op] for op in arch.ops) + "]" if arch else format_arch(arch)


def separability_figure(table: dict) -> Figure:
    """Per edge, one bar per criterion (method) in the method's colour."""
    methods = list(table)
    edges = list(next(iter(table.values())))
    width = 0.8 / len(methods)
    figure = new_figure(8.4, 3.8)
    axis = figure.add_subplot()
    for i, method in enumerate(methods):
        positions = np.arange(len(edges)) + (i - (len(methods) - 1) / 2) * width
        axis.bar(positions, [table[method][e] for e in edges], width, label=method, color=method_colour(method))
    axis.set_xticks(np.arange(len(edges)), edges)
    axis.set_xlabel("edge (choice point) of the cell")
    axis.set_ylabel("separability: coefficient of variation\nof the op similarities", fontsize=8)
    axis.set_title("How well each criterion tells the ops of an edge apart (root supernet)", fontsize=9)
    axis.grid(axis="y", alpha=0.3)
    _outside_legend(figure, axis.get_legend_handles_labels()[0], where="right upper", title="criterion (method)",
                    title_fontsize=7)
    return figure


# each paired role of a comparison: the key naming its baseline, and how the figure names it
PAIRED_BASELINES = {"against_control": ("control", "the control"),
                    "against_reference": ("reference", "the reference"),
                    "against_floor": ("floor", "the floor: no training")}


def write_paired_plot(path: Path, paired: dict, caveat: str | None = None, role: str = "against_control"
                      ) -> str | None:
    """Each method's tau minus a baseline's (the control's, or with `role` the reference's or the floor's), paired
    by seed: the mean, its 95% interval and every seed's difference, one panel per subset, the zero line marked;
    None when nothing is paired. A `caveat` (the ranking cannot speak for the method, `ranking_caveat`) is printed
    under the title."""
    figure = paired_figure(paired, caveat, role)
    if figure is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(_save(figure, path))


def paired_figure(paired: dict, caveat: str | None = None, role: str = "against_control") -> Figure | None:
    """The figure of `write_paired_plot` (None when nothing is paired); each method's mean and interval in its
    colour."""
    key, described = PAIRED_BASELINES[role]
    rows = paired.get(role) or {}
    subsets = list(next(iter(rows.values()))) if rows else []
    if not subsets:  # nothing paired, or nothing ranked (no ground truth)
        return None
    methods = list(rows)
    figure = new_figure(4.2 * len(subsets) + 0.6, 0.5 * len(methods) + 2.6 + (0.5 if caveat else 0.0))
    axes = figure.subplots(1, len(subsets), squeeze=False, sharey=True)
    for axis, subset in zip(axes[0], subsets, strict=True):
        for position, method in enumerate(methods):
            row = rows[method][subset]
            if row["mean"] is None:
                continue
            colour = method_colour(method)
            if row["interval"] is not None:
                low, high = row["interval"]
                axis.plot([low, high], [position, position], color=colour, linewidth=2.5, solid_capstyle="butt")
            axis.plot(row["mean"], position, "o", color=colour, markersize=6)
            axis.plot(row["differences"], [position] * len(row["differences"]), "x", color="black", markersize=5)
        axis.axvline(0.0, color="tab:red", linewidth=1)
        axis.set_title(f"`{subset}`", fontsize=9)
        axis.set_xlabel(f"Kendall tau-b minus {paired[key]}'s\n({described})", fontsize=8)
        axis.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(methods)), methods, fontsize=8)
    axes[0][0].set_ylim(-0.7, len(methods) - 0.3)
    title = f"Paired by seed: each method's Kendall tau-b rank correlation minus {described.split(':')[0]}'s"
    if caveat:
        title += "\n" + textwrap.fill(f"Caveat: {caveat}", 110)
    figure.suptitle(title, fontsize=9, color="black" if not caveat else "tab:red")
    handles = [Line2D([], [], linestyle="none", marker="o", color="0.3", label="mean over seeds (dot)"),
               Line2D([], [], color="0.3", linewidth=2.5, label="95% bootstrap interval (bar)"),
               Line2D([], [], linestyle="none", marker="x", color="black", label="one seed's difference (x)"),
               Line2D([], [], color="tab:red", linewidth=1, label="zero: no difference")]
    _outside_legend(figure, handles, title="dot and bar in the method's colour", title_fontsize=7)
    return figure


def write_reliability_plot(path: Path, reliability: dict) -> str | None:
    """Each method's first split (the root's): per candidate point, the share of bootstrap resamples that
    choose it (bar) and that recur its grouping (dot); None when no decision carries a bootstrap."""
    figure = reliability_figure(reliability)
    if figure is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(_save(figure, path))


def reliability_figure(reliability: dict) -> Figure | None:
    """The figure of `write_reliability_plot` (None when no decision carries a bootstrap): the bar of the point
    split in the method's colour, the other points' bars grey."""
    roots = {method: decisions[0] for method, decisions in reliability.items() if decisions}
    if not roots:
        return None
    figure = new_figure(4.2 * len(roots) + 0.4, 4.2)
    axes = figure.subplots(1, len(roots), squeeze=False, sharey=True)
    for axis, (method, decision) in zip(axes[0], roots.items(), strict=True):
        points = list(decision["shares"])
        positions = np.arange(len(points))
        colours = [method_colour(method) if p == decision["point"] else "0.75" for p in points]
        axis.bar(positions, [decision["shares"][p] for p in points], color=colours)
        axis.plot(positions, [decision["recurrence"][p] for p in points], "o", color="black")
        axis.set_xticks(positions, points, rotation=45, fontsize=7)
        axis.set_xlabel("candidate point (edge) of the split", fontsize=8)
        axis.set_ylim(0, 1.05)
        axis.set_title(f"{method}: node {decision['node']} split on {decision['point']}", fontsize=8,
                       color=method_colour(method))
        axis.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel(f"share of {next(iter(roots.values()))['resamples']} bootstrap resamples")
    figure.suptitle("How sure the first split is", fontsize=9)
    handles = [Patch(color="0.75", label="share of resamples choosing the point (bar)"),
               Patch(color="0.35", label="the point split (bar in the method's colour)"),
               Line2D([], [], linestyle="none", marker="o", color="black",
                      label="share of resamples in which its grouping of the ops recurs (dot)")]
    _outside_legend(figure, handles, columns=2)
    return figure
