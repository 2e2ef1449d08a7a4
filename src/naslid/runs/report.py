"""One page per run: a self-contained HTML report of a partition run directory or a compare folder.

`write_report` reads what a run left on disk (nothing is trained or measured again), once the run passes the checks
every reader runs (`naslid.runs.verify`), and writes one HTML file:
inline CSS, figures as base64 PNG, no external URL. A partition run (`naslid train`, `naslid partition`, or one
method's folder of `naslid compare`) gets its settings, its leaves (with the Kendall tau of each leaf's proxy scores
when scores exist), Kendall tau while training (when it tracked a subset), the partition tree with each split's
evidence (chosen point, groups, every point's score and bootstrap shares, similarity matrices), its search results
and any LID profiles (`naslid profile` files) stored in it. A compare folder gets the comparison's tables and plots,
then each method's leaves and tree. A section whose data the run does not hold says so in one line.

The page is plain data (the `_Block` dataclasses below) rendered by the Jinja2 templates in `templates/`
(`report.html.j2`, one macro per block in `blocks.html.j2`) with autoescaping on: every string from the run's
files is escaped before it goes into the page. The figures it draws come from `naslid.runs.plots`.
"""

from __future__ import annotations

import base64
import functools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from naslid.atomic import check_target, write_text
from naslid.runs.run_directory import (
    COMPARE_FILE,
    CONFIG_FILE,
    PROXY_SCORES_FILE,
    SEARCH_FILES,
    SHARED_ROOT_FILE,
    TRACKING_FILE,
    TREE_FILE,
    RunDirectory,
    comparison_runs,
)

REPORT_FILE = "report.html"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_report(run_or_compare_dir: str | Path, out: str | Path | None = None, *,
                 benchmark: str | Path | None = None, column: str | None = None) -> Path:
    """Write the HTML report of a partition run directory or a compare folder; returns the file written.

    `out` defaults to ``<dir>/report.html``. `benchmark` and `column` name the ground truth that proxy scores and
    tracked scores are ranked against (NB201 runs only): default the comparison's own, else the NB201 table shipped
    with naslid and its default column. A directory that is neither kind is a ValueError naming what was expected.
    """
    folder = Path(run_or_compare_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a directory; expected a naslid run directory or compare folder")
    target = folder / REPORT_FILE if out is None else Path(out)
    if target.is_dir():
        raise ValueError(f"--out {target} is a directory; expected a file path such as {target / REPORT_FILE}")
    try:
        check_target(target)  # before the work: a device or a FIFO is never replaced by the page
    except ValueError as error:
        raise ValueError(f"--out {error}") from None
    _verified(folder)
    if (folder / COMPARE_FILE).is_file():
        page = _compare_page(folder, _Truth(benchmark, column, _read_json(folder / COMPARE_FILE)))
    elif (folder / TREE_FILE).is_file() or (folder / CONFIG_FILE).is_file():
        page = _run_page(folder, _Truth(benchmark, column))
    else:
        raise ValueError(f"{folder} holds neither {TREE_FILE} nor {CONFIG_FILE} (a run of naslid train or partition) "
                         f"nor {COMPARE_FILE} (a finished naslid compare); nothing to report")
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_text(target, page)


def _verified(folder: Path) -> None:
    """Refuse, in one line, a run (or a comparison whose runs) `naslid check` would fail: the same check search,
    export and finetune run before they read a run, so a report never renders swapped checkpoints, an edited
    config.json, a tree that is not a partition (a cycle, a child outside its parent) or a lost tree."""
    from naslid.runs.verify import verify_run

    if not ((folder / COMPARE_FILE).is_file() or (folder / TREE_FILE).is_file() or (folder / CONFIG_FILE).is_file()):
        return  # neither kind: write_report says what it expected
    if (folder / COMPARE_FILE).is_file() and not comparison_runs(folder):
        return  # a comparison without runs: its page says what it lacks
    problems = verify_run(folder)
    if problems:
        more = f" ({len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ValueError(f"{folder} fails verification, so no report is written: {problems[0]}{more}; "
                         f"`naslid check {folder}` lists every problem")


# --- the page: blocks of plain data, rendered by the templates in templates/ (every value escaped there) ---


@dataclass(frozen=True)
class _Cell:
    """A table cell: a data cell or a header cell (`header`), with an optional class, inline style or code text."""

    text: object
    class_: str | None = None
    style: str | None = None
    header: bool = False
    code: bool = False


@dataclass(frozen=True)
class _Text:
    """A paragraph ("p"), the one line a section shows when the run lacks its data ("missing"), or a heading."""

    text: object
    kind: str = "p"


@dataclass(frozen=True)
class _Table:
    """A table: header names (None: no header row), rows of cells, a class and a caption."""

    header: Sequence[object] | None
    rows: list[list[_Cell]]
    class_: str | None = None
    caption: str | None = None
    kind: ClassVar[str] = "table"


@dataclass(frozen=True)
class _Figure:
    src: str
    alt: str
    caption: str
    kind: ClassVar[str] = "figure"


@dataclass(frozen=True)
class _Details:
    """Blocks folded under a one-line summary."""

    summary: str
    parts: list[_Block]
    kind: ClassVar[str] = "details"


@dataclass(frozen=True)
class _Section:
    anchor: str
    title: str
    parts: list[_Block]
    kind: ClassVar[str] = "section"


@dataclass(frozen=True)
class _Split:
    """A split's evidence: "Split on <point><text>", then its blocks."""

    point: str
    text: str
    parts: list[_Block]
    kind: ClassVar[str] = "split"


@dataclass(frozen=True)
class _TreeNode:
    id: int
    anchor: str
    text: str
    split: _Split | None
    children: list[_TreeNode]


@dataclass(frozen=True)
class _Tree:
    root: _TreeNode
    kind: ClassVar[str] = "tree"


_Block = _Text | _Table | _Figure | _Details | _Section | _Split | _Tree  # what a page's body and sections hold


def _p(text: object) -> _Text:
    return _Text(text)


def _missing(text: str) -> _Text:
    """The one line a section shows when the run does not hold its data."""
    return _Text(text, "missing")


def _code(text: object) -> _Cell:
    return _Cell(text, code=True)


def _numeric(text: object) -> _Cell:
    return _Cell(text, class_="num")


def _num(value: object, digits: int = 3) -> str:
    if value is None or isinstance(value, bool):
        return "n/a" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "n/a" if not math.isfinite(number) else f"{number:.{digits}f}"


def _table(header: Sequence[object] | None, rows: Iterable[Sequence[object]], class_: str | None = None,
           caption: str | None = None) -> _Table:
    """A table whose cells are values or `_Cell`s."""
    cells = [[cell if isinstance(cell, _Cell) else _Cell(cell) for cell in row] for row in rows]
    return _Table(None if header is None else list(header), cells, class_, caption)


def _pairs(rows: Iterable[tuple[str, object]]) -> _Table:
    """A two-column table of settings: name, value."""
    return _table(None, ([_Cell(name, header=True), value] for name, value in rows if value not in (None, "")),
                  class_="summary")


def _section(anchor: str, title: str, *parts: _Block) -> _Section:
    return _Section(anchor, title, list(parts))


def _img(png: bytes, alt: str, caption: str) -> _Figure:
    return _Figure("data:image/png;base64," + base64.b64encode(png).decode("ascii"), alt, caption)


def _png_file(path: Path, caption: str) -> _Figure | _Text:
    """A PNG the run wrote, inlined; a missing or foreign file is one line."""
    if not path.is_file():
        return _missing(f"{path.name}: not written by this run")
    data = path.read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        return _missing(f"{path.name} is not a PNG image; left out")
    return _img(data, path.stem.replace("_", " "), caption)


@functools.cache
def _templates():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("naslid.runs", "templates"), autoescape=True,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined)


def _page(title: str, body: Sequence[_Block]) -> str:
    import naslid

    return _templates().get_template("report.html.j2").render(title=title, body=body, version=naslid.__version__)


# --- reading the run's files ---


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None


def _optional_json(path: Path) -> tuple[Any, str | None]:
    """(data, None), or (None, why) for a file that is absent or unreadable: a report shows what it can."""
    return RunDirectory(path.parent).optional_json(path.name)


class _Truth:
    """The ground truth scores are ranked against, loaded once on first use (NB201 only)."""

    def __init__(self, benchmark: str | Path | None, column: str | None, compare: dict | None = None) -> None:
        protocol = (compare or {}).get("protocol", {})
        self.compare_without = compare is not None and benchmark is None and not protocol.get("benchmark")
        self.path = benchmark if benchmark is not None else protocol.get("benchmark")
        self.column = column or ((protocol.get("ground_truth") or {}).get("column") if compare else None)
        self._truth = None

    def get(self, space: str):
        """The GroundTruth, or None when the space or the comparison has none."""
        if space != "nb201" or self.compare_without:
            return None
        if self._truth is None:
            from naslid.bench import load_benchmark

            self._truth = load_benchmark(self.path).ground_truth(self.column)
        return self._truth

    def absent(self, space: str) -> str:
        """Why `get(space)` gave no ground truth."""
        if self.compare_without:
            return "the comparison ranked against no benchmark (--benchmark none)"
        return f"no ground truth for the {space} space"

    def describe(self) -> str:
        info = self._truth.info
        return f"{info.column} of {Path(str(info.source)).name} ({info.epochs} epochs, seeds: {info.seeds})"


class _Run:
    """What one partition run directory holds, read once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.directory = RunDirectory(folder)
        self.config, self.config_problem = self.directory.optional_json(CONFIG_FILE)
        self.tree = None
        self.tree_problem = None
        if self.directory.has_tree():
            try:
                self.tree = self.directory.read_tree()
            except (OSError, ValueError) as error:
                self.tree_problem = str(error)
        else:
            self.tree_problem = f"{TREE_FILE} not found: the run has not finished training its root yet"
        self.space = (self.config or {}).get("search_space") or (
            self.tree.root.subspace.space.name if self.tree else "unknown")
        self._histories: dict[int, list[dict]] | None = None
        self.history_problems: list[str] = []

    def histories(self) -> dict[int, list[dict]]:
        """Each node's training history, from its checkpoint (nodes whose file is gone or damaged are noted)."""
        if self._histories is None:
            self._histories = ({} if self.tree is None
                               else self.directory.histories(self.tree, problems=self.history_problems))
        return self._histories

    def tracking(self):
        path = self.directory.file(TRACKING_FILE)
        if not path.is_file():
            return None
        from naslid.runs.tracking import Tracking

        return Tracking.load(path)


# --- a partition run ---


def _run_page(folder: Path, truth: _Truth) -> str:
    run = _Run(folder)
    name = folder.resolve().name
    body = [
        _section("summary", "Run summary", _run_summary(run)),
        _section("leaves", "Leaves", *_leaves(run, truth)),
        _section("tau", "Kendall tau while training", *_run_tau(run, truth)),
        _section("tree", "Partition tree and split evidence", _tree(run)),
        _section("search", "Search results", *_search(run, truth)),
        _section("lid", "LID profiles", *_run_profiles(run)),
    ]
    if run.history_problems:
        body.insert(1, _missing("checkpoints left out: " + "; ".join(run.history_problems)))
    return _page(f"naslid report: {name}", body)


def _method_name(schedule: dict, split: dict) -> str:
    method = schedule.get("method")
    if method == "split":
        from naslid.runs.protocols import method_splitting_by  # here: importing the report stays torch-free

        named = method_splitting_by(split.get("criterion"))
        return f"split by the {split.get('criterion')} criterion" + (f" ({named})" if named else "")
    return str(method)


def _settings(section: dict, names: Sequence[str]) -> str:
    return ", ".join(f"{name}={_value(section.get(name))}" for name in names if name in section)


def _value(value: object) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return "none" if value is None else str(value)


def _run_summary(run: _Run) -> _Table:
    cfg = run.config or {}
    if not cfg and run.tree is not None:
        cfg = dict(run.tree.protocol)  # trees record the settings that decide splits
    data, schedule, split = cfg.get("data", {}), cfg.get("schedule", {}), cfg.get("split", {})
    train, network, proxy = cfg.get("train", {}), cfg.get("network", {}), cfg.get("proxy", {})
    tree = run.tree
    rows: list[tuple[str, object]] = [
        ("run directory", str(run.folder.resolve())),
        ("search space", run.space + (f" ({tree.root.subspace.size():,} architectures, "
                                      f"{len(tree.root.subspace.allowed)} choice points)" if tree else "")),
        ("method", _method_name(schedule, split) if schedule else None),
        ("schedule", _settings(schedule, ["split_epochs", "finetune_epochs", "finetune", "fewshot_edge"])
         + (f"; {train['epochs']} supernet epochs in all" if "epochs" in train else "")),
        ("split measurement", _settings(split, ["criterion", "edge_score", "similarity", "batches", "batch_size", "k",
                                                "bn_mode", "measurement_batches", "measurement_paths",
                                                "reliability_resamples"])
         if schedule.get("method") == "split" else None),
        ("seeds", f"run {cfg.get('seed')}; data {data.get('seed')}, training {train.get('seed')}, split "
                  f"{split.get('seed')}, search {cfg.get('search', {}).get('seed')}" if cfg else None),
        ("data", _settings(data, ["dataset", "path", "resolution", "train_limit", "valid_fraction", "rotation",
                                  "cutout"])),
        ("network", _settings(network, list(network))),
        ("training", _settings(train, ["batch_size", "learning_rate", "min_learning_rate", "weight_decay",
                                       "precision", "step", "init", "path_sampler", "lr_stepping"])),
        ("proxy", _settings(proxy, ["batchnorm", "split", "calibration_batches", "evaluation_images"])),
        ("device", cfg.get("device")),
    ]
    if run.config is None:
        rows.append(("configuration", f"{run.config_problem}: settings from the partition tree's protocol"))
    if tree is not None:
        leaves = tree.leaves()
        done = sum(leaf.finetuned for leaf in leaves)
        rows.append(("progress", f"{len(tree.nodes)} nodes, {len(leaves)} leaves, {done} of them fine-tuned"
                     + ("" if done == len(leaves) else " (run `naslid finetune` to finish)")))
    else:
        rows.append(("progress", run.tree_problem))
    shared, _ = run.directory.optional_json(SHARED_ROOT_FILE)
    if shared:
        rows.append(("shared root", f"started from the comparison's shared root at epoch {shared.get('root_epochs')} "
                                    f"({shared.get('source')})"))
    timings = run.directory.timings()
    if timings:
        rows.append(("wall time", ", ".join(f"{phase} {_num(seconds, 1)} s" for phase, seconds in timings.items())))
    return _pairs(rows)


def _scores(run: _Run) -> tuple[dict | None, str]:
    """Proxy scores per architecture and where they come from: proxy_scores.json, else the last tracked epoch."""
    from naslid.spaces import parse_arch

    data, _ = run.directory.optional_json(PROXY_SCORES_FILE)
    if isinstance(data, dict) and data.get("scores"):
        proxy = (data.get("protocol") or {}).get("proxy", "proxy scores")
        return ({parse_arch(text): float(value) for text, value in data["scores"].items()},
                f"{PROXY_SCORES_FILE}: {proxy}")
    tracking = run.tracking()
    if tracking is None or run.tree is None:
        return None, "no proxy scores in this run (neither proxy_scores.json nor tracked architectures)"
    from naslid.runs.tracking import tracked_scores

    by_epoch = tracked_scores(list(run.histories().values()))
    complete = [epoch for epoch, scores in by_epoch.items() if all(arch in scores for arch in tracking.archs)]
    if not complete:
        return None, "the tracked architectures were never all scored"
    last = max(complete)
    return ({arch: by_epoch[last][arch] for arch in tracking.archs},
            f"the tracked subset {tracking.subset} scored at epoch {last}")


def _rank(scores: dict, truth, archs: Sequence) -> tuple[int, float | None, float | None]:
    from naslid.bench import kendall_tau_b, spearman

    known = [arch for arch in archs if arch in truth.values]
    if len(known) < 2:
        return len(known), None, None
    proxy, values = [scores[a] for a in known], [truth.values[a] for a in known]
    return len(known), kendall_tau_b(proxy, values), spearman(proxy, values)


def _restriction(node, root) -> str:
    """The choice points a node narrows, with the choices it keeps."""
    points = root.subspace.space.points
    narrowed = [f"{points[i]}: {', '.join(kept)}" for i, (kept, full) in
                enumerate(zip(node.subspace.allowed, root.subspace.allowed, strict=True)) if list(kept) != list(full)]
    return "; ".join(narrowed) or "the whole space"


def _leaves(run: _Run, truth: _Truth) -> list[_Block]:
    tree = run.tree
    if tree is None:
        return [_missing(f"no leaves: {run.tree_problem}")]
    histories = run.histories()
    scores, source = _scores(run)
    ground = truth.get(run.space) if scores else None
    owned: dict[int, list] = {}
    if scores:
        for arch in scores:
            try:
                owned.setdefault(tree.leaf_for(arch).id, []).append(arch)
            except (KeyError, ValueError):
                continue  # an architecture outside the tree's space: not ranked
    header = ["leaf", "depth", "architectures", "choices kept", "epochs", "fine-tuned", "last loss",
              "last train accuracy %"]
    if ground is not None:
        header += ["scored", "Kendall tau-b", "Spearman"]
    rows = []
    for leaf in sorted(tree.leaves(), key=lambda n: n.id):
        last = (histories.get(leaf.id) or [{}])[-1]
        accuracy = last.get("accuracy")
        row = [f"node {leaf.id}", leaf.depth, f"{leaf.subspace.size():,}", _restriction(leaf, tree.root),
               leaf.trained_epochs, "yes" if leaf.finetuned else "no", _num(last.get("loss")),
               _num(None if accuracy is None else 100 * accuracy, 1)]
        if ground is not None:
            n, tau, rho = _rank(scores, ground, owned.get(leaf.id, []))
            row += [n, _num(tau), _num(rho)]
        rows.append(row)
    parts = [_table(header, rows, class_="leaves")]
    if ground is not None:
        n, tau, rho = _rank(scores, ground, list(scores))
        parts.append(_p(f"Proxy scores: {source}; ranked against {truth.describe()}. Over all {n} scored "
                        f"architectures: Kendall tau-b {_num(tau)}, Spearman {_num(rho)}. Per leaf: the architectures "
                        "that leaf owns."))
    elif scores:
        parts.append(_missing(f"{truth.absent(run.space)}: proxy scores ({source}) are not ranked"))
    else:
        parts.append(_missing(source))
    return parts


def _run_tau(run: _Run, truth: _Truth) -> list[_Block]:
    tracking = run.tracking()
    if tracking is None:
        return [_missing("this run tracked no ranking while training (train or partition with --track-ranking)")]
    ground = truth.get(run.space)
    if ground is None:
        return [_missing(f"{truth.absent(run.space)}: the tracked scores are not ranked")]
    from naslid.runs.tracking import ranking_curve, tracked_scores

    curve = ranking_curve(tracked_scores(list(run.histories().values())), tracking.archs, ground.values)
    if not curve:
        return [_missing(f"the tracked subset {tracking.subset} has no epoch where every architecture was scored")]
    intro = _p(f"Subset {tracking.subset} ({len(tracking.archs)} architectures: {tracking.rule}), scored every "
               f"{tracking.every} epochs by the node that owned each one, ranked against {truth.describe()}.")
    rows = [[point["epoch"], point["n"], _num(point["kendall_tau_b"]), _num(point["spearman"])] for point in curve]
    table = _table(["epoch", "architectures", "Kendall tau-b", "Spearman"], rows, class_="tau")
    return [intro, table, _img(_ranking_png({"this run": curve}), "Kendall tau while training",
                               f"Kendall tau-b (and Spearman, dashed) of {tracking.subset} at each scored epoch")]


def _ranking_png(curves: dict[str, list[dict]]) -> bytes:
    from naslid.runs.plots import png_bytes, ranking_curve_figure

    return png_bytes(ranking_curve_figure(curves))


def _tree(run: _Run, prefix: str = "") -> _Tree | _Text:
    tree = run.tree
    if tree is None:
        return _missing(f"no partition tree: {run.tree_problem}")

    def item(node) -> _TreeNode:
        state = ("leaf" + (", fine-tuned" if node.finetuned else "")) if node.is_leaf else "split"
        text = f"{node.subspace.size():,} architectures, trained {_epochs(node.trained_epochs)}, {state}"
        return _TreeNode(node.id, f"{prefix}node-{node.id}", text,
                         None if node.split is None else _split(node, tree),
                         [item(tree.nodes[child]) for child in node.children])

    return _Tree(item(tree.root))


def _epochs(count: int) -> str:
    return f"{count} epoch" + ("" if count == 1 else "s")


def _split(node, tree) -> _Split:
    record = node.split
    point = record.point_name
    text = (f" (choice point {record.edge}) by the {record.criterion} criterion in {_num(record.seconds, 2)} s"
            + (f", peak {record.peak_memory_bytes / 2**20:.1f} MiB" if record.peak_memory_bytes else "") + ".")
    parts: list[_Block] = []
    children = node.children if len(node.children) == len(record.groups) else [None] * len(record.groups)
    parts.append(_table(["group", "child", "ops"],
                        [[index + 1, f"node {child}" if child is not None else "n/a", ", ".join(group)]
                         for index, (group, child) in enumerate(zip(record.groups, children, strict=True))],
                        class_="groups"))
    reliability = record.reliability or {}
    points = list(dict.fromkeys([*record.edge_scores, *record.similarities]))
    if points:
        boot = reliability.get("edges", {})
        header = ["point", "score", "groups at this point"]
        if boot:
            header += [f"chosen in ({reliability.get('resamples')} resamples)", "grouping recurs in"]
        rows = []
        for name in points:
            chosen = name == point
            groups = boot.get(name, {}).get("groups") or (record.groups if chosen else None)
            row = [_Cell(name, class_="chosen" if chosen else None), _numeric(_num(record.edge_scores.get(name))),
                   " / ".join(", ".join(group) for group in groups) if groups else "n/a"]
            if boot:
                entry = boot.get(name, {})
                row += [_percent(entry.get("chosen_share")), _percent(entry.get("grouping_recurrence"))]
            rows.append(row)
        parts.append(_table(header, rows, class_="points",
                            caption="Every point considered (bold: the one split)"))
    else:
        parts.append(_missing(f"no per-point evidence: {record.criterion} splits measure nothing"))
    matrices = record.similarities
    if point in matrices:
        parts.append(_matrix(point, matrices[point], chosen=True))
    elif matrices:
        parts.append(_missing(f"no similarity matrix stored for {point}"))
    others = [name for name in matrices if name != point]
    if others:
        parts.append(_Details(f"similarity matrices of the other {len(others)} points",
                              [_matrix(name, matrices[name]) for name in others]))
    return _Split(point, text, parts)


def _percent(share: object) -> str:
    return "n/a" if share is None else f"{100 * float(share):.0f}%"


def _matrix(point: str, entry: dict, chosen: bool = False) -> _Table:
    ops, matrix = list(entry.get("ops", [])), entry.get("matrix") or []
    values = [float(v) for i, row in enumerate(matrix) for j, v in enumerate(row)
              if i != j and v is not None and math.isfinite(float(v))]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)

    def cell(value: object) -> _Cell:
        if value is None or not math.isfinite(float(value)):
            return _Cell("n/a")
        shade = 0.0 if high <= low else (float(value) - low) / (high - low)
        return _Cell(_num(value), style=f"background: hsl(210, 70%, {96 - 36 * min(max(shade, 0), 1):.0f}%)")

    rows = [[_Cell(op, header=True), *(cell(v) for v in row)] for op, row in zip(ops, matrix, strict=False)]
    caption = f"Similarity of the ops on {point}" + (" (the point split)" if chosen else "")
    return _table(["", *ops], rows, class_="matrix", caption=caption)


def _search(run: _Run, truth: _Truth) -> list[_Block]:
    from naslid.spaces import parse_arch

    rows = []
    for name in SEARCH_FILES:
        data, problem = run.directory.optional_json(name)
        if data is None:
            if problem and "not found" not in problem:
                rows.append([name, problem, "", "", "", "", ""])
            continue
        best = data.get("best") or {}
        arch_text = best.get("arch")
        leaf, ground_value = "n/a", "n/a"
        if arch_text:
            try:
                arch = parse_arch(arch_text)
                leaf = f"node {run.tree.leaf_for(arch).id}" if run.tree else "n/a"
                ground = truth.get(run.space)
                if ground is not None and arch in ground.values:
                    ground_value = f"{ground.values[arch]:.2f} ({ground.info.column})"
            except (KeyError, ValueError):
                pass
        costs = (data.get("protocol") or {}).get("best_costs") or {}
        cost = ", ".join(f"{key} {_num(value)}" for key, value in costs.items())
        rows.append([name, f"{data.get('method')}: {data.get('num_evaluations')} evaluations "
                           f"(stopped by {data.get('stopped_by') or 'n/a'})", _code(arch_text or "none"),
                     _num(best.get("score"), 2), leaf, ground_value, cost or "n/a"])
    if not rows:
        return [_missing("no search result in this run (run `naslid search RUN`)")]
    return [_table(["file", "search", "best architecture", "proxy %", "owning leaf", "ground truth %", "costs"], rows,
                   class_="search")]


def _run_profiles(run: _Run) -> list[_Block]:
    """LID profile files (`naslid profile --out RUN/...json`) stored in the run, plotted."""
    from naslid.lid import LID_PROFILE_SCHEMA, load_profiles

    parts = []
    for path in sorted(run.folder.glob("*.json")):
        data, _ = _optional_json(path)
        if not isinstance(data, dict) or data.get("schema") != LID_PROFILE_SCHEMA:
            continue
        try:
            profiles, _ = load_profiles(path)
        except (OSError, ValueError, KeyError) as error:
            parts.append(_missing(f"{path.name} could not be read ({error})"))
            continue
        if profiles:
            parts.append(_img(_profiles_png(profiles), f"LID profiles in {path.name}",
                              f"{path.name}: layer-wise LID ({profiles[0].estimator}, n={profiles[0].n}, "
                              f"k={profiles[0].k}, mean over {profiles[0].num_batches} batches)"))
    if not parts:
        return [_missing("no LID profiles stored in this run: its split evidence keeps the similarity matrices of "
                         "the ops' profiles (above), not the profiles (`naslid profile --out RUN/lid_profile.json` "
                         "stores some)")]
    return parts


def _profiles_png(profiles) -> bytes:
    from naslid.runs.plots import png_bytes, profiles_figure  # the figure of `naslid profile`

    return png_bytes(profiles_figure(profiles))


# --- a compare folder ---


def _compare_page(folder: Path, truth: _Truth) -> str:
    from naslid.runs.protocols import method_folder

    results = _read_json(folder / COMPARE_FILE)
    if not isinstance(results, dict) or not str(results.get("schema", "")).startswith("naslid.compare/"):
        raise ValueError(f"{folder / COMPARE_FILE} is not a naslid comparison (schema "
                         f"{results.get('schema') if isinstance(results, dict) else None!r})")
    protocol = results.get("protocol", {})
    methods = results.get("methods", {})
    seeds = protocol.get("seeds") or [None]
    plots = folder / "plots"
    body = [
        _section("summary", "Comparison summary", _compare_summary(folder, results)),
        _section("methods", "Methods: ranking and search", *_methods_table(results)),
        _section("paired", "Paired by seed", *_paired(results.get("paired") or {})),
        _section("reliability", "How sure each split is", *_reliability(results.get("runs", []))),
        _section("separability", "Separability at the root", *_separability(results.get("separability") or {})),
        _section("tau", "Kendall tau while training", *_compare_tau(methods, protocol.get("tracking"), plots)),
        _section("figures", "Figures", *_compare_figures(plots)),
        _section("lid", "LID profiles", _png_file(plots / "lid_profiles.png", "LID profiles of the best and worst "
                                                  "architectures (leaf weights)")
                 if (plots / "lid_profiles.png").is_file() else _missing("no LID profile plot in plots/")),
    ]
    seed_dir = folder if len(seeds) == 1 else folder / f"seed{seeds[0]}"
    for method in methods:
        method_dir = seed_dir / method_folder(method)
        anchor = "method-" + "".join(c if c.isalnum() else "-" for c in method)
        if not method_dir.is_dir():
            body.append(_section(anchor, f"Method {method}", _missing(f"{method_dir} not found")))
            continue
        if methods[method].get("kind") == "training-free":  # a ranker: no supernet, no tree
            described = (protocol.get("method_protocols", {}).get(method, {}).get("ranker") or {}).get("definition")
            body.append(_section(anchor, f"Method {method}", _p(f"Training-free ranker: {described}. Its scores "
                                                                 f"are in {method_dir.relative_to(folder)}/.")))
            continue
        run = _Run(method_dir)
        note = _p(f"Folder {method_dir.relative_to(folder)}" + (f" (seed {seeds[0]})" if len(seeds) > 1 else "") + ".")
        body.append(_section(anchor, f"Method {method}", note, _Text("Leaves", "h3"), *_leaves(run, truth),
                             _Text("Partition tree and split evidence", "h3"), _tree(run, prefix=f"{anchor}-")))
    return _page(f"naslid report: comparison {folder.resolve().name}", body)


def _compare_summary(folder: Path, results: dict) -> _Table:
    protocol, environment = results.get("protocol", {}), results.get("environment", {})
    data, truth = protocol.get("data", {}), protocol.get("ground_truth")
    tracking, scale = protocol.get("tracking"), protocol.get("scale")
    rows = [
        ("compare folder", str(folder.resolve())),
        ("methods", ", ".join(protocol.get("methods", []))),
        ("protocols", f"{protocol.get('protocols')}" + (f" at the {scale.get('name')} scale" if scale else "")),
        ("seeds", ", ".join(str(seed) for seed in protocol.get("seeds", [])) + (
            f" ({protocol['seed_varies']})" if protocol.get("seed_varies") else "")),
        ("data", _settings(data, ["dataset", "path", "resolution", "train_limit", "valid_fraction"])),
        ("schedule", _settings(protocol.get("schedule", {}), ["split_epochs", "finetune_epochs", "finetune"])),
        ("LID measurement", _settings(protocol.get("lid", {}), ["n", "k", "similarity", "edge_score", "batches"])),
        ("ground truth", f"{truth['column']} of {truth['benchmark']} ({truth['epochs']} epochs, seeds: "
                         f"{truth['seeds']})" if truth else "none given: no ranking"),
        ("ranking subsets", "; ".join(f"{s['name']} ({s['n']} archs: {s['rule']})"
                                      for s in protocol.get("ranking_subsets", []))),
        ("tracking", f"{tracking['subset']} ({tracking['archs']} archs) every {tracking['every']} epochs"
         if tracking else "none"),
        ("shared root", "yes" if protocol.get("shared_root") else "no"),
        ("environment", ", ".join(f"{key} {value}" for key, value in environment.items())),
        ("wall time", ", ".join(f"{key} {_num(value, 1)} s" for key, value in (results.get("seconds") or {}).items())),
        ("caveat", protocol.get("ranking_caveat")),
    ]
    return _pairs(rows)


def _methods_table(results: dict) -> list[_Block]:
    protocol, methods = results.get("protocol", {}), results.get("methods", {})
    if not methods:
        return [_missing("compare.json lists no method")]
    subsets = [s["name"] for s in protocol.get("ranking_subsets", [])]
    column = (protocol.get("ground_truth") or {}).get("column")
    per_method = protocol.get("method_protocols", {})
    header = ["method", "protocol", "leaves", "supernet epochs", "criterion"]
    for name in subsets:
        header += [f"tau {name}", f"Spearman {name}"]
    header += ["best arch (EA, first seed)", "proxy %", f"GT {column} %" if column else "GT %", "split s"]
    rows = []
    for method, summary in methods.items():
        row = [method, per_method.get(method, {}).get("protocol", "n/a"), summary.get("leaves"),
               summary.get("supernet_epochs"), summary.get("criterion")]
        by_subset = {entry["subset"]: entry for entry in summary.get("ranking", [])}
        for name in subsets:
            entry = by_subset.get(name, {})
            row += [_numeric(_spread(entry, "kendall_tau_b")), _numeric(_spread(entry, "spearman"))]
        search = summary.get("search") or {}
        ground = (search.get("ground_truth") or {}).get(column) if column else None
        row += [_code(search.get("best_arch", "n/a")), _num(search.get("proxy_score"), 2), _num(ground, 2),
                _num(summary.get("split_seconds_mean"), 2)]
        rows.append(row)
    seeds = protocol.get("seeds", [])
    return [_table(header, rows, class_="methods"),
            _p("tau: Kendall tau-b, Spearman: rank correlation of the proxy scores with the ground truth"
               + (" (mean ± standard deviation over seeds)" if len(seeds) > 1 else "")
               + "; split s: mean wall time of one split decision.")]


def _spread(entry: dict, key: str) -> str:
    spread = entry.get(f"{key}_seeds")
    if spread and len(spread.get("values", [])) > 1 and spread.get("mean") is not None:
        return f"{spread['mean']:.3f} ± {spread['std']:.3f}"
    return _num(entry.get(key))


def _paired(paired: dict) -> list[_Block]:
    rows = []
    for role, baseline in (("against_control", paired.get("control")), ("against_reference", paired.get("reference")),
                           ("against_floor", paired.get("floor"))):
        for method, subsets in (paired.get(role) or {}).items():
            for subset, row in subsets.items():
                interval = row.get("interval")
                rows.append([f"{method} minus {baseline}", subset, _num(row.get("mean")),
                             f"[{interval[0]:+.3f}, {interval[1]:+.3f}]" if interval else "n/a (one seed)",
                             f"{row.get('better')} of {row.get('n')}",
                             ", ".join(f"{d:+.3f}" for d in row.get("differences", []))])
    if not rows:
        return [_missing("nothing paired: the comparison has no control or SPOS reference among its methods")]
    return [_table(["difference", "subset", "mean Kendall tau difference", "95% interval", "seeds better",
                    "per seed"], rows, class_="paired")]


def _reliability(runs: list[dict]) -> list[_Block]:
    rows = [[run.get("seed"), method, f"node {d['node']}", d["point"], " / ".join(", ".join(g) for g in d["groups"]),
             _percent(d.get("chosen_share")), _percent(d.get("grouping_recurrence"))]
            for run in runs for method, decisions in (run.get("split_reliability") or {}).items() for d in decisions]
    if not rows:
        return [_missing("no split carries a bootstrap over its measurement batches")]
    return [_table(["seed", "method", "node", "split point", "groups", "chosen in", "grouping recurs in"], rows,
                   class_="reliability")]


def _separability(table: dict) -> list[_Block]:
    if not table:
        return [_missing("no method measured similarities at the root")]
    methods = list(table)
    points = list(dict.fromkeys(point for values in table.values() for point in values))
    rows = [[point, *(_numeric(_num(table[m].get(point))) for m in methods)] for point in points]
    return [_table(["point", *methods], rows, class_="separability",
                   caption="Coefficient of variation of the off-diagonal similarities, per point")]


def _compare_tau(methods: dict, tracking: dict | None, plots: Path) -> list[_Block]:
    curves = {method: summary["curve"] for method, summary in methods.items() if summary.get("curve")}
    if not curves:
        return [_missing("the comparison tracked no ranking while training")]
    epochs = sorted({point["epoch"] for curve in curves.values() for point in curve})
    rows = []
    for epoch in epochs:
        row: list[object] = [epoch]
        for curve in curves.values():
            point = next((p for p in curve if p["epoch"] == epoch), None)
            row.append(_numeric(_num(point["kendall_tau_b"]) if point else ""))
        rows.append(row)
    parts = []
    if tracking:
        parts.append(_p(f"Subset {tracking.get('subset')} ({tracking.get('archs')} architectures), scored every "
                        f"{tracking.get('every')} epochs; Kendall tau-b per method."))
    parts.append(_table(["epoch", *curves], rows, class_="tau"))
    if (plots / "tau_while_training.png").is_file():
        parts.append(_png_file(plots / "tau_while_training.png", "Kendall tau-b while training, per method"))
    else:
        parts.append(_img(_tau_png(curves, tracking), "Kendall tau while training", "Kendall tau-b while training"))
    return parts


_COMPARE_FIGURES = (
    ("proxy_vs_truth.png", "Proxy accuracy against ground truth, per method"),
    ("separability.png", "How well each criterion tells the ops of a point apart (root supernet)"),
    ("split_reliability.png", "How sure the first split is: share of bootstrap resamples choosing each point"),
    ("paired_differences.png", "Kendall tau minus the control's, paired by seed"),
    ("paired_vs_floor.png", "Kendall tau minus the floor's (params: a parameter count, no training), paired by seed"),
)


def _compare_figures(plots: Path) -> list[_Block]:
    present = [(name, caption) for name, caption in _COMPARE_FIGURES if (plots / name).is_file()]
    if not present:
        return [_missing("no plots in plots/")]
    return [_png_file(plots / name, caption) for name, caption in present]


def _tau_png(curves: dict[str, list[dict]], tracking: dict | None) -> bytes:
    """The comparison's tau-while-training figure, drawn as `naslid compare` draws plots/tau_while_training.png."""
    from types import SimpleNamespace

    from naslid.runs.plots import png_bytes, tau_curves_figure

    plan = SimpleNamespace(track_subset=(tracking or {}).get("subset"))  # the one field of the plan it reads
    return png_bytes(tau_curves_figure(curves, plan))
