"""Split reliability: per-batch samples average to the split matrices, and the bootstrap matches a brute force."""

import itertools

import numpy as np
import pytest
import torch
from helpers import NB201_ALL

from naslid.nn import NB201Config, build_supernet_for
from naslid.partition import (
    CRITERIA,
    SplitConfig,
    SplitRecord,
    SplitReliability,
    choose_edge,
    choose_edge_with_reliability,
    edge_similarities,
    edge_similarity_samples,
    mean_over_batches,
    partition_ops,
    split_reliability,
)
from naslid.partition.reliability import _best_partitions

OPS = ("a", "b", "c", "d", "e")


@pytest.mark.parametrize("criterion", sorted(CRITERIA))
def test_samples_average_to_edge_similarities(criterion):
    torch.manual_seed(0)
    net = build_supernet_for("nb201", NB201Config(channels=4, cells_per_stage=1, in_channels=1))
    generator = torch.Generator().manual_seed(0)
    batches = [(torch.randn(32, 1, 8, 8, generator=generator), torch.randint(0, 10, (32,), generator=generator))
               for _ in range(3)]
    cfg = SplitConfig(criterion=criterion, batches=3, gradient_batches=3, batch_size=32, k=5)
    averages = edge_similarities(net, NB201_ALL, batches, cfg, edges=[0, 4])
    samples = edge_similarity_samples(net, NB201_ALL, batches, cfg, edges=[0, 4])
    assert sorted(samples) == [0, 4]
    for edge, stack in samples.items():
        assert stack.shape == ((1 if criterion == "random" else 3), 5, 5)
        assert np.array_equal(mean_over_batches(stack), averages[edge])  # the caller's average: bit for bit
        np.testing.assert_allclose(stack.mean(axis=0), averages[edge], rtol=0, atol=1e-12)


def _planted(true, noise, batches, rng):
    """Per-batch samples of a planted similarity matrix with symmetric i.i.d. Gaussian noise of std `noise`."""
    size = len(true)
    upper = np.triu(rng.normal(0.0, noise, (batches, size, size)), 1)
    return np.asarray(true) + upper + upper.transpose(0, 2, 1)


def _block(first, intra, cross):
    matrix = np.full((5, 5), cross)
    for group in (first, [i for i in range(5) if i not in first]):
        for i, j in itertools.permutations(group, 2):
            matrix[i, j] = intra
    np.fill_diagonal(matrix, 1.0)
    return matrix


def _planted_edges(batches=20, seed=7):
    rng = np.random.default_rng(seed)
    clear = _block([0, 1], intra=0.9, cross=0.3)  # gap 0.6, far above the noise
    # {a,b}|{c,d,e} and {a,c}|{b,d,e} have nearly the same intra similarity (0.678 and 0.672), every other
    # grouping at most 0.6
    tied = 0.51 * _block([0, 1], intra=0.9, cross=0.3) + 0.49 * _block([0, 2], intra=0.9, cross=0.3)
    rival = _block([2, 4], intra=0.85, cross=0.27)  # gap 0.58: contests the clear edge under "gap"
    return {0: _planted(clear, 0.05, batches, rng), 1: _planted(tied, 0.1, batches, rng),
            2: _planted(rival, 0.15, batches, rng)}


def _brute_force(samples, resamples, seed):
    """Grouping recurrence and chosen share under "gap", by resampling and enumerating every 2-vs-3 grouping."""
    rng = np.random.default_rng(seed)
    groupings = [(first, tuple(i for i in range(5) if i not in first)) for first in itertools.combinations(range(5), 2)]

    def best(matrix):
        def mean(pairs):
            return np.mean([matrix[i, j] for i, j in pairs])

        scored = [(mean([p for g in grouping for p in itertools.combinations(g, 2)]),
                   mean(list(itertools.product(*grouping))), grouping) for grouping in groupings]
        intra, cross, grouping = max(scored, key=lambda item: item[0])
        return frozenset(map(frozenset, grouping)), intra - cross

    full = {edge: best(stack.mean(axis=0))[0] for edge, stack in samples.items()}
    recurs, chosen = dict.fromkeys(samples, 0), dict.fromkeys(samples, 0)
    batches = len(samples[0])
    for _ in range(resamples):
        indices = rng.integers(0, batches, batches)  # one draw for every edge: the batches are paired
        gaps = {}
        for edge, stack in samples.items():
            grouping, gaps[edge] = best(stack[indices].mean(axis=0))
            recurs[edge] += grouping == full[edge]
        chosen[max(gaps, key=lambda edge: (gaps[edge], -edge))] += 1
    return ({edge: count / resamples for edge, count in recurs.items()},
            {edge: count / resamples for edge, count in chosen.items()})


@pytest.mark.slow
def test_bootstrap_matches_brute_force_on_planted_matrices():
    samples = _planted_edges()
    ops = dict.fromkeys(samples, OPS)
    reliability = split_reliability(samples, ops, "gap", resamples=2000, seed=0)
    recurrence, chosen = _brute_force(samples, resamples=2000, seed=12345)
    for edge, item in reliability.edges.items():
        assert abs(item.grouping_recurrence - recurrence[edge]) < 0.05, (edge, item, recurrence)
        assert abs(item.chosen_share - chosen[edge]) < 0.05, (edge, item, chosen)
    assert reliability.paired
    assert reliability.edges[0].grouping_recurrence > 0.97  # the clear grouping recurs
    assert reliability.edges[1].grouping_recurrence < 0.8  # the nearly tied one does not
    assert 0.1 < reliability.edges[0].chosen_share < 0.9  # the clear and rival edges contest the split
    assert sum(item.chosen_share for item in reliability.edges.values()) == pytest.approx(1.0)
    assert reliability.edges[0].groups == (("a", "b"), ("c", "d", "e"))


def test_vectorised_best_groupings_equal_partition_ops():
    rng = np.random.default_rng(3)
    for size in (2, 3, 4, 5, 6, 7):
        ops = [f"op{i}" for i in range(size)]
        matrices = rng.random((40, size, size))
        matrices[0] = 0.5  # all tied: the first split in enumeration order
        for matrix, partition in zip(matrices, _best_partitions(matrices.reshape(40, -1), ops), strict=True):
            expected = partition_ops(matrix, ops)
            assert partition.groups == expected.groups and partition.cross_pairs == expected.cross_pairs
            assert partition.intra == pytest.approx(expected.intra, abs=1e-12)
            assert partition.cross == pytest.approx(expected.cross, abs=1e-12)


def test_separation_z_prefers_reliable_separation_over_larger_noisy_gap():
    rng = np.random.default_rng(1)
    samples = {3: _planted(_block([0, 1], intra=0.6, cross=0.4), 0.02, 20, rng),  # gap 0.2, reliable
               5: _planted(_block([0, 1], intra=0.7, cross=0.3), 0.6, 20, rng)}  # gap 0.4, noisy
    ops = dict.fromkeys(samples, OPS)
    partitions = {edge: partition_ops(mean_over_batches(stack), OPS) for edge, stack in samples.items()}
    assert choose_edge(partitions, "gap") == 5
    edge, reliability = choose_edge_with_reliability(samples, ops, "separation-z", resamples=300, seed=0)
    assert edge == 3 == reliability.chosen
    assert reliability.edges[3].separation_z > 5 * reliability.edges[5].separation_z
    assert reliability.edges[3].score == reliability.edges[3].separation_z
    assert reliability.edges[3].chosen_share > 0.95
    # an ordinary score keeps today's choice, on the same averages
    assert choose_edge_with_reliability(samples, ops, "gap", resamples=50)[0] == 5


def test_separation_z_needs_the_bootstrap():
    partition = partition_ops(_block([0, 1], 0.9, 0.3), OPS)
    with pytest.raises(ValueError, match="choose_edge_with_reliability"):
        partition.score("separation-z")
    with pytest.raises(ValueError, match="choose_edge_with_reliability"):
        choose_edge({0: partition}, "separation-z")
    with pytest.raises(ValueError, match="at least 2 measurement batches"):
        split_reliability({0: _block([0, 1], 0.9, 0.3)[None]}, {0: OPS}, "separation-z")
    assert SplitConfig(edge_score="separation-z").edge_score == "separation-z"


def test_unequal_batch_counts_resample_each_point_and_one_sample_is_certain():
    rng = np.random.default_rng(2)
    samples = {0: _planted(_block([0, 1], 0.9, 0.3), 0.05, 10, rng), 1: _block([0, 2], 0.8, 0.4)[None]}
    reliability = split_reliability(samples, dict.fromkeys(samples, OPS), "intra", resamples=20)
    assert not reliability.paired
    assert reliability.edges[1].grouping_recurrence == 1.0
    assert reliability.edges[1].score_std == pytest.approx(0.0, abs=1e-12)
    assert reliability.edges[1].batches == 1 and reliability.edges[0].batches == 10


def test_rejects_bad_input():
    samples = {0: _planted(_block([0, 1], 0.9, 0.3), 0.05, 4, np.random.default_rng(0))}
    with pytest.raises(ValueError, match="edge_score"):
        split_reliability(samples, {0: OPS}, "cross")
    with pytest.raises(ValueError, match="resamples"):
        split_reliability(samples, {0: OPS}, "intra", resamples=1)
    with pytest.raises(ValueError, match="no op names"):
        split_reliability(samples, {1: OPS}, "intra")
    with pytest.raises(ValueError, match="shape"):
        split_reliability(samples, {0: OPS[:4]}, "intra")


def test_same_seed_same_report_and_json_round_trip():
    samples = _planted_edges(batches=8)
    ops = dict.fromkeys(samples, OPS)
    first = split_reliability(samples, ops, "separation-z", resamples=100, seed=4)
    again = split_reliability(samples, ops, "separation-z", resamples=100, seed=4)
    other = split_reliability(samples, ops, "separation-z", resamples=100, seed=5)
    assert first == again
    assert first.to_json() != other.to_json()
    names = {0: "1<-0", 1: "2<-0", 2: "2<-1"}
    data = first.to_json(names)
    assert set(data["edges"]) == set(names.values()) and data["chosen"] == names[data["chosen_index"]]
    assert SplitReliability.from_json(data) == first
    assert SplitReliability.from_json(first.to_json()) == first


def test_split_record_round_trip_with_and_without_reliability():
    samples = _planted_edges(batches=8)
    reliability = split_reliability(samples, dict.fromkeys(samples, OPS), "intra", resamples=50)
    plain = SplitRecord(edge=0, groups=[["a", "b"], ["c", "d", "e"]], criterion="lid", edge_scores={"1<-0": 0.9},
                        similarities={})
    measured = SplitRecord(edge=0, groups=[["a", "b"], ["c", "d", "e"]], criterion="lid",
                           edge_scores={"1<-0": 0.9}, similarities={},
                           reliability=reliability.to_json({0: "1<-0", 1: "2<-0", 2: "2<-1"}))
    assert SplitRecord.from_json(plain.to_json()) == plain and plain.reliability is None
    assert SplitRecord.from_json(measured.to_json()) == measured
    old = {key: value for key, value in plain.to_json().items() if key != "reliability"}  # a tree from before
    assert SplitRecord.from_json(old).reliability is None
    assert SplitReliability.from_json(SplitRecord.from_json(measured.to_json()).reliability) == reliability
