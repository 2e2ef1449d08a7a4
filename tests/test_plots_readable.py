"""The comparison and profile figures read without the code: legends clear of the data, split epochs marked, the
shared root drawn once, one colour per method, abbreviations spelled out, layer names on profile axes."""

from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.transforms import Bbox

from naslid.lid import LIDProfile
from naslid.runs import plots
from naslid.runs.profile import plot_profiles

PLAN = SimpleNamespace(track_subset="random10", seeds=(0, 1), profile_archs=1, profile_batches=1)


def _point(epoch: int, tau: float, seeds=None) -> dict:
    point = {"epoch": epoch, "n": 10, "kendall_tau_b": tau, "spearman": tau}
    if seeds is not None:
        point["kendall_tau_b_seeds"] = list(seeds)
    return point


def _curves(seeded: bool = False) -> dict[str, list[dict]]:
    """Three methods sharing their root for epochs 1-2, then apart; SPOS never splits."""
    shared = [(1, 0.10), (2, 0.20)]
    own = {"spos": [0.25, 0.30, 0.35], "nas-lid": [0.40, 0.45, 0.55], "few-shot": [0.22, 0.50, 0.52]}
    out = {}
    for method, taus in own.items():
        pairs = shared + list(zip((3, 4, 5), taus, strict=True))
        out[method] = [_point(e, t, [t - 0.05, t + 0.05] if seeded else None) for e, t in pairs]
    return out


SPLITS = {"spos": [], "nas-lid": [2, 4], "few-shot": [4]}


def _overlap(first: Bbox, second: Bbox) -> float:
    both = Bbox.intersection(first, second)
    return 0.0 if both is None else max(0.0, both.width) * max(0.0, both.height)


def _assert_legends_clear(figure) -> None:
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    legends = list(figure.legends) + [axis.get_legend() for axis in figure.axes if axis.get_legend() is not None]
    assert legends, "the figure has no legend"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for axis in figure.axes:
            assert _overlap(box, axis.get_window_extent(renderer)) == 0.0, (legend, axis.get_title())
            if axis.get_title():
                assert _overlap(box, axis.title.get_window_extent(renderer)) == 0.0, axis.get_title()
        if figure._suptitle is not None:
            assert _overlap(box, figure._suptitle.get_window_extent(renderer)) == 0.0
        assert box.x0 >= -1 and box.y0 >= -1  # inside the figure
        assert box.x1 <= figure.bbox.width + 1 and box.y1 <= figure.bbox.height + 1


def _legend_texts(figure) -> list[str]:
    legends = list(figure.legends) + [axis.get_legend() for axis in figure.axes if axis.get_legend() is not None]
    texts = []
    for legend in legends:
        texts += [text.get_text() for text in legend.get_texts()]
        texts.append(legend.get_title().get_text())
    return texts


def _method_lines(axis) -> dict[str, str]:
    return {line.get_label(): to_hex(line.get_color()) for line in axis.get_lines()
            if not line.get_label().startswith("_") and line.get_label() in SPLITS}


def _outcomes():
    archs = [f"arch{i}" for i in range(12)]
    truth = SimpleNamespace(values={a: 60.0 + i for i, a in enumerate(archs)}, column="c10_test_acc_200")
    outcomes = [SimpleNamespace(method=m, scores={a: 50.0 + ((i * (j + 3)) % 11) for i, a in enumerate(archs)})
                for j, m in enumerate(("spos", "few-shot", "nas-lid"))]
    subsets = [SimpleNamespace(name="random8", archs=archs[:8]), SimpleNamespace(name="top1%", archs=archs[8:])]
    return outcomes, truth, subsets


def test_tau_curves_mark_splits_and_draw_the_shared_root_once():
    figure = plots.tau_curves_figure(_curves(), PLAN, SPLITS)
    axis = figure.axes[0]
    # the split epochs: one vertical line per method and epoch, at the epoch, in the method's colour
    splits = {line.get_gid(): line for line in axis.get_lines() if (line.get_gid() or "").startswith("split:")}
    assert sorted(splits) == ["split:few-shot:4", "split:nas-lid:2", "split:nas-lid:4"]
    for gid, line in splits.items():
        _, method, epoch = gid.split(":")
        assert list(line.get_xdata()) == [int(epoch), int(epoch)]
        assert to_hex(line.get_color()) == plots.method_colour(method)
    # two methods split at epoch 4: their dashes alternate, so both colours show
    assert splits["split:few-shot:4"].get_linestyle() != "-"
    # epochs 1-2 are equal in every curve: one grey line there, each method's line starts where it leaves
    assert plots.shared_root_epochs(_curves(), SPLITS) == [1, 2]
    shared = [line for line in axis.get_lines() if line.get_label().startswith("shared root")]
    assert len(shared) == 1 and list(shared[0].get_xdata()) == [1, 2]
    assert to_hex(shared[0].get_color()) == plots.SHARED_ROOT_COLOUR
    segments = [line for line in axis.get_lines() if (line.get_gid() or "").startswith("segment:")]
    assert len(segments) == 3 * 3 and all(min(line.get_xdata()) >= 2 for line in segments)
    for line in segments:  # apart after the root, each stretch solid in its own method's colour
        method = line.get_gid().split(":")[1]
        assert line.get_linestyle() == "-" and to_hex(line.get_color()) == plots.method_colour(method)
    assert "split epoch" in " ".join(_legend_texts(figure))
    _assert_legends_clear(figure)


def test_curves_that_coincide_after_the_shared_root_show_every_colour():
    curves = _curves()
    curves["few-shot"] = [dict(p) for p in curves["spos"]]  # few-shot splits late: it follows SPOS to epoch 4
    curves["few-shot"][-1]["kendall_tau_b"] = 0.6
    axis = plots.tau_curves_figure(curves, PLAN, SPLITS).axes[0]
    styles = {line.get_gid(): line for line in axis.get_lines() if (line.get_gid() or "").startswith("segment:")}
    for stretch in ("2-3", "3-4"):
        spos, few = styles[f"segment:spos:{stretch}"], styles[f"segment:few-shot:{stretch}"]
        assert spos.get_linestyle() != "-" and few.get_linestyle() != "-"
        assert spos._dash_pattern[0] != few._dash_pattern[0]  # the dashes take turns
    assert styles["segment:few-shot:4-5"].get_linestyle() == "-"
    assert styles["segment:nas-lid:2-3"].get_linestyle() == "-"


def test_shared_root_stops_at_the_first_split_and_where_curves_differ():
    curves = _curves()
    assert plots.shared_root_epochs(curves, {"spos": [], "nas-lid": [1, 4]}) == [1]
    assert plots.shared_root_epochs(curves) == [1, 2]
    assert plots.shared_root_epochs({"spos": curves["spos"]}) == []
    curves["few-shot"][0] = _point(1, 0.11)
    assert plots.shared_root_epochs(curves, SPLITS) == []


def test_seed_spread_has_a_legend_entry_and_labels_are_spelled_out():
    figure = plots.tau_curves_figure(_curves(seeded=True), PLAN, SPLITS)
    axis = figure.axes[0]
    assert axis.collections, "no spread drawn"
    assert not [c for c in axis.collections if type(c).__name__ in ("PolyCollection", "FillBetweenPolyCollection")]
    texts = " ".join(_legend_texts(figure))
    assert "whisker: minimum to maximum over 2 seeds" in texts
    assert "Kendall tau-b" in axis.get_ylabel() and "ground truth accuracy" in axis.get_ylabel()
    assert "tau " not in axis.get_title().replace("tau-b", "")
    _assert_legends_clear(figure)


def test_each_method_has_one_colour_in_every_figure():
    colours = {m: plots.method_colour(m) for m in ("spos", "few-shot", "gm-nas", "nas-lid", "random-split")}
    assert len(set(colours.values())) == len(colours)
    assert plots.SHARED_ROOT_COLOUR not in colours.values()
    assert plots.method_colour("some-new-method") == plots.method_colour("some-new-method")
    # the same method, the same colour: in two tau figures with other methods in another order ...
    first = _method_lines(plots.tau_curves_figure(_curves(), PLAN, SPLITS).axes[0])
    others = dict(reversed(list(_curves().items())))
    del others["spos"]
    second = _method_lines(plots.tau_curves_figure(others, PLAN, {}).axes[0])
    assert first == {m: colours[m] for m in ("spos", "nas-lid", "few-shot")}
    assert second == {m: first[m] for m in ("nas-lid", "few-shot")}
    # ... in the separability bars ...
    table = {"nas-lid": {0: 0.3, 1: 0.2}, "gm-nas": {0: 0.1, 1: 0.4}}
    separability = plots.separability_figure(table)
    bars = {container.get_label(): to_hex(container.patches[0].get_facecolor())
            for container in separability.axes[0].containers}
    assert bars == {m: colours[m] for m in table}
    _assert_legends_clear(separability)
    # ... and in the scatter panels
    outcomes, truth, subsets = _outcomes()
    scatter = plots.scatter_figure(outcomes, truth, subsets)
    for axis, outcome in zip(scatter.axes, outcomes, strict=True):
        edges = {to_hex(c) for collection in axis.collections for c in collection.get_edgecolors()}
        assert edges == {colours[outcome.method]}


def test_scatter_legend_outside_and_tau_spelled_out():
    outcomes, truth, subsets = _outcomes()
    figure = plots.scatter_figure(outcomes, truth, subsets)
    _assert_legends_clear(figure)
    for axis in figure.axes:
        assert "ground truth accuracy" in axis.get_xlabel()
        assert "Kendall tau-b, random8" in axis.get_title() and "Kendall tau-b, top1%" in axis.get_title()
    assert any("random8 (8 architectures)" == text for text in _legend_texts(figure))


def test_paired_and_reliability_figures():
    row = {"mean": 0.05, "interval": [-0.01, 0.1], "differences": [0.0, 0.1]}
    paired = {"control": "random-split", "against_control": {"nas-lid": {"random8": row, "top1%": row},
                                                             "spos": {"random8": row, "top1%": row}}}
    figure = plots.paired_figure(paired, caveat="the subset is too small")
    _assert_legends_clear(figure)
    assert all("Kendall tau-b minus random-split" in axis.get_xlabel() for axis in figure.axes)
    dots = {to_hex(line.get_color()) for line in figure.axes[0].get_lines() if line.get_marker() == "o"}
    assert dots == {plots.method_colour("nas-lid"), plots.method_colour("spos")}
    assert plots.paired_figure({"against_control": {}}) is None
    decision = {"shares": {"0": 0.7, "3": 0.3}, "recurrence": {"0": 0.6, "3": 0.2}, "point": "0", "node": 0,
                "resamples": 50}
    reliability = plots.reliability_figure({"nas-lid": [decision], "gm-nas": [dict(decision, point="3")]})
    _assert_legends_clear(reliability)
    for axis, method, chosen in zip(reliability.axes, ("nas-lid", "gm-nas"), (0, 1), strict=True):
        colours = [to_hex(bar.get_facecolor()) for bar in axis.patches]
        assert colours[chosen] == plots.method_colour(method) and colours[1 - chosen] != colours[chosen]


def _profile(label: str, layers: list[str], batches: int = 2) -> LIDProfile:
    rng = np.random.default_rng(len(label))
    values = (5 + rng.random((batches, len(layers)))).tolist()
    return LIDProfile(layers=layers, depth=[(i + 1) / len(layers) for i in range(len(layers))],
                      mean=np.mean(values, 0).tolist(), std=np.std(values, 0).tolist(), values=values, n=40, k=8,
                      estimator="mle", label=label)


LONG = "features.denseblock4.denselayer16.conv2"


def test_profile_axes_carry_the_layer_names(tmp_path):
    nb201 = ["stage1.cell1", "stage1.cell2", "reduction1", "stage2.cell1"]
    other = ["conv1", "layer1.0", LONG]
    profiles = [_profile("good", nb201), _profile("poor", nb201), _profile("user model", other, batches=1)]
    figure = plots.profiles_figure(profiles, title="LID profiles: mle, n = 40, k = 8, digits data")
    figure.canvas.draw()
    assert len(figure.axes) == 2  # one panel per list of layers
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == nb201
    labels = [t.get_text() for t in figure.axes[1].get_xticklabels()]
    assert labels[:2] == other[:2] and labels[2] == plots.short_layer_name(LONG)
    assert labels[2].endswith("conv2") and len(labels[2]) <= 20
    assert all(t.get_rotation() > 0 for t in figure.axes[0].get_xticklabels())
    assert "local intrinsic dimension" in figure.axes[0].get_ylabel()
    texts = " ".join(_legend_texts(figure))
    assert "band: \u00b1 1 standard deviation over 2 batches" in texts and "mle: maximum-likelihood" in texts
    _assert_legends_clear(figure)
    path = plot_profiles(profiles, tmp_path / "figure.png", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_layer_labels_shorten_and_stay_distinct():
    assert plots.short_layer_name("cells.0") == "cells.0"
    assert plots.short_layer_name(LONG) == "\u2026denselayer16.conv2"
    assert plots.short_layer_name("x" * 40) == "\u2026" + "x" * 19
    labels = plots.layer_tick_labels(["a.block1.very_long_name", "b.block1.very_long_name", "c"])
    assert len(set(labels)) == 3 and labels[2] == "c"


@pytest.mark.parametrize("count", [5, 90])
def test_many_layers_keep_readable_ticks(count):
    layers = [f"blocks.{i}" for i in range(count)]
    figure = plots.profiles_figure([_profile("deep", layers)])
    ticks = figure.axes[0].get_xticklabels()
    assert len(ticks) <= plots.MAX_TICK_LABELS and ticks[0].get_text() == "blocks.0"


def test_compare_profiles_figure_names_layers_and_ops():
    layers = ["stage1.cell1", "reduction1", "stage2.cell1"]
    lines = [("best", "best: 93.1%  [c3 s]", np.array([3.0, 4.0, 5.0])),
             ("worst", "worst: 40.2%  [0 p]", np.array([2.0, 2.5, 2.0]))]
    caption = plots._ops_caption([SimpleNamespace(ops=("nor_conv_3x3", "skip_connect"))])
    figure = plots.lid_profiles_figure(lines, layers, 64, 20, "title", caption)
    figure.canvas.draw()
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == layers
    assert "c3 = 3x3 convolution" in " ".join(_legend_texts(figure))
    assert "maximum-likelihood" in figure.axes[0].get_ylabel()
    _assert_legends_clear(figure)
