"""Method variants: parsing (one-line errors naming the field), configuration, and paired sharing in compare."""

import json
import re
from functools import partial

import pytest
import torch
from helpers import TINY_SEARCH, tiny_run_config

from naslid.cli import main
from naslid.runs.compare import compare_methods
from naslid.runs.presets import ComparePlan, get_preset
from naslid.runs.protocols import method_config, method_folder, parse_method, split_methods
from naslid.spaces import NB201Space, format_arch
from naslid.train import load_checkpoint


def test_variant_spellings_parse_into_the_fields_they_name():
    base = get_preset("cpu").config
    cfg = method_config(base, "nas-lid[ similarity=cosine , edge-score=max-cross ]")
    assert (cfg.split.criterion, cfg.split.similarity, cfg.split.edge_score) == ("lid", "cosine", "max-cross")
    assert parse_method("nas-lid[ similarity=cosine , edge-score=max-cross ]").spelling == \
        "nas-lid[similarity=cosine,edge-score=max-cross]"
    assert method_config(base, "nas-lid[finetune=restart]").schedule.finetune == "restart"
    assert method_config(base, "nas-lid[split-epochs=10:20]").schedule.split_epochs == (10, 20)
    assert method_config(base, "gm-nas[split.batch-size=64]").split.batch_size == 64
    assert method_config(base, "nas-lid[measurement-augment=on]").split.measurement_augment is True
    assert method_config(base, "spos[proxy.evaluation-images=none]").proxy.evaluation_images is None
    assert method_config(base, "gm-nas[edge-score=intra]").split.edge_score == "intra"  # overrides the method's
    released = method_config(base, "nas-lid[protocol=nas-lid-release]", scale="cpu")
    assert released.split.similarity == "cosine" and released.schedule.split_epochs == (8, 16, 23, 31)
    assert split_methods("spos, nas-lid[similarity=cosine,edge-score=max-cross],random-split") == (
        "spos", "nas-lid[similarity=cosine,edge-score=max-cross]", "random-split")


@pytest.mark.parametrize("spelling, message", [
    ("nas-lid[similarity=cosin]", "nas-lid[similarity=cosin]: similarity='cosin'; expected one of"),
    ("nas-lid[colour=red]", "unknown setting 'colour'"),
    ("nas-lid[batch-size=64]", "ambiguous; write one of split.batch-size, train.batch-size"),
    ("nas-lid[k=many]", "k='many' is not a valid int"),
    ("nas-lid[k]", "'k' is not key=value"),
    ("nas-lid[k=3", "one closing bracket"),
    ("nas-lid[k=3,k=4]", "k is set twice"),
    ("nas-lidd[k=3]", "unknown method 'nas-lidd'"),
    ("nas-lid[protocol=mine]", "unknown protocol 'mine'"),
    ("nas-lid[split.colour=red]", "unknown setting 'split.colour'"),
])
def test_bad_variants_are_one_line_errors_naming_the_field(spelling, message):
    with pytest.raises(ValueError, match=None) as error:
        method_config(get_preset("cpu").config, spelling)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_equivalent_spellings_are_one_method():
    """Issue 33: `nas-lid[split.k=5]` and `nas-lid[k=5]` are one method (one folder, one row), not two."""
    assert parse_method("nas-lid[split.k=5]").spelling == parse_method("nas-lid[k=5]").spelling == "nas-lid[k=5]"
    assert parse_method("nas-lid[edge_score=max-cross]").spelling == "nas-lid[edge-score=max-cross]"
    assert parse_method("nas-lid[split.batch-size=64]").spelling == "nas-lid[split.batch-size=64]"  # ambiguous alone
    for methods in (("nas-lid[k=5]", "nas-lid[split.k=5]"), ("nas-lid[k=5,similarity=cosine]",
                                                              "nas-lid[similarity=cosine,split.k=5]")):
        with pytest.raises(ValueError, match="name a method twice"):
            ComparePlan(methods=methods)
    with pytest.raises(ValueError, match="k is set twice"):
        parse_method("nas-lid[k=3,split.k=4]")


def test_a_variant_value_never_becomes_a_path_component():
    assert method_folder("nas-lid") == "nas-lid"  # simple spellings keep their folders: old comparisons resume
    assert method_folder("nas-lid[similarity=cosine,split-epochs=20:40]") == \
        "nas-lid[similarity=cosine,split-epochs=20:40]"
    assert method_folder("nas-lid[split.similarity=cosine]") == "nas-lid[similarity=cosine]"
    for spelling in ("spos[cache-dir=../../../escaped]", "spos[cache-dir=/tmp/x]", "spos[cache-dir=" + "a" * 200 + "]",
                     "spos[cache-dir=~/x y]"):
        folder = method_folder(spelling)
        assert re.fullmatch(r"spos-[0-9a-f]{12}", folder), folder
    assert method_folder("spos[cache-dir=../a]") != method_folder("spos[cache-dir=../b]")


def test_bad_variants_fail_the_cli_with_one_line(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "x"), "--methods", "spos,nas-lid[similarity=cosin]", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "similarity='cosin'" in err[0]
    assert not (tmp_path / "x" / "spos").exists()  # refused before any work


_config = partial(tiny_run_config, train_limit=400, split={"gradient_batches": 1}, proxy={"evaluation_images": 100},
                  search=TINY_SEARCH)


@pytest.mark.slow
def test_variants_that_differ_in_the_edge_rule_share_root_and_split_batches(tmp_path):
    truth = {arch: float(i % 97) for i, arch in enumerate(NB201Space().all())}
    table = tmp_path / "truth.json"
    table.write_text(json.dumps({format_arch(arch): value for arch, value in truth.items()}))
    methods = ("nas-lid", "nas-lid[edge-score=max-cross]", "nas-lid[edge-score=min-cross]")
    plan = ComparePlan(methods=methods, ranking_subsets=("random30",), profile_archs=1, profile_batches=1,
                       share_root=False, control="nas-lid")
    results = compare_methods(tmp_path / "cmp", _config(), plan, benchmark_path=table)
    roots = {m: load_checkpoint(tmp_path / "cmp" / m / "nodes" / "node0.pt") for m in methods}
    first = roots[methods[0]]
    for method in methods[1:]:  # trained apart, bit-identical up to the first split
        assert roots[method]["epoch"] == first["epoch"] == 1
        assert all(torch.equal(first["model"][k], v) for k, v in roots[method]["model"].items())
    trees = {m: json.loads((tmp_path / "cmp" / m / "partition_tree.json").read_text()) for m in methods}
    splits = {m: next(n for n in trees[m]["nodes"] if n["id"] == 0)["split"] for m in methods}
    for method in methods[1:]:  # the same batches and paths measured the same matrices; only the rule differs
        assert splits[method]["similarities"] == splits[methods[0]]["similarities"]
    assert list(results["methods"]) == [*methods, "params", "flops"]  # the floor follows the trained methods
    assert set(results["paired"]["against_control"]) == set(methods[1:]) | {"params", "flops"}
    assert (tmp_path / "cmp" / "nas-lid[edge-score=max-cross]" / "partition_tree.json").is_file()
    assert "nas-lid[edge-score=max-cross]" in (tmp_path / "cmp" / "compare.md").read_text()


@pytest.mark.slow
def test_variants_on_another_protocol_train_their_own_shared_root(tmp_path):
    truth = {arch: float(i % 97) for i, arch in enumerate(NB201Space().all())}
    table = tmp_path / "truth.json"
    table.write_text(json.dumps({format_arch(arch): value for arch, value in truth.items()}))
    methods = ("spos", "nas-lid", "nas-lid[protocol=nas-lid-release]", "random-split[protocol=nas-lid-release]")
    plan = ComparePlan(methods=methods, ranking_subsets=("random30",), profile_archs=1, profile_batches=1,
                       scale="tiny", control="random-split[protocol=nas-lid-release]")
    results = compare_methods(tmp_path / "cmp", _config(), plan, benchmark_path=table)
    assert (tmp_path / "cmp" / "shared_root_common").is_dir()
    assert (tmp_path / "cmp" / "shared_root_nas-lid-release").is_dir()
    protocols = results["protocol"]["method_protocols"]
    assert protocols["nas-lid[protocol=nas-lid-release]"]["protocol"] == "nas-lid-release"
    assert protocols["nas-lid"]["protocol"] == "ours" and results["methods"]["nas-lid[protocol=nas-lid-release]"][
        "leaves"] == 16
    assert set(results["paired"]["against_control"]) == set(methods[:3]) | {"params", "flops"}
