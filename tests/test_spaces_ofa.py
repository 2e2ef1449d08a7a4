"""The OFA-MobileNetV3 space: string form, validation, inactive blocks, sub-spaces and their JSON."""

import json

import numpy as np
import pytest

from naslid.spaces import SPACES, OFAArch, OFASpace, SubSpace, get_space
from naslid.spaces.ofa import BLOCK_CHOICES, DEPTH_CHOICES, INACTIVE, OFA_POINTS, block_point, depth_point

SPACE = get_space("ofa")
LARGEST = "|".join(["d4:" + ",".join(["k7_e6"] * 4)] * 5)


def test_registered_with_25_named_points():
    assert SPACES["ofa"] is OFASpace and isinstance(SPACE, OFASpace)
    assert len(SPACE.points) == 25 and SPACE.points[:2] == ("stage1.depth", "stage1.block0")
    assert SPACE.points[-1] == "stage5.block3"
    assert [len(c) for c in SPACE.choices].count(3) == 5 and [len(c) for c in SPACE.choices].count(9) == 20
    assert BLOCK_CHOICES[0] == "k3_e3" and BLOCK_CHOICES[-1] == "k7_e6"
    assert OFA_POINTS[depth_point(2)] == "stage3.depth" and OFA_POINTS[block_point(2, 3)] == "stage3.block3"


def test_string_round_trip_on_random_samples_and_edge_cases():
    rng = np.random.default_rng(0)
    archs = [SPACE.sample(rng) for _ in range(200)]
    archs += [SPACE.uniform(d, k, e) for d in (2, 4) for k in (3, 7) for e in (3, 6)]
    for arch in archs:
        text = SPACE.format(arch)
        assert SPACE.parse(text) == arch and str(arch) == text
        assert SPACE.parse(f"  {text}\n") == arch
    assert SPACE.format(SPACE.uniform(4, 7, 6)) == LARGEST
    assert SPACE.uniform(2, 3, 3).depths == (2,) * 5
    assert SPACE.parse(LARGEST).active_blocks()[0] == (0, 0, 7, 6)


@pytest.mark.parametrize("text, fragment", [
    ("d4:k7_e6,k7_e6,k7_e6,k7_e6", "1 stages"),
    (LARGEST.replace("d4:", "d5:", 1), "depth 'd5'"),
    (LARGEST.replace("d4:", "d4-", 1), "must look like"),
    (LARGEST.replace("k7_e6,", "", 1), "lists 3 blocks"),
    (LARGEST.replace("k7_e6", "k9_e6", 1), "'k9_e6'"),
    (LARGEST.replace("k7_e6", INACTIVE, 1), "expected one of"),
    (LARGEST + "|", "6 stages"),
])
def test_bad_strings_name_the_fault(text, fragment):
    with pytest.raises(ValueError, match=fragment):
        SPACE.parse(text)


def test_arch_rejects_wrong_length_and_names_at_the_wrong_point():
    with pytest.raises(ValueError, match="25 choices"):
        OFAArch(("d4",) * 3)
    ops = list(SPACE.uniform(4, 7, 6).ops)
    ops[0] = "k3_e3"  # a block choice at a depth point
    with pytest.raises(ValueError, match="stage1.depth"):
        OFAArch(tuple(ops))
    with pytest.raises(ValueError, match="must be a str"):
        SPACE.parse(None)


def test_canonical_key_ignores_exactly_the_inactive_blocks():
    shallow = SPACE.uniform(2, 3, 3)
    changed = shallow.replace(block_point(0, 3), "k7_e6").replace(block_point(4, 2), "k5_e4")
    assert changed != shallow and SPACE.canonical_key(changed) == SPACE.canonical_key(shallow)
    assert SPACE.canonical_key(shallow).count(INACTIVE) == 10
    active = shallow.replace(block_point(0, 1), "k7_e6")
    assert SPACE.canonical_key(active) != SPACE.canonical_key(shallow)
    deeper = shallow.replace(depth_point(0), "d3")
    assert SPACE.canonical_key(deeper) != SPACE.canonical_key(shallow)
    assert SPACE.canonical_key(SPACE.uniform(4, 5, 4)) == SPACE.format(SPACE.uniform(4, 5, 4))


def test_sizes_count_tuples_and_distinct_networks():
    # OFA paper, Sec. 3.3: "((3 x 3)^2 + (3 x 3)^3 + (3 x 3)^4)^5 ~ 2 x 10^19" sub-networks (per resolution)
    assert SPACE.size() == 3 ** 5 * 9 ** 20
    assert SPACE.distinct_size(SPACE.full()) == (9 ** 2 + 9 ** 3 + 9 ** 4) ** 5
    tiny = SubSpace([names[:2] if len(names) == 9 and i % 5 < 3 else names[:1]
                     for i, names in enumerate(SPACE.choices)], SPACE)
    # depth fixed to d2, blocks 0-1 allow 2 choices each: every tuple is a distinct network
    assert tiny.size() == SPACE.distinct_size(tiny) == 4 ** 5
    keys = {SPACE.canonical_key(arch) for arch in tiny.all()}
    assert len(keys) == tiny.size()


def test_all_counts_archs_differing_only_in_inactive_blocks_separately():
    allowed = [names[:1] for names in SPACE.choices]
    allowed[block_point(0, 3)] = BLOCK_CHOICES[:3]  # inactive at depth 2
    allowed[depth_point(0)] = ("d2", "d4")
    sub = SubSpace(allowed, SPACE)
    archs = list(sub.all())
    assert len(archs) == sub.size() == 6
    assert len({SPACE.canonical_key(a) for a in archs}) == SPACE.distinct_size(sub) == 4


def test_sampling_is_seeded_and_uniform_per_point():
    first = [SPACE.sample(np.random.default_rng(5)) for _ in range(3)]
    assert first == [SPACE.sample(np.random.default_rng(5)) for _ in range(3)]
    rng = np.random.default_rng(1)
    draws = [SPACE.sample(rng) for _ in range(900)]
    depth_counts = {d: sum(a.ops[0] == d for a in draws) for d in DEPTH_CHOICES}
    block_counts = {c: sum(a.ops[1] == c for a in draws) for c in BLOCK_CHOICES}
    assert all(240 < n < 360 for n in depth_counts.values()), depth_counts
    assert all(65 < n < 135 for n in block_counts.values()), block_counts


def test_subspace_splits_block_and_depth_points_and_json_round_trips():
    full = SPACE.full()
    point = block_point(1, 2)
    small, large = full.split(point, [BLOCK_CHOICES[:4], BLOCK_CHOICES[4:]])
    assert small.size() * 5 == large.size() * 4 and small.size() + large.size() == full.size()
    arch = SPACE.uniform(4, 3, 3)
    assert arch in small and arch not in large
    shallow, deep = small.split(depth_point(1), [["d2"], ["d3", "d4"]])
    assert shallow.allowed[depth_point(1)] == ("d2",) and deep.allowed[depth_point(1)] == ("d3", "d4")
    for sub in (small, large, shallow, deep):
        data = json.loads(sub.dumps())
        assert data["space"] == "ofa" and data["points"] == list(SPACE.points)
        assert SubSpace.from_json(data) == sub
    assert "space='ofa'" in repr(shallow)
    with pytest.raises(ValueError, match="unknown choice 'd5' at point stage1.depth"):
        SubSpace([["d5"]] + [list(c) for c in SPACE.choices[1:]], "ofa")
    assert shallow.sample(np.random.default_rng(0)).ops[depth_point(1)] == "d2"
