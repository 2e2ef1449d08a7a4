"""The split decision as a library function (`naslid.partition.decide_split`): a run is not needed to split."""

import numpy as np
from helpers import NB201_ALL, tiny_nb201_and_batches

from naslid.partition import (
    SplitConfig,
    candidate_points,
    choose_edge,
    decide_split,
    edge_similarities,
    few_shot_split,
    partition_ops,
)


def _net_and_batches(seed=0, batches=3, n=24):
    return tiny_nb201_and_batches(seed, batches, n)


def test_decide_split_picks_the_point_the_averaged_matrices_choose_and_keeps_the_evidence():
    net, batches = _net_and_batches()
    cfg = SplitConfig(batches=3, batch_size=24, k=5, edge_score="gap", reliability_resamples=0, seed=3)
    points = candidate_points(NB201_ALL, NB201_ALL)
    assert points == [0, 1, 2, 3, 4, 5]
    record = decide_split(net, NB201_ALL, batches, cfg, points)
    matrices = edge_similarities(net, NB201_ALL, batches, cfg)
    partitions = {p: partition_ops(m, NB201_ALL.allowed[p]) for p, m in matrices.items()}
    assert record.edge == choose_edge(partitions, "gap")
    assert [tuple(g) for g in record.groups] == list(partitions[record.edge].groups)
    assert record.point_name == NB201_ALL.point_name(record.edge) and record.criterion == "lid"
    assert set(record.similarities) == {NB201_ALL.point_name(p) for p in points}
    assert np.allclose(record.similarities[record.point_name]["matrix"], matrices[record.edge])
    assert record.peak_memory_bytes is None and record.seconds > 0  # peak memory is measured on CUDA only


def test_decide_split_with_the_bootstrap_reports_how_sure_it_is():
    net, batches = _net_and_batches(seed=1)
    cfg = SplitConfig(batches=3, batch_size=24, k=5, reliability_resamples=20)
    record = decide_split(net, NB201_ALL, batches, cfg, [0, 3])
    assert record.edge in (0, 3) and record.reliability is not None
    assert set(record.edge_scores) == {NB201_ALL.point_name(0), NB201_ALL.point_name(3)}


def test_candidates_leave_out_split_points_until_all_are_split_and_few_shot_is_one_op_a_group():
    child = NB201_ALL.split(2, [["none", "skip_connect"], ["nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]])[1]
    assert candidate_points(child, NB201_ALL) == [0, 1, 3, 4, 5]
    everywhere = NB201_ALL
    for point in range(6):  # every point split once: the points that still hold several ops are candidates again
        everywhere = everywhere.split(point, [["none", "skip_connect"], ["nor_conv_1x1", "nor_conv_3x3",
                                                                          "avg_pool_3x3"]])[point % 2]
    assert candidate_points(everywhere, NB201_ALL) == [p for p in range(6) if len(everywhere.allowed[p]) > 1]
    assert candidate_points(everywhere, NB201_ALL) != []
    record = few_shot_split(NB201_ALL, 1)
    assert record.edge == 1 and record.groups == [[op] for op in NB201_ALL.allowed[1]] and not record.similarities
