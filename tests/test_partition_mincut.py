"""Min-cut partition of an edge's ops: optimum on hand-made matrices, ties, negatives, group sizes."""

import itertools

import numpy as np
import pytest

from naslid.partition.mincut import OpPartition, candidate_bisections, partition_ops
from naslid.partition.separability import separability

OPS5 = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def _block_matrix(groups, ops, inside=0.9, outside=0.2):
    matrix = np.full((len(ops), len(ops)), outside)
    for group in groups:
        for a, b in itertools.product(group, repeat=2):
            matrix[ops.index(a), ops.index(b)] = inside
    np.fill_diagonal(matrix, 1.0)
    return matrix


def _brute_force(matrix, ops, score):
    best = None
    for first in itertools.combinations(range(len(ops)), 2):
        second = [i for i in range(5) if i not in first]
        intra = np.mean([matrix[i, j] for g in (first, second) for i, j in itertools.combinations(g, 2)])
        cross = np.mean([matrix[i, j] for i in first for j in second])
        value = {"intra": intra, "cross": -cross, "gap": intra - cross}[score]
        if best is None or value > best[0]:
            best = (value, {frozenset(ops[i] for i in first), frozenset(ops[i] for i in second)})
    return best


def test_five_ops_enumerate_ten_two_vs_three_splits():
    candidates = candidate_bisections(5)
    assert len(candidates) == 10 and all(len(c) == 2 for c in candidates)
    assert len(candidate_bisections(4)) == 3  # 2-vs-2 splits, each once


@pytest.mark.parametrize("score", ["intra", "cross"])
def test_recovers_planted_groups(score):
    groups = [["skip_connect", "avg_pool_3x3"], ["none", "nor_conv_1x1", "nor_conv_3x3"]]
    result = partition_ops(_block_matrix(groups, OPS5), OPS5, score)
    assert {frozenset(g) for g in result.groups} == {frozenset(g) for g in groups}
    assert result.intra == pytest.approx(0.9) and result.cross == pytest.approx(0.2)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("score", ["intra", "cross", "gap"])
def test_matches_brute_force_on_random_matrices_with_negative_values(seed, score):
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.normal(size=(5, 5)), 1)  # Pearson-like values, negatives included
    matrix = upper + upper.T + np.eye(5)
    result = partition_ops(matrix, OPS5, score)
    best_value, best_groups = _brute_force(matrix, OPS5, score)
    assert result.score(score) == pytest.approx(best_value)
    assert {frozenset(g) for g in result.groups} == best_groups


def test_gap_prefers_a_separable_edge_to_a_uniformly_similar_one():
    uniform = np.full((5, 5), 0.95)
    np.fill_diagonal(uniform, 1.0)
    separable = _block_matrix([OPS5[:2], OPS5[2:]], OPS5, inside=0.9, outside=0.3)
    intra = [partition_ops(m, OPS5, "intra").score("intra") for m in (uniform, separable)]
    gap = [partition_ops(m, OPS5, "gap").score("gap") for m in (uniform, separable)]
    assert intra[0] > intra[1]  # the paper's score picks the edge whose ops are all alike
    assert gap[1] > gap[0]


def test_ties_resolve_to_the_first_split_deterministically():
    matrix = np.ones((5, 5))
    first = partition_ops(matrix, OPS5)
    assert first == partition_ops(matrix, OPS5)
    assert sorted(len(g) for g in first.groups) == [2, 3]
    assert first.groups[0] == ("none", "skip_connect")


def test_never_a_single_op_group_when_avoidable():
    # one op far from all others: a min-cut graph algorithm would cut it off alone
    matrix = _block_matrix([OPS5[1:]], OPS5, inside=0.99, outside=0.01)
    result = partition_ops(matrix, OPS5)
    assert sorted(len(g) for g in result.groups) == [2, 3]
    big = [f"op{i}" for i in range(16)]
    rng = np.random.default_rng(0)
    upper = np.triu(rng.random((16, 16)), 1)
    large = partition_ops(upper + upper.T + np.eye(16), big)
    assert sorted(len(g) for g in large.groups) == [8, 8]


def test_two_and_three_ops():
    assert partition_ops(np.eye(2), ["a", "b"]).groups == (("a",), ("b",))
    three = partition_ops(_block_matrix([["a", "c"]], ["a", "b", "c"]), ["a", "b", "c"])
    assert {frozenset(g) for g in three.groups} == {frozenset({"b"}), frozenset({"a", "c"})}


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="square"):
        partition_ops(np.ones((2, 3)), ["a", "b"])
    with pytest.raises(ValueError, match="3 ops were named"):
        partition_ops(np.ones((2, 2)), ["a", "b", "c"])
    with pytest.raises(ValueError, match="NaN"):
        partition_ops(np.array([[1, np.nan], [np.nan, 1]]), ["a", "b"])
    with pytest.raises(ValueError, match="edge_score"):
        partition_ops(np.eye(2), ["a", "b"], "best")
    with pytest.raises(ValueError, match="fewer than two"):
        partition_ops(np.eye(1), ["a"])


def test_separability_is_scale_free_and_orders_spread():
    flat = np.full((5, 5), 0.5)
    np.fill_diagonal(flat, 1.0)
    spread = _block_matrix([OPS5[:2]], OPS5, inside=0.9, outside=0.1)
    assert separability(flat) == 0.0
    assert separability(spread) > 0.5
    assert separability(spread * 7) == pytest.approx(separability(spread))
    assert isinstance(OpPartition((("a",), ("b",)), 0.0, 0.0).score("cross"), float)
