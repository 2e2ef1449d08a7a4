"""Figures of a comparison: proxy vs ground truth, LID profiles of good and poor architectures, separability."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from naslid.bench import GroundTruth, kendall_tau_b  # noqa: E402
from naslid.partition import lid_profile  # noqa: E402
from naslid.spaces import Arch, format_arch  # noqa: E402


def write_compare_plots(folder: Path, outcomes: list, truth: GroundTruth | None, plan, separability: dict,
                        subsets: list | None = None, curves: dict | None = None) -> list[str]:
    """Write the comparison figures into `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [_scatter(folder / "proxy_vs_truth.png", outcomes, truth, subsets or [])]
    curves = {method: curve for method, curve in (curves or {}).items() if curve}
    if curves:
        paths.append(_tau_curves(folder / "tau_while_training.png", curves, plan))
    profiled = next((o for o in reversed(outcomes) if o.method == "nas-lid"), outcomes[-1])
    paths.append(_profiles(folder / "lid_profiles.png", profiled, truth, plan))
    if separability:
        paths.append(_separability(folder / "separability.png", separability))
    return [str(p) for p in paths]


def _save(figure: plt.Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _scatter(path: Path, outcomes: list, truth: GroundTruth | None, subsets: list) -> Path:
    columns = len(outcomes)
    figure, axes = plt.subplots(1, columns, figsize=(3.6 * columns, 3.4), squeeze=False)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:purple"]
    for axis, outcome in zip(axes[0], outcomes, strict=True):
        if truth is None:
            axis.hist(list(outcome.scores.values()), bins=30)
            axis.set_xlabel("proxy accuracy (%)")
            axis.set_ylabel("architectures")
            axis.set_title(f"{outcome.method} (no benchmark given)", fontsize=9)
            continue
        groups = [(s.name, list(s.archs)) for s in subsets] or [("scored", list(outcome.scores))]
        titles = []
        for (name, archs), colour in zip(groups, colours, strict=False):
            proxy = np.array([outcome.scores[a] for a in archs])
            gt = np.array([truth.values[a] for a in archs])
            tau = kendall_tau_b(proxy, gt)
            axis.scatter(gt, proxy, s=6, alpha=0.6, color=colour, label=f"{name} (n={len(archs)})")
            titles.append(f"tau {name} {tau:.3f}")
        axis.set_xlabel(f"ground truth: {truth.column} (%)")
        axis.set_ylabel("proxy accuracy (%)")
        axis.set_title(f"{outcome.method}\n" + ", ".join(titles), fontsize=8)
        axis.legend(fontsize=6, loc="lower left")
        axis.grid(alpha=0.3)
    return _save(figure, path)


def _profiles(path: Path, outcome, truth: GroundTruth | None, plan) -> Path:
    run = outcome.run
    ranked = sorted(outcome.scores, key=lambda a: truth.values[a] if truth is not None else outcome.scores[a])
    count = min(plan.profile_archs, len(ranked) // 2)
    chosen = [(a, "best") for a in ranked[::-1][:count]] + [(a, "worst") for a in ranked[:count]]
    split = run.cfg.split
    batches = run.data.batches(plan.profile_batches, split.batch_size, seed=run.cfg.seed + 1)
    figure, axis = plt.subplots(figsize=(7, 4.2))
    for arch, kind in chosen:
        net = run.load_network(run.tree.leaf_for(arch)).eval()
        with torch.no_grad():
            values = torch.stack([lid_profile(net, arch, images, split.k) for images, _ in batches]).mean(0).cpu()
        depth = np.linspace(0, 1, len(values))
        label_value = truth.values[arch] if truth is not None else outcome.scores[arch]
        axis.plot(depth, values.numpy(), "-o", markersize=3, color="tab:green" if kind == "best" else "tab:red",
                  alpha=0.8, label=f"{kind}: {label_value:.1f}%  {_short(arch)}")
    cells = len(net.cells)
    axis.set_xlabel(f"relative depth ({cells} blocks: {cells - 2} cells, 2 reduction blocks)")
    axis.set_ylabel(f"LID (MLE, n={split.batch_size}, k={split.k})")
    source = "ground truth" if truth is not None else "proxy"
    axis.set_title(f"LID profiles of the best and worst architectures by {source}\n({outcome.method} leaf weights, "
                   "BN running statistics of the leaf)", fontsize=9)
    axis.legend(fontsize=6, loc="best")
    axis.grid(alpha=0.3)
    return _save(figure, path)


def _tau_curves(path: Path, curves: dict[str, list[dict]], plan) -> Path:
    figure, axis = plt.subplots(figsize=(7, 4.2))
    for method, curve in curves.items():
        epochs = [p["epoch"] for p in curve]
        taus = np.array([p["kendall_tau_b"] for p in curve])
        axis.plot(epochs, taus, "-o", markersize=3, label=method)
        seeds = [p.get("kendall_tau_b_seeds") or [p["kendall_tau_b"]] for p in curve]
        if max(len(s) for s in seeds) > 1:
            axis.fill_between(epochs, [min(s) for s in seeds], [max(s) for s in seeds], alpha=0.15)
    axis.axhline(0.0, color="grey", linewidth=0.8)
    axis.set_xlabel("epoch")
    axis.set_ylabel("Kendall tau-b vs ground truth")
    n = curves[next(iter(curves))][0]["n"]
    band = " (line: mean over seeds; band: min to max)" if len(plan.seeds) > 1 else ""
    axis.set_title(f"Ranking while training: {plan.track_subset} ({n} archs){band}", fontsize=9)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    return _save(figure, path)


def _short(arch: Arch) -> str:
    short = {"none": "0", "skip_connect": "s", "nor_conv_1x1": "c1", "nor_conv_3x3": "c3", "avg_pool_3x3": "p"}
    return "[" + " ".join(short[op] for op in arch.ops) + "]" if arch else format_arch(arch)


def _separability(path: Path, table: dict) -> Path:
    methods = list(table)
    edges = list(next(iter(table.values())))
    width = 0.8 / len(methods)
    figure, axis = plt.subplots(figsize=(7, 3.6))
    for i, method in enumerate(methods):
        positions = np.arange(len(edges)) + (i - (len(methods) - 1) / 2) * width
        axis.bar(positions, [table[method][e] for e in edges], width, label=method)
    axis.set_xticks(np.arange(len(edges)), edges)
    axis.set_xlabel("edge")
    axis.set_ylabel("separability (CV of similarities)")
    axis.set_title("How well each criterion tells the ops of an edge apart (root supernet)", fontsize=9)
    axis.legend(fontsize=8)
    axis.grid(axis="y", alpha=0.3)
    return _save(figure, path)


def write_paired_plot(path: Path, paired: dict) -> str | None:
    """Each method's tau minus the control's, paired by seed: the mean, its 95% interval and every seed's
    difference, one panel per subset, the zero line marked; None when nothing is paired."""
    rows = paired.get("against_control") or {}
    if not rows:
        return None
    subsets = list(next(iter(rows.values())))
    methods = list(rows)
    figure, axes = plt.subplots(1, len(subsets), figsize=(4.2 * len(subsets), 0.5 * len(methods) + 1.6),
                                squeeze=False, sharey=True)
    for axis, subset in zip(axes[0], subsets, strict=True):
        for position, method in enumerate(methods):
            row = rows[method][subset]
            if row["mean"] is None:
                continue
            if row["interval"] is not None:
                low, high = row["interval"]
                axis.plot([low, high], [position, position], color="tab:blue", linewidth=2.5, solid_capstyle="butt")
            axis.plot(row["mean"], position, "o", color="tab:blue", markersize=6)
            axis.plot(row["differences"], [position] * len(row["differences"]), "x", color="black", markersize=5)
        axis.axvline(0.0, color="tab:red", linewidth=1)
        axis.set_title(f"`{subset}`", fontsize=9)
        axis.set_xlabel(f"Kendall tau minus {paired['control']}")
        axis.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(methods)), methods, fontsize=8)
    axes[0][0].set_ylim(-0.7, len(methods) - 0.3)
    figure.suptitle("Paired by seed: mean (dot), 95% bootstrap interval (bar), each seed (x)", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(_save(figure, path))


def write_reliability_plot(path: Path, reliability: dict) -> str | None:
    """Each method's first split (the root's): per candidate point, the share of bootstrap resamples that
    choose it (bar) and that recur its grouping (dot); None when no decision carries a bootstrap."""
    roots = {method: decisions[0] for method, decisions in reliability.items() if decisions}
    if not roots:
        return None
    figure, axes = plt.subplots(1, len(roots), figsize=(4.2 * len(roots), 3.4), squeeze=False, sharey=True)
    for axis, (method, decision) in zip(axes[0], roots.items(), strict=True):
        points = list(decision["shares"])
        positions = np.arange(len(points))
        colours = ["tab:orange" if p == decision["point"] else "tab:blue" for p in points]
        axis.bar(positions, [decision["shares"][p] for p in points], color=colours, label="chosen in")
        axis.plot(positions, [decision["recurrence"][p] for p in points], "o", color="black",
                  label="grouping recurs in")
        axis.set_xticks(positions, points, rotation=45, fontsize=7)
        axis.set_ylim(0, 1.05)
        axis.set_title(f"{method}: node {decision['node']} split on {decision['point']}", fontsize=8)
        axis.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel(f"share of {next(iter(roots.values()))['resamples']} resamples")
    axes[0][0].legend(fontsize=7, loc="upper right")
    figure.suptitle("How sure the first split is (orange: the point split)", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(_save(figure, path))
