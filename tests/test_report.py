"""`naslid report`: one self-contained HTML page per run, checked by loading it in a real headless Chromium.

The page is rendered with `chromium --headless --dump-dom` (the DOM after its load event, when the page's own
inline script has counted the figures that decoded) and `--screenshot`; the assertions are on what rendered.
Without a chromium binary the browser tests skip, or fail under NASLID_NO_SKIPS=1 (CI installs it).
"""

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import skip_or_fail

from naslid.cli import main
from naslid.lid import save_profiles, summarize
from naslid.runs.report import write_report

TINY = ["--channels", "4", "--split-epochs", "1", "--finetune-epochs", "1", "--split-batches", "1", "--no-progress"]
ODD_NAME = "lid <em>odd & name.json"  # a file name with markup: the page must show it as text


def _naslid(*argv: str) -> str:
    """Run the CLI in a subprocess on one thread (no lock stays in this process); its stdout."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "naslid.cli", *argv], capture_output=True, text=True, timeout=600,
                          env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


# --- a tiny DOM: what Chromium's --dump-dom printed, parsed into elements ---


class _Element:
    def __init__(self, tag: str, attrs: dict, parent=None) -> None:
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []

    def text(self) -> str:
        parts = [child if isinstance(child, str) else child.text() for child in self.children]
        return " ".join(" ".join(parts).split())

    def all(self, tag: str | None = None, **attrs: str) -> list["_Element"]:
        found = []
        for child in self.children:
            if isinstance(child, _Element):
                if (tag is None or child.tag == tag) and all(child.attrs.get(k.rstrip("_")) == v
                                                              for k, v in attrs.items()):
                    found.append(child)
                found += child.all(tag, **attrs)
        return found

    def one(self, tag: str | None = None, **attrs: str) -> "_Element":
        found = self.all(tag, **attrs)
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]

    def rows(self) -> list[list[str]]:
        """A table's body rows as cell texts."""
        return [[cell.text() for cell in row.children if isinstance(cell, _Element)]
                for body in self.all("tbody") for row in body.all("tr")]


class _DomParser(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input", "source"}

    def __init__(self) -> None:
        super().__init__()
        self.root = self.current = _Element("#document", {})

    def handle_starttag(self, tag, attrs):
        element = _Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        if tag not in self.VOID:
            self.current = element

    def handle_endtag(self, tag):
        node = self.current
        while node.parent is not None and node.tag != tag:
            node = node.parent
        if node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    skip_or_fail("the chromium browser is not installed (Debian: apt-get install chromium); the report's rendering "
                 "is not checked")


def _browse(page: Path, work: Path) -> tuple[_Element, Path]:
    """The DOM Chromium rendered from `page` and a screenshot of it."""
    browser = _chromium()
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={work / 'profile'}",
             "--virtual-time-budget=10000", "--window-size=1280,2400"]
    dom = subprocess.run([*flags, "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True,
                         timeout=180)
    assert dom.returncode == 0 and "</html>" in dom.stdout, dom.stderr[-2000:]
    shot = work / "screenshot.png"
    done = subprocess.run([*flags, f"--screenshot={shot}", page.resolve().as_uri()], capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    parser = _DomParser()
    parser.feed(dom.stdout)
    return parser.root, shot


def _check_page(dom: _Element, html_text: str, shot: Path, title: str, minimum_figures: int) -> None:
    """What every report must render: its title, decoded figures only, nothing from outside, a drawn screenshot."""
    from PIL import Image

    assert dom.one("title").text() == title and dom.one("h1").text() == title
    images = dom.all("img")
    assert len(images) >= minimum_figures
    assert all(image.attrs["src"].startswith("data:image/png;base64,") for image in images)
    check = dom.one(id="figure-check")  # written by the page's inline script once every image has loaded
    assert check.attrs.get("data-images") == str(len(images)), check.text()
    assert check.attrs.get("data-decoded") == str(len(images)), check.text()  # a broken image has naturalWidth 0
    assert check.text() == f"{len(images)} of {len(images)} figures decoded"
    # self-contained: no external resource anywhere in the file
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", html_text)
    assert "<link" not in html_text and "<script src" not in html_text and "@import" not in html_text
    with Image.open(shot) as picture:
        assert picture.size == (1280, 2400)
        colours = picture.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, tables and plots were drawn, not a blank page


# --- a partition run: tracked tau, a split with evidence, a search and a stored LID profile ---


@pytest.fixture(scope="module")
def partition_run(tmp_path_factory) -> tuple[Path, str]:
    _chromium()  # before the run is built: without a browser there is nothing to check
    run = tmp_path_factory.mktemp("report") / "run"
    printed = _naslid("partition", str(run), "--track-ranking", "random20", *TINY)
    _naslid("search", str(run), "--budget", "12", "--no-progress")
    profile = summarize(["cell0", "cell1", "cell2"], [[4.0, 7.5, 3.0], [4.4, 7.1, 3.2]], n=64, k=10, estimator="mle",
                        label="<i>a model</i>")
    save_profiles(run / ODD_NAME, [profile])
    return run, printed


@pytest.mark.slow
def test_partition_run_report_renders_in_chromium(partition_run, tmp_path):
    run, printed = partition_run
    page = write_report(run, tmp_path / "report.html")
    html_text = page.read_text()
    dom, shot = _browse(page, tmp_path)
    _check_page(dom, html_text, shot, "naslid report: run", minimum_figures=2)
    assert [h.text() for h in dom.all("h2")] == ["Run summary", "Leaves", "Kendall tau while training",
                                                  "Partition tree and split evidence", "Search results",
                                                  "LID profiles"]
    summary = {row[0]: row[1] for row in dom.one("table", class_="summary").rows()}
    assert summary["search space"] == "nb201 (15,625 architectures, 6 choice points)"
    assert summary["method"] == "split by the lid criterion (nas-lid)"
    assert summary["seeds"].startswith("run 0; data 0")
    assert summary["progress"] == "3 nodes, 2 leaves, 2 of them fine-tuned"

    tree = json.loads((run / "partition_tree.json").read_text())
    split = tree["nodes"][0]["split"]
    # the tree as nested lists: node 0 holds its two children
    root = dom.one("li", id="node-0")
    assert {li.attrs["id"] for li in root.all("li")} == {"node-1", "node-2"}
    assert "15,625 architectures, trained 1 epoch, split" in root.text()
    # the split's groups by op name, each with the child it made
    groups = root.one("table", class_="groups").rows()
    children = tree["nodes"][0]["children"]
    assert groups == [[str(i + 1), f"node {child}", ", ".join(group)]
                      for i, (group, child) in enumerate(zip(split["groups"], children, strict=True))]
    # every point considered, the chosen one marked, with its score and bootstrap share
    points = root.one("table", class_="points")
    assert [row[0] for row in points.rows()] == list(split["edge_scores"])
    chosen = points.one("td", class_="chosen")
    assert chosen.text() == split["edge"]
    for row in points.rows():
        assert row[1] == f"{split['edge_scores'][row[0]]:.3f}"
        assert row[3] == f"{100 * split['reliability']['edges'][row[0]]['chosen_share']:.0f}%"
    # the chosen point's similarity matrix: op names on both sides and every value
    matrix = root.all("table", class_="matrix")[0]
    evidence = split["similarities"][split["edge"]]
    assert [th.text() for th in matrix.one("thead").all("th")] == ["", *evidence["ops"]]
    assert matrix.rows() == [[op, *(f"{v:.3f}" for v in row)]
                             for op, row in zip(evidence["ops"], evidence["matrix"], strict=True)]
    assert len(root.all("table", class_="matrix")) == len(split["similarities"])  # the others in <details>

    leaves = dom.one("table", class_="leaves").rows()
    assert [row[0] for row in leaves] == ["node 1", "node 2"]
    assert all(re.fullmatch(r"-?\d\.\d{3}|n/a", row[-2]) for row in leaves)  # per-leaf Kendall tau
    # the tau curve the CLI printed while training is the page's table, epoch by epoch
    printed_curve = re.search(r"epoch: tau\): (.*)", printed)[1]
    expected = [point.split(": ") for point in printed_curve.split(", ")]
    assert [[row[0], row[2]] for row in dom.one("table", class_="tau").rows()] == expected
    best = json.loads((run / "search_evolution.json").read_text())["best"]["arch"]
    assert dom.one("table", class_="search").one("code").text() == best
    # the stored LID profile is a figure, and its file name (markup included) is text, not markup
    caption = [f for f in dom.all("figcaption") if ODD_NAME in f.text()]
    assert len(caption) == 1 and not caption[0].all("em")
    assert "lid &lt;em&gt;odd &amp; name.json" in html_text and "<em" not in html_text


def test_a_run_without_tracking_search_or_profiles_says_so(tiny_trained_run, tmp_path, capsys):
    out = tmp_path / "nested" / "page.html"
    assert main(["report", str(tiny_trained_run), "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert not (tiny_trained_run / "report.html").exists()  # --out given: nothing written into the run
    dom, shot = _browse(out, tmp_path)
    _check_page(dom, out.read_text(), shot, "naslid report: run", minimum_figures=0)
    missing = [p.text() for p in dom.all("p", class_="missing")]
    assert any(text.startswith("this run tracked no ranking while training") for text in missing)
    assert any(text.startswith("no search result in this run") for text in missing)
    assert any(text.startswith("no LID profiles stored in this run") for text in missing)
    assert any(text.startswith("no proxy scores in this run") for text in missing)
    root = dom.one("li", id="node-0")
    assert "leaf" in root.text() and not root.all("div")  # one node, no split evidence


def test_report_errors_are_one_line_with_status_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err
    assert err == f"naslid report: error: {tmp_path / 'absent'} is not a directory; expected a naslid run " \
        "directory or compare folder\n"
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("naslid report: error:") and err.count("\n") == 1 and "nothing to report" in err
    assert not (tmp_path / "empty" / "report.html").exists()
    with pytest.raises(ValueError, match="not valid JSON"):
        (tmp_path / "broken").mkdir()
        (tmp_path / "broken" / "compare.json").write_text("{")
        write_report(tmp_path / "broken")


@pytest.mark.slow
def test_compare_report_renders_in_chromium(tmp_path):
    _chromium()
    folder = tmp_path / "compare"
    _naslid("compare", str(folder), "--preset", "tiny", "--methods", "spos,nas-lid", "--subset", "random30",
            "--budget", "10", "--track-ranking", "random20", "--no-progress")
    assert main(["report", str(folder)]) == 0
    page = folder / "report.html"
    dom, shot = _browse(page, tmp_path)
    _check_page(dom, page.read_text(), shot, "naslid report: comparison compare", minimum_figures=5)
    results = json.loads((folder / "compare.json").read_text())
    methods = dom.one("table", class_="methods").rows()
    # the trained methods, then the floor every comparison reports beside them
    assert [row[0] for row in methods] == ["spos", "nas-lid", "params", "flops"] == list(results["methods"])
    for row, summary in zip(methods, results["methods"].values(), strict=True):
        ranking = summary["ranking"][0]
        assert row[2] == str(summary["leaves"]) and row[5] == f"{ranking['kendall_tau_b']:.3f}"
        assert row[6] == f"{ranking['spearman']:.3f}"
        assert row[7] == ((summary.get("search") or {}).get("best_arch", "n/a"))
        assert (summary["leaves"] == 0) == (summary.get("kind") == "training-free")
    captions = [f.text() for f in dom.all("figcaption")]
    assert any(c.startswith("Kendall tau-b while training") for c in captions)
    assert any(c.startswith("LID profiles of the best and worst") for c in captions)
    assert len(dom.one("table", class_="tau").rows()) == len(results["methods"]["nas-lid"]["curve"])
    # each method's tree, with the split groups by op name
    tree = json.loads((folder / "nas-lid" / "partition_tree.json").read_text())
    root = dom.one("li", id="method-nas-lid-node-0")
    splits = [node for node in tree["nodes"] if node["split"]]
    assert len(root.all("table", class_="groups")) == len(splits)  # the root's first, then its children's
    assert root.all("table", class_="groups")[0].rows()[0][2] == ", ".join(tree["nodes"][0]["split"]["groups"][0])
    assert dom.one("li", id="method-spos-node-0").all("li") == []  # SPOS: one leaf


def test_every_block_escapes_what_it_shows():
    """The templates autoescape: a run's strings in any kind of block come out as text, never as markup."""
    from naslid.runs import report

    odd = "<em>x</em> & 'y'"
    split = report._Split(odd, odd, [report._Details(odd, [report._matrix(odd, {"ops": [odd], "matrix": [[1.0]]})])])
    node = report._TreeNode(0, odd, odd, split, [report._TreeNode(1, "node-1", odd, None, [])])
    body = [report._section(odd, odd, report._p(odd), report._missing(odd), report._Text(odd, "h3"),
                            report._table([odd], [[odd, report._code(odd), report._numeric(odd)]], odd, odd),
                            report._pairs([(odd, odd)]), report._img(b"png", odd, odd), report._Tree(node))]
    page = report._page(odd, body)
    assert "<em" not in page and "&lt;em&gt;x&lt;/em&gt; &amp; &#39;y&#39;" in page
    assert page.count('id="&lt;em&gt;x&lt;/em&gt; &amp; &#39;y&#39;"') == 2  # the section's and the tree node's anchor


def test_the_templates_ship_as_package_data():
    import fnmatch
    import tomllib

    root = Path(__file__).parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    templates = root / "src" / "naslid" / "runs" / "templates"
    names = [f"templates/{path.name}" for path in templates.iterdir()]
    assert "templates/report.html.j2" in names
    assert all(any(fnmatch.fnmatch(name, pattern) for pattern in patterns["naslid.runs"]) for name in names)
