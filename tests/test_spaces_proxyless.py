"""The ProxylessNAS space: points and choices, arch strings, sub-spaces."""

import json

import numpy as np
import pytest

from naslid.spaces import SPACES, ChoiceArch, SearchSpace, SubSpace, arch_to_json, get_space
from naslid.spaces.proxyless import (
    PROXYLESS_CHOICES,
    PROXYLESS_MBCONVS,
    PROXYLESS_POINTS,
    ProxylessArch,
    ProxylessSpace,
    parse_choice,
    parse_proxyless_arch,
)

# ProxylessNAS-Mobile's layer choices (osmr/imgclsmob `get_proxylessnas("mobile")`, widths aside)
MOBILE = ("k5_e3-k3_e3-zero-zero-k7_e3-k3_e3-k5_e3-k5_e3-k7_e6-k5_e3-k5_e3-k5_e3-k5_e6-k5_e3-k5_e3-k5_e3-"
          "k7_e6-k7_e6-k7_e3-k7_e3-k7_e6")


def test_registered_and_shaped_like_the_source():
    space = get_space("proxyless")
    assert SPACES["proxyless"] is ProxylessSpace and isinstance(space, SearchSpace)
    assert len(space.points) == 21
    assert space.points[:5] == ("stage1.block0", "stage1.block1", "stage1.block2", "stage1.block3",
                                "stage2.block0")
    assert space.points[-1] == "stage6.block0"
    firsts = [i for i, name in enumerate(PROXYLESS_POINTS) if name.endswith("block0")]
    assert firsts == [0, 4, 8, 12, 16, 20]
    for point, choices in enumerate(PROXYLESS_CHOICES):
        assert choices[:6] == PROXYLESS_MBCONVS
        assert ("zero" in choices) == (point not in firsts)
    assert space.size() == 6 ** 6 * 7 ** 15
    assert space.point_position(13) == (3, 1)


@pytest.mark.parametrize("choice, expected", [("k3_e3", (3, 3)), ("k7_e6", (7, 6)), ("zero", None)])
def test_parse_choice(choice, expected):
    assert parse_choice(choice) == expected


def test_random_archs_round_trip():
    space = get_space("proxyless")
    rng = np.random.default_rng(0)
    for _ in range(200):
        arch = space.sample(rng)
        text = space.format(arch)
        assert space.parse(text) == arch
        assert str(arch) == text == space.canonical_key(arch)
        assert json.loads(json.dumps(arch_to_json(arch, space)))["arch"] == text


@pytest.mark.parametrize("text", [
    MOBILE,
    "-".join(["k3_e3"] * 21),
    "-".join(["k7_e6"] * 21),
    "-".join("k3_e6" if name.endswith("block0") else "zero" for name in PROXYLESS_POINTS),
])
def test_edge_cases_round_trip(text):
    arch = parse_proxyless_arch(text)
    assert isinstance(arch, ProxylessArch) and isinstance(arch, ChoiceArch)
    assert str(arch) == text
    assert arch.replace(1, "k5_e6").ops[1] == "k5_e6"


@pytest.mark.parametrize("text, message", [
    ("k3_e3-k3_e3", "has 2 choices"),
    ("-".join(["k3_e3"] * 20 + ["k9_e3"]), "not allowed at layer stage6.block0"),
    ("zero-" + "-".join(["k3_e3"] * 20), "cannot be zero"),
    ("-".join(["k3_e3"] * 4 + ["zero"] + ["k3_e3"] * 16), "stage2.block0"),
    ("|k3_e3|", "has 1 choices"),
])
def test_bad_strings_give_clear_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_proxyless_arch(text)


def test_bad_arch_values():
    with pytest.raises(ValueError, match="21 layer choices"):
        ProxylessArch(("k3_e3",))
    with pytest.raises(ValueError, match="must be a str"):
        parse_proxyless_arch(3)
    with pytest.raises(ValueError, match="unknown ProxylessNAS choice"):
        parse_choice("k3_e4")


def test_subspace_split_and_json_round_trip():
    space = get_space("proxyless")
    full = SubSpace(None, space)
    point = PROXYLESS_POINTS.index("stage2.block1")
    assert len(full.allowed[point]) == 7
    small, large = full.split(point, [["k3_e3", "k3_e6", "zero"], ["k5_e3", "k5_e6", "k7_e3", "k7_e6"]])
    assert small.size() * 4 == large.size() * 3
    assert small.size() + large.size() == full.size()
    rng = np.random.default_rng(1)
    for _ in range(20):
        arch = small.sample(rng)
        assert arch in small and arch not in large and arch in full
        assert arch.ops[point] in ("k3_e3", "k3_e6", "zero")
    data = json.loads(small.dumps())
    assert data["space"] == "proxyless" and data["points"] == list(PROXYLESS_POINTS)
    again = SubSpace.from_json(data)
    assert again == small and again.space is space
    assert "proxyless" in repr(small)
    with pytest.raises(ValueError, match="unknown choice"):
        SubSpace([["zero"]] + [list(c) for c in PROXYLESS_CHOICES[1:]], space)
