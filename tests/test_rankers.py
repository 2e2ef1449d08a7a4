"""The rankers room: each training-free ranker against a hand computation on a tiny network, every ranker on every
registered space, the registry and spellings, LID profile features and rank aggregation."""

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import nn

from naslid.lid import mle_lid
from naslid.nn import NB201Config, count_flops, count_parameters
from naslid.nn.ofa import OFAConfig
from naslid.nn.proxyless import ProxylessConfig
from naslid.rankers import (
    RANKERS,
    Aggregate,
    Ranker,
    RankerUnavailable,
    ScoringContext,
    aggregate_ranks,
    get_ranker,
    jacobian_covariance_score,
    profile_feature,
    reference_objective,
    register_ranker,
)
from naslid.spaces import SubSpace, get_space

pytestmark = pytest.mark.usefixtures("one_thread")

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"
TRAINING_FREE = ("params", "flops", "naswot", "jacob-cov", "snip", "grad-norm", "synflow", "lid-init")


def _context(space="nb201", network=None, resolution=8, images=24, channels=3, seed=0) -> ScoringContext:
    generator = torch.Generator().manual_seed(seed)
    batch = torch.randn(images, channels, resolution, resolution, generator=generator)
    labels = torch.randint(0, 10, (images,), generator=generator)
    network = network or NB201Config(channels=4, cells_per_stage=1)
    return ScoringContext(space, network, resolution, batch, labels, "random test images", seed)


@pytest.fixture(scope="module")
def tiny():
    """A fresh NB201 context (C=4, N=1, 8x8, 24 random images), one architecture and its standalone network (the
    supernet's `extract`: the independent network every hand computation runs on)."""
    context = _context()
    arch = context.space.parse(ARCH)
    return context, arch


def _standalone(context, arch) -> nn.Module:
    return context.supernet.extract(arch).train()


def test_params_and_flops_count_the_standalone_network(tiny):
    context, arch = tiny
    network = _standalone(context, arch)
    assert get_ranker("params").score(arch, context) == pytest.approx(count_parameters(network) / 1e6)
    assert get_ranker("flops").score(arch, context) == pytest.approx(count_flops(network, (3, 8, 8)) / 1e6)


def test_naswot_is_the_log_determinant_of_the_activation_pattern_kernel(tiny):
    context, arch = tiny
    network = _standalone(context, arch)
    images, _ = context.batch(16)
    patterns = []
    # NASWOT's source hooks every module whose type name holds 'ReLU': NB201's ReLUConvBN too (its input is its ReLU's)
    hooks = [module.register_forward_pre_hook(lambda _, args: patterns.append(args[0].reshape(16, -1) > 0))
             for module in network.modules() if "ReLU" in type(module).__name__]
    with torch.no_grad():
        network(images)
    for hook in hooks:
        hook.remove()
    kernel = np.zeros((16, 16))
    for codes in patterns:
        c = codes.double().numpy()
        kernel += c @ c.T + (1 - c) @ (1 - c).T
    expected = np.linalg.slogdet(kernel)[1]
    assert len(patterns) >= 3
    assert get_ranker("naswot[batch-size=16]").score(arch, context) == pytest.approx(expected, rel=1e-9)


def test_naswot_scores_a_singular_kernel_below_every_other():
    # two identical images give two identical activation patterns: K is singular (the source's slogdet: -inf)
    context = _context(images=8)
    twins = context.images.clone()
    twins[1] = twins[0]
    context = ScoringContext("nb201", context.network, 8, twins, context.labels, "twins")
    arch = context.space.parse(ARCH)
    assert get_ranker("naswot[batch-size=8]").score(arch, context) == -1.0
    assert get_ranker("naswot[batch-size=8]").score(arch, _context(images=8)) > 0


def test_jacob_cov_matches_corrcoef_and_eig_on_the_input_jacobian(tiny):
    context, arch = tiny
    network = _standalone(context, arch)
    images = context.batch(12)[0].clone().requires_grad_(True)
    network(images).sum().backward()
    rows = images.grad.reshape(12, -1).double().numpy()
    eigenvalues = np.linalg.eig(np.corrcoef(rows))[0].real
    expected = -np.sum(np.log(eigenvalues + 1e-5) + 1.0 / (eigenvalues + 1e-5))
    assert get_ranker("jacob-cov[batch-size=12]").score(arch, context) == pytest.approx(expected, rel=1e-6)


def test_jacob_cov_of_an_output_that_ignores_the_input_is_the_worst_score():
    rows = np.zeros((4, 10))  # a disconnected network: every Jacobian row is zero
    worst = jacobian_covariance_score(rows)
    noise = np.random.default_rng(0).normal(0, 1.0, (4, 10))
    correlated = jacobian_covariance_score(np.arange(10.0) + noise)  # strongly but not perfectly correlated rows
    independent = jacobian_covariance_score(np.eye(4, 10))
    assert worst < correlated < independent
    assert worst == pytest.approx(-(math.log(4 + 1e-5) + 1 / (4 + 1e-5) + 3 * (math.log(1e-5) + 1e5)))
    context = _context()
    disconnected = context.space.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert get_ranker("jacob-cov[batch-size=8]").score(disconnected, context) == pytest.approx(
        jacobian_covariance_score(np.zeros((8, 192))))


def _loss_gradients(network: nn.Module, images, labels) -> list[tuple[torch.Tensor, torch.Tensor]]:
    layers = [m for m in network.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    loss = nn.functional.cross_entropy(network(images), labels)
    grads = torch.autograd.grad(loss, [m.weight for m in layers], allow_unused=True)  # a dead edge's conv: none
    return [(m.weight.detach(), torch.zeros_like(m.weight) if g is None else g)
            for m, g in zip(layers, grads, strict=True)]


def test_snip_and_grad_norm_match_the_standalone_networks_gradients(tiny):
    context, arch = tiny
    pairs = _loss_gradients(_standalone(context, arch), *context.batch(16))
    snip = sum(float((w * g).abs().sum()) for w, g in pairs)
    norms = sum(float(g.norm()) for _, g in pairs)
    assert get_ranker("snip[batch-size=16]").score(arch, context) == pytest.approx(snip, rel=1e-5)
    assert get_ranker("grad-norm[batch-size=16]").score(arch, context) == pytest.approx(norms, rel=1e-5)


def test_synflow_matches_the_positive_batchnorm_free_double_network(tiny):
    context, arch = tiny
    network = copy.deepcopy(_standalone(context, arch))
    for name, module in list(network.named_modules()):
        if isinstance(module, nn.BatchNorm2d):
            parent, _, child = name.rpartition(".")
            setattr(network.get_submodule(parent) if parent else network, child, nn.Identity())
    network = network.double()
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.abs_()
    network(torch.ones(1, 3, 8, 8, dtype=torch.float64)).sum().backward()
    expected = sum(float((m.weight * m.weight.grad).abs().sum()) for m in network.modules()
                   if isinstance(m, nn.Conv2d | nn.Linear) and m.weight.grad is not None)  # a dead edge: none
    assert get_ranker("synflow").score(arch, context) == pytest.approx(expected, rel=1e-9)
    before = {name: tensor.clone() for name, tensor in context.supernet.state_dict().items()}
    get_ranker("synflow").score(arch, context)  # on a twin: the context's supernet is left as it was
    assert all(torch.equal(before[name], tensor) for name, tensor in context.supernet.state_dict().items())


def test_lid_init_is_the_mle_per_cell_of_the_standalone_network(tiny):
    context, arch = tiny
    network = _standalone(context, arch)
    with torch.no_grad():
        features = network.forward_features(context.batch(20)[0])
    expected = np.array([float(mle_lid(f.flatten(1), k=5).mean()) for f in features])
    ranker = get_ranker("lid-init[batch-size=20,k=5,feature=mean]")
    profile = ranker.profile(arch, context)
    np.testing.assert_allclose(profile, expected, rtol=1e-5)
    assert ranker.score(arch, context) == pytest.approx(expected.mean(), rel=1e-5)
    assert get_ranker("lid-init[batch-size=20,k=5,feature=-fall]").score(arch, context) == pytest.approx(
        -(expected.max() - expected[-1]), rel=1e-5)


@pytest.mark.parametrize("profile, feature, expected", [
    ([1.0, 3.0, 2.0], "mean", 2.0), ([1.0, 3.0, 2.0], "peak", 3.0), ([1.0, 3.0, 2.0], "first", 1.0),
    ([1.0, 3.0, 2.0], "last", 2.0), ([1.0, 3.0, 2.0], "rise", 2.0), ([1.0, 3.0, 2.0], "fall", 1.0),
    ([1.0, 3.0, 2.0], "arch", 3.0), ([1.0, 3.0, 2.0], "peak-position", 0.5), ([1.0, 3.0, 2.0], "slope", 1.0),
    ([1.0, 3.0, 2.0], "-fall", -1.0), ([5.0, 4.0, 3.0, 2.0], "fall", 3.0), ([5.0, 4.0, 3.0, 2.0], "rise", 0.0),
    ([2.0], "slope", 0.0),
])
def test_profile_features_on_hand_made_profiles(profile, feature, expected):
    assert profile_feature(profile, feature) == pytest.approx(expected)


def test_an_unknown_feature_names_the_choices():
    with pytest.raises(ValueError, match="feature='height'; expected one of mean, peak"):
        get_ranker("lid-init[feature=height]")
    with pytest.raises(ValueError, match="non-empty"):
        profile_feature([], "mean")


def test_aggregate_sums_log_ranks_with_ties_averaged():
    columns = [[1.0, 2.0, 2.0, 3.0], [3.0, 1.0, 2.0, 4.0]]
    expected = np.log(np.array([1, 2.5, 2.5, 4]) / 4) + np.log(np.array([3, 1, 2, 4]) / 4)
    np.testing.assert_allclose(aggregate_ranks(columns), expected)
    np.testing.assert_allclose(aggregate_ranks(columns, "mean-rank"), [4, 3.5, 4.5, 8])
    # the order: the last architecture is best under both, the second worst
    assert list(np.argsort(aggregate_ranks(columns))) == [1, 0, 2, 3]


def test_an_aggregate_of_rankers_ranks_the_members_scores(tiny):
    context, _ = tiny
    space = context.space
    archs = [space.parse(text) for text in (
        "|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv_1x1~2|", ARCH,
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")]
    aggregate = get_ranker("agg[params,synflow]")
    members = [get_ranker("params").score_many(archs, context), get_ranker("synflow").score_many(archs, context)]
    np.testing.assert_allclose(aggregate.score_many(archs, context), aggregate_ranks(members))
    objective = reference_objective(aggregate, context, [space.sample(np.random.default_rng(1)) for _ in range(30)])
    scores = objective(archs)
    assert scores[2] > scores[0]  # the all-conv network beats the nearly empty one under both members
    with pytest.raises(ValueError, match="score a list"):
        aggregate.score(archs[0], context)


@pytest.mark.parametrize("spelling, message", [
    ("agg[]", "needs at least one member"), ("agg[params,params]", "names a member twice"),
    ("agg[params,rule=median]", "rule='median'"), ("agg[params,nope]", "unknown ranker 'nope'"),
    ("agg[params,colour=red]", "unknown setting 'colour'"),
    ("naswot[batch=3]", "unknown setting 'batch'; its settings: batch-size"),
    ("naswot[batch-size=1]", "batch_size=1; expected an integer >= 2"), ("naswot[batch-size=x]", "not a valid int"),
    ("naswot[batch-size=8", "closing bracket"), ("zen-nas", "unknown ranker 'zen-nas'; known: agg, flops"),
    ("lid-init[k=64]", "needs a batch larger than k"),
])
def test_bad_spellings_are_one_clear_error(spelling, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        get_ranker(spelling)


def test_spellings_round_trip_and_show_only_changed_settings():
    for spelling in ("naswot", "naswot[batch-size=32]", "agg[params,naswot[batch-size=16],lid-init]",
                     "agg[flops,synflow,rule=mean-rank]", "lid-init[feature=-fall,k=10]"):
        assert get_ranker(get_ranker(spelling).spelling).spelling == get_ranker(spelling).spelling
    assert get_ranker("naswot[batch-size=128]").spelling == "naswot"
    assert get_ranker("naswot[batch_size=32]").spelling == "naswot[batch-size=32]"


def test_registering_a_taken_name_is_an_error_unless_it_says_it_replaces():
    @dataclass(frozen=True)
    class Impostor(Ranker):
        name: ClassVar[str] = "params"
        definition: ClassVar[str] = "not a parameter count"
        needs_images: ClassVar[bool] = False

        def score(self, arch, context):
            return 0.0

    original = RANKERS["params"]
    with pytest.raises(ValueError, match="ranker 'params' is already registered"):
        register_ranker(Impostor)
    try:
        register_ranker(Impostor, replace=True)
        assert get_ranker("params").definition == "not a parameter count"
    finally:
        register_ranker(original, replace=True)
    register_ranker(original)  # the very same class again is fine (a module imported twice)


def test_a_ranker_that_needs_images_says_so_without_them():
    context = ScoringContext("nb201", NB201Config(channels=4, cells_per_stage=1), 8)
    arch = context.space.parse(ARCH)
    assert get_ranker("synflow").score_many([arch], context)  # no images needed
    with pytest.raises(RankerUnavailable, match="naswot needs a batch of images"):
        get_ranker("naswot").score_many([arch], context)


def test_non_finite_scores_are_refused_naming_the_ranker_and_the_architecture(tiny):
    context, arch = tiny

    @dataclass(frozen=True)
    class Broken(Ranker):
        name: ClassVar[str] = "broken-test"
        definition: ClassVar[str] = "NaN"

        def score(self, arch, context):
            return float("nan")

    with pytest.raises(ValueError, match=r"ranker broken-test returned nan for .*expected a finite number"):
        Broken().score_many([arch], context)


@pytest.fixture(scope="module")
def chain_config():
    """examples/chain_space.py imported for this module's tests; its registration is undone afterwards, so that later
    tests import it afresh (a module left in sys.modules would not register again)."""
    import sys

    from naslid import nn as naslid_nn
    from naslid import spaces
    from naslid.plugins import import_module
    from naslid.spaces import base

    saved = dict(spaces.SPACES), dict(base._INSTANCES), dict(naslid_nn.SUPERNETS)
    # an earlier test may have imported the example and restored the registries (or not): start from neither
    sys.modules.pop("naslid_user_chain_space", None)
    for table in (spaces.SPACES, base._INSTANCES, naslid_nn.SUPERNETS):
        table.pop("chain", None)
    module = import_module(str(Path(__file__).parents[1] / "examples" / "chain_space.py"))
    yield module.ChainConfig
    for table, entries in zip((spaces.SPACES, base._INSTANCES, naslid_nn.SUPERNETS), saved, strict=True):
        table.clear()
        table.update(entries)
    sys.modules.pop(module.__name__, None)


def _space_contexts(ChainConfig) -> dict[str, ScoringContext]:  # noqa: N803
    return {
        "nb201": _context(),
        "proxyless": _context("proxyless", ProxylessConfig(width_mult=0.35, small_input=True, num_classes=10),
                              resolution=32, images=16),
        "ofa": _context("ofa", OFAConfig(width_mult=0.35, small_input=True, num_classes=10), resolution=32,
                        images=16),
        "chain": _context("chain", ChainConfig(), resolution=8, images=16),
    }


@pytest.mark.slow
@pytest.mark.parametrize("space", ["nb201", "proxyless", "ofa", "chain"])
def test_every_training_free_ranker_scores_every_space(space, chain_config):
    context = _space_contexts(chain_config)[space]
    rng = np.random.default_rng(0)
    archs = [SubSpace(None, get_space(space)).sample(rng) for _ in range(2)]
    for name in TRAINING_FREE:
        settings = "[batch-size=16,k=5]" if name == "lid-init" else "[batch-size=16]" if name in (
            "naswot", "jacob-cov", "snip", "grad-norm") else ""
        scores = get_ranker(name + settings).score_many(archs, context)
        assert len(scores) == 2 and all(math.isfinite(score) for score in scores), (space, name, scores)
    aggregate = get_ranker("agg[params,synflow,naswot[batch-size=16]]").score_many(archs, context)
    assert len(aggregate) == 2


def test_training_free_scores_depend_on_the_seed_only_through_the_initialisation():
    first, second = _context(seed=0), _context(seed=0)
    arch = first.space.parse(ARCH)
    assert get_ranker("synflow").score(arch, first) == get_ranker("synflow").score(arch, second)
    assert get_ranker("synflow").score(arch, first) != get_ranker("synflow").score(arch, _context(seed=1))
    state = torch.random.get_rng_state()
    _context(seed=3).supernet  # noqa: B018 (building it must leave the global RNG alone)
    assert torch.equal(state, torch.random.get_rng_state())


def test_an_aggregate_is_registered_and_listed():
    assert {"params", "flops", "naswot", "jacob-cov", "snip", "grad-norm", "synflow", "lid-init", "agg"} <= set(
        RANKERS)
    assert isinstance(get_ranker("agg[params]"), Aggregate)


def test_the_help_texts_names_are_the_registrys_built_ins():
    import naslid.runs.rank  # noqa: F401  (registers the rankers that need a run)
    from naslid.ranker_names import AGGREGATE, TRAINING_FREE, WITH_A_RUN

    built_in = {name for name, ranker in RANKERS.items() if ranker.__module__.startswith("naslid.")}
    assert built_in == {*TRAINING_FREE, *WITH_A_RUN, AGGREGATE}
    assert all(not get_ranker(name).needs_run for name in TRAINING_FREE)
    assert all(get_ranker(name).needs_run for name in WITH_A_RUN)
