"""The supernet contract (`naslid.nn.supernet.SuperNet`), checked on every registered space and supernet alike.

As timm tests every registered model: a space registered in `naslid.spaces.SPACES` and `naslid.nn.SUPERNETS`
gets these checks at the smallest size it runs at. A new space adds its small configuration to `SMALL`.
"""

import itertools
from collections import Counter

import numpy as np
import pytest
import torch

from naslid.hooks import watching_outputs
from naslid.nn import SUPERNETS, SuperNet, build_supernet_for, network_config_class
from naslid.spaces import SPACES, get_space

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

NAMES = sorted(set(SPACES) | set(SUPERNETS))
RESOLUTION = 8  # the smallest square input every built-in space runs at (NB201 reduces twice, the others 3x)
BATCH = 4
# the smallest network configuration of each space: NB201 at C=4 with one cell per stage, the MobileNet spaces at
# width_mult 0.25 with the CIFAR-style stem (small_input); see tests/test_nn_proxyless.py and tests/test_nn_ofa.py
SMALL = {
    "nb201": {"channels": 4, "cells_per_stage": 1},
    "proxyless": {"width_mult": 0.25, "num_classes": 10, "small_input": True, "feature_mix_channels": 32},
    "ofa": {"width_mult": 0.25, "num_classes": 10, "small_input": True, "dropout": 0.0},
}


def _shared_by_design(name: str) -> set[frozenset[int]]:
    """Pairs of choice points whose parameters overlap on purpose: an OFA stage's depth point owns the blocks that
    d3 and d4 add (its blocks 3 and 4), which are also those blocks' own points."""
    if name != "ofa":
        return set()
    from naslid.spaces.ofa import block_point, depth_point

    return {frozenset((depth_point(stage), block_point(stage, block))) for stage in range(5) for block in (2, 3)}


@pytest.fixture(scope="module", params=NAMES)
def case(request):
    """(name, space, supernet) of one registered space, its supernet at the small configuration, seeded."""
    name = request.param
    assert name in SPACES, f"supernet {name!r} is registered but its space is not (naslid.spaces.register_space)"
    assert name in SUPERNETS, f"space {name!r} is registered but has no supernet (naslid.nn.register_supernet)"
    assert name in SMALL, f"add the smallest configuration of space {name!r} to SMALL in {__file__}"
    config = network_config_class(name)(**SMALL[name])
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = build_supernet_for(name, config)
    return name, get_space(name), net


def _images(net, seed: int, batch: int = BATCH) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, net.config.in_channels, RESOLUTION, RESOLUTION, generator=generator)


def _two_archs(space, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    first = space.sample(rng)
    second = space.sample(rng)
    while second == first:
        second = space.sample(rng)
    return first, second


def test_registries_agree_and_the_supernet_keeps_the_contract(case):
    name, space, net = case
    assert isinstance(net, SuperNet) and isinstance(net, SUPERNETS[name][1])
    assert net.space.name == space.name == name
    assert len(space.points) == len(space.choices) >= 1


def test_a_sampled_arch_round_trips_through_format_and_parse(case):
    _, space, _ = case
    for arch in _two_archs(space):
        text = space.format(arch)
        assert isinstance(text, str) and space.parse(text) == arch
        assert space.format(space.parse(text)) == text


def test_forward_gives_one_row_of_logits_per_image(case):
    _, space, net = case
    net.eval()
    with torch.no_grad():
        for arch in _two_archs(space):
            logits = net(_images(net, 0), arch)
            assert logits.shape == (BATCH, net.config.num_classes) and bool(torch.isfinite(logits).all())


def test_probed_layers_fire_once_each_per_forward_for_every_arch(case):
    _, space, net = case
    layers = net.probed_layers()
    assert layers and len({id(layer) for layer in layers}) == len(layers)
    counts = []
    net.eval()
    for arch in _two_archs(space):
        fired = []
        with torch.no_grad(), watching_outputs(enumerate(layers), lambda index, _, fired=fired: fired.append(index)):
            net(_images(net, 1), arch)
        assert Counter(fired) == Counter(range(len(layers))), "every probed layer fires exactly once"
        counts.append(len(fired))
    assert counts[0] == counts[1] == len(layers)


def test_choice_parameters_are_the_points_own_and_part_of_the_body(case):
    name, space, net = case
    names = {parameter for parameter, _ in net.named_parameters()}
    body = set(net.body_parameters())
    assert body and body <= names
    own = {point: set(net.choice_parameters(point)) for point in range(len(space.points))}
    for point, parameters in own.items():
        assert parameters, f"point {space.points[point]} owns no parameter"
        assert parameters <= body, f"point {space.points[point]}: {sorted(parameters - body)[:3]} not in the body"
    overlapping = {frozenset((p, q)) for p, q in itertools.combinations(own, 2) if own[p] & own[q]}
    assert overlapping == _shared_by_design(name)


def test_extract_gives_a_standalone_network_equal_to_the_supernet_path(case):
    _, space, net = case
    rng = np.random.default_rng(5)
    net.train()
    with torch.no_grad():
        for seed in (10, 11):  # move the BN statistics away from their initial values
            net(_images(net, seed, batch=8), space.sample(rng))
    net.eval()
    x = _images(net, 2)
    for arch in _two_archs(space, seed=3):
        standalone = net.extract(arch).eval()
        assert not {id(p) for p in standalone.parameters()} & {id(p) for p in net.parameters()}  # copies
        with torch.no_grad():
            torch.testing.assert_close(standalone(x), net(x, arch))


def test_arch_costs_are_finite_and_positive(case):
    _, space, net = case
    for arch in _two_archs(space):
        costs = net.arch_costs(arch, RESOLUTION)
        for key in ("mflops", "params_m"):
            value = costs[key]
            assert isinstance(value, float) and np.isfinite(value) and value > 0, (key, value)


def test_config_to_dict_rebuilds_an_equal_config(case):
    name, _, net = case
    document = net.config.to_dict()
    rebuilt = network_config_class(name)(**document)
    assert rebuilt == net.config and rebuilt.to_dict() == document
    assert isinstance(build_supernet_for(name, rebuilt), SUPERNETS[name][1])
