"""How split measurements draw batches and paths: shared or per point, and the defaults exactly as before."""

import numpy as np
import pytest
import torch
from helpers import NB201_ALL, tiny_nb201_and_batches
from torch.nn import functional as F

from naslid.partition.criteria import SplitConfig, edge_similarities, lid_profile, similarity_matrix
from naslid.spaces import NB201_OPS, NB201Arch, path_where_point_matters

EDGES = [0, 3, 5]


def _net_and_batches(seed=0, batches=2, n=24):
    return tiny_nb201_and_batches(seed, batches, n)


def _config(criterion="lid", **changes):
    return SplitConfig(criterion=criterion, batches=2, gradient_batches=2, batch_size=24, k=5, **changes)


def _lid_matrix(net, subspace, edge, base, images, labels, cfg):
    profiles = torch.stack([lid_profile(net, base.replace(edge, op), images, cfg.k) for op in subspace.allowed[edge]])
    return similarity_matrix(profiles, cfg.similarity)


def _gradient_matrix(net, subspace, edge, base, images, labels, cfg):
    own = set(net.choice_parameters(edge))
    parameters = dict(net.named_parameters())
    shared = [parameters[name] for name in net.body_parameters() if name not in own]
    gradients = []
    for op in subspace.allowed[edge]:
        loss = F.cross_entropy(net(images, base.replace(edge, op)), labels)
        grads = torch.autograd.grad(loss, shared, allow_unused=True)
        gradients.append(torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1).float()
                                    for g, p in zip(grads, shared, strict=True)]))
    return similarity_matrix(torch.stack(gradients), "cosine")


MATRIX = {"lid": _lid_matrix, "gradient": _gradient_matrix}


def _reference_shared(net, subspace, batches, cfg, edges):
    """The measurement before per-point options existed: batches outer, one shared path per batch."""
    rng = np.random.default_rng(cfg.seed)
    totals = {edge: torch.zeros(len(subspace.allowed[edge]), len(subspace.allowed[edge]), dtype=torch.float64)
              for edge in edges}
    net.train(cfg.bn_mode == "batch")
    for images, labels in batches:
        path = subspace.sample(rng)
        for edge in edges:
            base = path_where_point_matters(subspace, path, edge, rng)
            totals[edge] += MATRIX[cfg.criterion](net, subspace, edge, base, images, labels, cfg).cpu()
    return {edge: (total / len(batches)).numpy() for edge, total in totals.items()}


def _reference_per_point(net, subspace, batches_for, cfg, edges):
    """The NAS-LID authors' order: points outer, their own batches inner, a fresh path per (point, batch)."""
    rng = np.random.default_rng(cfg.seed)
    net.train(cfg.bn_mode == "batch")
    matrices = {}
    for edge in edges:
        batches = batches_for(edge)
        total = 0
        for images, labels in batches:
            base = path_where_point_matters(subspace, subspace.sample(rng), edge, rng)
            total = total + MATRIX[cfg.criterion](net, subspace, edge, base, images, labels, cfg).cpu()
        matrices[edge] = (total / len(batches)).numpy()
    return matrices


def _per_point_batches(seed=10, batches=2, n=24):
    """Each point's own batches, drawn from the point's index."""
    def batches_for(point):
        generator = torch.Generator().manual_seed(seed + point)
        return [(torch.randn(n, 3, 8, 8, generator=generator), torch.randint(0, 5, (n,), generator=generator))
                for _ in range(batches)]
    return batches_for


def _assert_same(matrices, reference):
    assert sorted(matrices) == sorted(reference)
    for edge in reference:
        assert np.array_equal(matrices[edge], reference[edge])


@pytest.mark.parametrize("criterion", ["lid", "gradient"])
def test_defaults_measure_exactly_as_before(criterion):
    net, batches = _net_and_batches()
    cfg = _config(criterion)
    assert (cfg.measurement_batches, cfg.measurement_augment, cfg.measurement_paths) == ("shared", False, "per-batch")
    matrices = edge_similarities(net, NB201_ALL, batches, cfg, edges=EDGES)
    _assert_same(matrices, _reference_shared(net, NB201_ALL, batches, cfg, EDGES))


@pytest.mark.parametrize("criterion", ["lid", "gradient"])
def test_per_point_batches_and_paths_measure_each_point_on_its_own_batches(criterion):
    net, _ = _net_and_batches()
    cfg = _config(criterion, measurement_batches="per-point", measurement_paths="per-point")
    matrices = edge_similarities(net, NB201_ALL, _per_point_batches(), cfg, edges=EDGES)
    _assert_same(matrices, _reference_per_point(net, NB201_ALL, _per_point_batches(), cfg, EDGES))


def test_shared_batches_with_per_point_paths_loop_points_outer():
    net, batches = _net_and_batches()
    cfg = _config(measurement_paths="per-point")
    matrices = edge_similarities(net, NB201_ALL, batches, cfg, edges=EDGES)
    _assert_same(matrices, _reference_per_point(net, NB201_ALL, lambda point: batches, cfg, EDGES))


def test_batches_for_is_called_once_per_point_lazily():
    net, _ = _net_and_batches()
    events = []
    draw = _per_point_batches()

    def batches_for(point):
        events.append(("draw", point))
        return draw(point)

    handle = net.register_forward_pre_hook(lambda module, args: events.append(("forward", args[1])))
    try:
        edge_similarities(net, NB201_ALL, batches_for, _config(measurement_batches="per-point"), edges=EDGES)
    finally:
        handle.remove()
    draws = [(index, event[1]) for index, event in enumerate(events) if event[0] == "draw"]
    assert [point for _, point in draws] == EDGES
    bounds = [index for index, _ in draws] + [len(events)]
    for (start, point), end in zip(draws, bounds[1:], strict=True):
        forwards = events[start + 1:end]
        assert len(forwards) == 2 * len(NB201_OPS)  # this point's 2 batches x its 5 ops, before the next draw
        assert all(arch.ops[point] in NB201_OPS for _, arch in forwards)


def _recorded_paths(cfg, batches, edges):
    """The path behind each (point, batch) measurement: each forward's arch with the measured point blanked."""
    net, _ = _net_and_batches()
    archs = []
    handle = net.register_forward_pre_hook(lambda module, args: archs.append(args[1]))
    try:
        edge_similarities(net, NB201_ALL, batches, cfg, edges=edges)
    finally:
        handle.remove()
    return archs


def test_per_point_paths_draw_a_fresh_path_per_point_and_batch():
    _, batches = _net_and_batches(batches=3)
    cfg = _config(measurement_paths="per-point")
    archs = _recorded_paths(cfg, batches, EDGES)
    size = len(NB201_OPS)
    assert len(archs) == len(EDGES) * len(batches) * size
    rng = np.random.default_rng(cfg.seed)
    position = 0
    contexts = set()
    for edge in EDGES:  # points outer, batches inner, one draw each
        for _ in batches:
            path = NB201_ALL.sample(rng)
            calls = archs[position:position + size]
            assert calls == [path.replace(edge, op) for op in NB201_OPS]
            contexts.add(tuple(op for point, op in enumerate(path.ops) if point != edge))
            position += size
    assert len(contexts) == len(EDGES) * len(batches)  # no two measurements share a path here


def test_per_batch_paths_share_one_path_per_batch_across_points():
    _, batches = _net_and_batches(batches=3)
    archs = _recorded_paths(_config(), batches, EDGES)
    size = len(NB201_OPS)
    rng = np.random.default_rng(0)
    position = 0
    for _ in batches:  # batches outer: every point compared on the batch's one path
        path = NB201_ALL.sample(rng)
        for edge in EDGES:
            assert archs[position:position + size] == [path.replace(edge, op) for op in NB201_OPS]
            position += size


def test_per_point_batches_with_per_batch_paths_reuse_path_i_for_batch_i():
    draw = _per_point_batches()
    archs = _recorded_paths(_config(measurement_batches="per-point"), draw, EDGES)
    size = len(NB201_OPS)
    rng = np.random.default_rng(0)
    paths = [NB201_ALL.sample(rng) for _ in range(2)]  # drawn for the first point, reused by the others
    for number, edge in enumerate(EDGES):
        for index in range(2):
            calls = archs[(number * 2 + index) * size:(number * 2 + index + 1) * size]
            assert calls == [paths[index].replace(edge, op) for op in NB201_OPS]


def test_mismatched_batch_kind_raises():
    net, batches = _net_and_batches()
    with pytest.raises(ValueError, match="per-point.*callable"):
        edge_similarities(net, NB201_ALL, batches, _config(measurement_batches="per-point"), edges=[0])
    with pytest.raises(ValueError, match="shared.*sequence"):
        edge_similarities(net, NB201_ALL, lambda point: batches, _config(), edges=[0])
    with pytest.raises(ValueError, match="no batch"):
        edge_similarities(net, NB201_ALL, lambda point: [], _config(measurement_batches="per-point"), edges=[0])


@pytest.mark.parametrize("criterion", ["lid", "gradient"])
def test_per_point_measuring_leaves_model_bit_identical(criterion):
    net, _ = _net_and_batches(seed=1)
    net.train()
    net(torch.randn(8, 3, 8, 8), NB201Arch(("nor_conv_3x3",) * 6))  # running statistics away from their initial values
    weights = {k: v.clone() for k, v in net.state_dict().items()}
    modes = [m.training for m in net.modules()]
    cfg = _config(criterion, measurement_batches="per-point", measurement_paths="per-point")
    edge_similarities(net, NB201_ALL, _per_point_batches(), cfg, edges=[0, 3])
    after = net.state_dict()
    assert all(torch.equal(weights[k], after[k]) for k in weights)
    assert modes == [m.training for m in net.modules()]
    assert all(p.grad is None for p in net.parameters())


def test_progress_bar_does_not_change_results():
    net, _ = _net_and_batches()
    cfg = _config(measurement_batches="per-point", measurement_paths="per-point")
    quiet = edge_similarities(net, NB201_ALL, _per_point_batches(), cfg, edges=[0, 3])
    shown = edge_similarities(net, NB201_ALL, _per_point_batches(), cfg, edges=[0, 3], progress=True)
    _assert_same(shown, quiet)


@pytest.mark.parametrize(("field", "value"), [("measurement_batches", "per-edge"), ("measurement_paths", "shared"),
                                              ("measurement_augment", "yes")])
def test_bad_values_raise(field, value):
    with pytest.raises(ValueError, match=field):
        SplitConfig(**{field: value})
