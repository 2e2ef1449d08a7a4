"""Min-cut partition of an edge's ops: optimum on hand-made matrices, ties, negatives, group sizes."""

import itertools

import numpy as np
import pytest

from naslid.partition.mincut import OpPartition, candidate_bisections, choose_edge, partition_ops
from naslid.partition.separability import separability

OPS5 = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def _block_matrix(groups, ops, inside=0.9, outside=0.2):
    matrix = np.full((len(ops), len(ops)), outside)
    for group in groups:
        for a, b in itertools.product(group, repeat=2):
            matrix[ops.index(a), ops.index(b)] = inside
    np.fill_diagonal(matrix, 1.0)
    return matrix


def _brute_force(matrix, ops):
    """The grouping with the largest intra sum (both reference codes' rule), and its edge scores by hand."""
    best = None
    for first in itertools.combinations(range(len(ops)), 2):
        second = [i for i in range(5) if i not in first]
        intra_pairs = [(i, j) for g in (first, second) for i, j in itertools.combinations(g, 2)]
        intra_sum = sum(matrix[i, j] for i, j in intra_pairs)
        if best is None or intra_sum > best[0]:
            cross = [matrix[i, j] for i in first for j in second]
            scores = {"intra": intra_sum / len(intra_pairs), "max-cross": sum(cross),
                      "min-cross": sum(1 - c for c in cross), "gap": intra_sum / len(intra_pairs) - np.mean(cross)}
            best = (intra_sum, scores, {frozenset(ops[i] for i in first), frozenset(ops[i] for i in second)})
    return best[1], best[2]


def test_five_ops_enumerate_ten_two_vs_three_splits():
    candidates = candidate_bisections(5)
    assert len(candidates) == 10 and all(len(c) == 2 for c in candidates)
    assert len(candidate_bisections(4)) == 3  # 2-vs-2 splits, each once


def test_recovers_planted_groups():
    groups = [["skip_connect", "avg_pool_3x3"], ["none", "nor_conv_1x1", "nor_conv_3x3"]]
    result = partition_ops(_block_matrix(groups, OPS5), OPS5)
    assert {frozenset(g) for g in result.groups} == {frozenset(g) for g in groups}
    assert result.intra == pytest.approx(0.9) and result.cross == pytest.approx(0.2)


@pytest.mark.parametrize("seed", range(20))
def test_matches_brute_force_on_random_matrices_with_negative_values(seed):
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.normal(size=(5, 5)), 1)  # Pearson-like values, negatives included
    matrix = upper + upper.T + np.eye(5)
    result = partition_ops(matrix, OPS5)
    scores, best_groups = _brute_force(matrix, OPS5)
    assert {frozenset(g) for g in result.groups} == best_groups
    for name, value in scores.items():
        assert result.score(name) == pytest.approx(value)


def test_each_edge_rule_picks_its_own_edge_on_hand_made_matrices():
    halves = [OPS5[:2], OPS5[2:]]
    edges = {
        0: _block_matrix(halves, OPS5, inside=0.97, outside=0.5),  # alike inside: the highest intra mean
        1: _block_matrix(halves, OPS5, inside=0.9, outside=0.85),  # alike everywhere: the highest cross sum
        2: _block_matrix(halves, OPS5, inside=0.6, outside=0.0),  # groups far apart: the largest cross distance
    }
    partitions = {edge: partition_ops(matrix, OPS5) for edge, matrix in edges.items()}
    assert partitions[1].score("max-cross") == pytest.approx(6 * 0.85)  # 2 x 3 cross pairs, summed
    assert partitions[2].score("min-cross") == pytest.approx(6 * 1.0)
    assert choose_edge(partitions, "intra") == 0  # the NAS-LID paper's text
    assert choose_edge(partitions, "max-cross") == 1  # the NAS-LID authors' released mincut
    assert choose_edge(partitions, "min-cross") == 2  # GM-NAS
    assert choose_edge(partitions, "gap") == 2


def test_edge_ties_go_to_the_lowest_index_and_old_names_are_explained():
    same = {3: partition_ops(np.eye(5), OPS5), 1: partition_ops(np.eye(5), OPS5)}
    assert choose_edge(same, "intra") == 1
    with pytest.raises(ValueError, match="renamed"):
        choose_edge(same, "cross")


def test_gap_prefers_a_separable_edge_to_a_uniformly_similar_one():
    uniform = np.full((5, 5), 0.95)
    np.fill_diagonal(uniform, 1.0)
    separable = _block_matrix([OPS5[:2], OPS5[2:]], OPS5, inside=0.9, outside=0.3)
    intra = [partition_ops(m, OPS5).score("intra") for m in (uniform, separable)]
    gap = [partition_ops(m, OPS5).score("gap") for m in (uniform, separable)]
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
        partition_ops(np.eye(2), ["a", "b"]).score("best")
    with pytest.raises(ValueError, match="fewer than two"):
        partition_ops(np.eye(1), ["a"])


def test_separability_is_scale_free_and_orders_spread():
    flat = np.full((5, 5), 0.5)
    np.fill_diagonal(flat, 1.0)
    spread = _block_matrix([OPS5[:2]], OPS5, inside=0.9, outside=0.1)
    assert separability(flat) == 0.0
    assert separability(spread) > 0.5
    assert separability(spread * 7) == pytest.approx(separability(spread))
    assert OpPartition((("a",), ("b",)), 0.5, 0.25, cross_pairs=1).score("min-cross") == 0.75
