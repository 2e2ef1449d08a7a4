"""NB201 space: string format, enumeration, isomorphism classes, sub-spaces."""

import csv

import numpy as np
import pytest
from helpers import NB201_ALL

from naslid.spaces import (
    NB201_OPS,
    NB201Arch,
    NB201Space,
    SubSpace,
    format_arch,
    get_space,
    isomorphism_key,
    parse_arch,
)

INDEX0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"


def test_string_round_trip_on_every_arch():
    space = NB201Space()
    archs = list(space.all())
    assert len(archs) == space.size() == 15_625
    strings = {format_arch(a) for a in archs}
    assert len(strings) == 15_625
    assert all(parse_arch(format_arch(a)) == a for a in archs)


def test_index0_parses_to_op_names():
    arch = parse_arch(INDEX0)
    assert arch.ops == ("avg_pool_3x3", "nor_conv_1x1", "skip_connect", "nor_conv_1x1", "skip_connect",
                        "skip_connect")
    assert str(arch) == INDEX0


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "2 node groups.*expected 3"),
        ("|conv~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|", "unknown op 'conv'"),
        ("|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|", "expected 0"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|none~0|none~1|none~2|", "expected 2"),
        ("nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|", "start and end"),
        ("|nor_conv_3x3|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|", "op~input"),
    ],
)
def test_bad_strings_name_the_fault(text, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_arch(text)


def test_arch_rejects_unknown_ops_and_wrong_length():
    with pytest.raises(ValueError, match="unknown NB201 op"):
        NB201Arch(("conv",) * 6)
    with pytest.raises(ValueError, match="6 edge ops"):
        NB201Arch(("none",) * 5)


def test_isomorphism_classes_number_6466():
    assert len({isomorphism_key(a) for a in NB201Space().all()}) == 6_466


def test_isomorphism_key_equals_benchmark_unique_str(shared_data):
    with open(shared_data / "nb201" / "nb201_merged.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["arch_str"] == INDEX0
    mismatches = [r["arch_str"] for r in rows if isomorphism_key(parse_arch(r["arch_str"])) != r["unique_str"]]
    assert mismatches == []


def test_isomorphic_archs_share_key():
    # node 2 = pool(x) + conv3(x) either way round: the summation order does not matter
    a = NB201Arch(("skip_connect", "avg_pool_3x3", "nor_conv_3x3", "none", "none", "skip_connect"))
    b = NB201Arch(("skip_connect", "nor_conv_3x3", "avg_pool_3x3", "none", "none", "skip_connect"))
    assert isomorphism_key(a) == isomorphism_key(b)
    # a different op on a used edge is a different function
    c = NB201Arch(("skip_connect", "nor_conv_1x1", "avg_pool_3x3", "none", "none", "skip_connect"))
    assert isomorphism_key(a) != isomorphism_key(c)
    # an op on an edge whose input is zero is unused, as in the benchmark
    d = NB201Arch(("none", "nor_conv_3x3", "nor_conv_1x1", "none", "none", "skip_connect"))
    e = NB201Arch(("none", "nor_conv_3x3", "avg_pool_3x3", "none", "none", "skip_connect"))
    assert isomorphism_key(d) == isomorphism_key(e)


def test_sampling_is_seeded_and_uniform():
    space = NB201Space()
    first = [space.sample(np.random.default_rng(3)) for _ in range(3)]
    again = [space.sample(np.random.default_rng(3)) for _ in range(3)]
    assert first == again
    rng = np.random.default_rng(0)
    counts = {op: 0 for op in NB201_OPS}
    for _ in range(2000):
        counts[space.sample(rng).ops[2]] += 1
    assert all(300 < c < 500 for c in counts.values()), counts


def test_subspace_split_contains_and_size():
    full = NB201_ALL
    assert full.size() == 15_625
    children = full.split(0, [["none", "skip_connect"], ["nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]])
    assert [c.size() for c in children] == [2 * 5**5, 3 * 5**5]
    grandchildren = children[1].split(4, [["avg_pool_3x3", "none"], ["skip_connect", "nor_conv_1x1", "nor_conv_3x3"]])
    leaves = [children[0], *grandchildren]
    assert sum(leaf.size() for leaf in leaves) == 15_625
    for arch in NB201Space().all():
        assert sum(leaf.contains(arch) for leaf in leaves) == 1
    sample = grandchildren[0].sample(np.random.default_rng(1))
    assert sample in grandchildren[0] and sample.ops[4] in ("avg_pool_3x3", "none")


def test_subspace_split_rejects_bad_groups():
    full = NB201_ALL
    with pytest.raises(ValueError, match="cover exactly"):
        full.split(0, [["none"], ["skip_connect"]])
    with pytest.raises(ValueError, match="two groups"):
        full.split(0, [["none", "skip_connect"], ["none", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]])
    with pytest.raises(ValueError, match="empty group"):
        full.split(0, [[], list(NB201_OPS)])
    with pytest.raises(ValueError, match="out of range"):
        full.split(6, [list(NB201_OPS)])


def test_subspace_json_round_trip_uses_names():
    sub = NB201_ALL.split(3, [["nor_conv_3x3", "none"], ["skip_connect", "nor_conv_1x1", "avg_pool_3x3"]])[0]
    data = sub.to_json()
    assert data["allowed"][3] == ["none", "nor_conv_3x3"]
    assert SubSpace.from_json(data) == sub
    with pytest.raises(ValueError, match="unsupported"):
        SubSpace.from_json({**data, "schema": "naslid.subspace/9"})


def test_get_space_lists_known_names():
    assert get_space("nb201").size() == 15_625
    with pytest.raises(ValueError, match="nb201"):
        get_space("darts")


def test_the_old_name_of_the_nb201_architecture_class_still_works():
    from naslid.spaces import Arch

    assert Arch is NB201Arch and NB201Arch.__name__ == "NB201Arch"
