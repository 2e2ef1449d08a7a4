"""Declared subsets: isomorphism-unique, top-p% with ties, seeded random, user lists."""

import json

import pytest

from naslid.bench import (
    isomorphism_unique,
    random_architectures,
    read_architecture_list,
    select_subset,
    top_percent,
)
from naslid.spaces import NB201Space, isomorphism_key, parse_arch

ALL_ARCHS = list(NB201Space().all())
POSITION = {arch: position for position, arch in enumerate(ALL_ARCHS)}


def test_unique_keeps_one_per_isomorphism_class_with_the_lowest_index():
    chosen = isomorphism_unique(ALL_ARCHS, POSITION.__getitem__)
    assert len(chosen) == 6466  # the count NAS-Bench-201 reports
    first_of_class = {}
    for arch in ALL_ARCHS:
        first_of_class.setdefault(isomorphism_key(arch), arch)
    assert set(chosen) == set(first_of_class.values())
    assert chosen == sorted(chosen, key=POSITION.__getitem__)


def test_top_percent_includes_ties_at_the_cut():
    archs = ALL_ARCHS[:10]
    truth = dict(zip(archs, [1, 9, 8, 8, 8, 2, 3, 4, 5, 6], strict=True))
    # 20% of 10 is k = 2: the cut is 8, and all three 8s are in
    assert top_percent(truth, archs, 20) == [archs[1], archs[2], archs[3], archs[4]]
    # 15% of 10 rounds up to k = 2 as well
    assert top_percent(truth, archs, 15) == top_percent(truth, archs, 20)
    assert top_percent(truth, archs, 10) == [archs[1]]
    with pytest.raises(ValueError, match="0 < p <= 100"):
        top_percent(truth, archs, 0)


def test_random_subset_is_seeded_and_in_index_order():
    first = random_architectures(ALL_ARCHS, 50, seed=3)
    assert first == random_architectures(ALL_ARCHS, 50, seed=3)
    assert first != random_architectures(ALL_ARCHS, 50, seed=4)
    assert len(set(first)) == 50 and first == sorted(first, key=POSITION.__getitem__)
    with pytest.raises(ValueError, match="1..15625"):
        random_architectures(ALL_ARCHS, 20000, seed=0)


def test_select_subset_specs():
    truth = {arch: float(position % 97) for arch, position in POSITION.items()}
    assert len(select_subset("all", truth, POSITION.__getitem__)) == 15625
    assert len(select_subset("unique", truth, POSITION.__getitem__)) == 6466
    top = select_subset("top0.5%", truth, POSITION.__getitem__)
    assert top.name == "top0.5%" and "ties at the cut included" in top.rule
    assert all(truth[arch] == 96.0 for arch in top.archs)
    random = select_subset("random100", truth, POSITION.__getitem__, seed=1)
    assert len(random) == 100 and random.seed == 1 and "seed=1" in random.rule
    with pytest.raises(ValueError, match="unknown subset 'best'.*top<p>%"):
        select_subset("best", truth, POSITION.__getitem__)


def test_list_subset_reads_text_and_json(tmp_path):
    chosen = [ALL_ARCHS[5], ALL_ARCHS[2]]
    text = tmp_path / "archs.txt"
    text.write_text("# my picks\n" + "\n".join(str(arch) for arch in chosen) + f"\n\n{chosen[0]}\n")
    assert read_architecture_list(text) == chosen
    as_json = tmp_path / "archs.json"
    as_json.write_text(json.dumps([str(arch) for arch in chosen]))
    assert read_architecture_list(as_json) == chosen
    truth = {arch: 1.0 for arch in ALL_ARCHS[:10]}
    subset = select_subset(f"list:{text}", truth, POSITION.__getitem__)
    assert subset.archs == (ALL_ARCHS[2], ALL_ARCHS[5])
    with pytest.raises(KeyError, match="not among the 2 scored"):
        select_subset(f"list:{text}", {ALL_ARCHS[0]: 1.0, ALL_ARCHS[1]: 2.0}, POSITION.__getitem__)
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{chosen[0]}\n|oops|\n")
    with pytest.raises(ValueError, match="entry 2"):
        read_architecture_list(bad)
    with pytest.raises(FileNotFoundError):
        read_architecture_list(tmp_path / "absent.txt")


def test_top_one_percent_of_the_fewshot_ground_truth_has_158_archs(shared_data):
    raw = json.loads((shared_data / "fewshot-nas-supernets" / "nasbench201.json").read_text())
    from naslid.bench import parse_arch_key

    truth = {parse_arch_key(key): value for key, value in raw.items()}
    order = {arch: position for position, arch in enumerate(truth)}
    subset = select_subset("top1%", truth, order.__getitem__)
    assert len(subset) == 158 and "k = ceil(1% of 15625) = 157" in subset.rule
    assert parse_arch("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|") not in subset.archs
