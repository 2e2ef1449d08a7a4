"""Supernet partitioning: split criteria, min-cut, the split schedule, the partition tree, job runners."""

from naslid.partition.criteria import (
    CRITERIA,
    SplitConfig,
    SplitCriterion,
    edge_similarities,
    edge_similarity_samples,
    lid_profile,
    mean_over_batches,
    register_criterion,
    similarity_matrix,
)
from naslid.partition.decision import candidate_points, decide_split, few_shot_split
from naslid.partition.jobs import JobRunner, ProcessPoolRunner, SequentialRunner, get_runner, runner_slots
from naslid.partition.mincut import (
    EDGE_SCORES,
    EdgeScore,
    OpPartition,
    choose_edge,
    get_edge_score,
    partition_ops,
    register_edge_score,
)
from naslid.partition.ray_runner import RayRunner
from naslid.partition.reliability import (
    EdgeReliability,
    SplitReliability,
    choose_edge_with_reliability,
    split_reliability,
)
from naslid.partition.schedule import ScheduleConfig
from naslid.partition.separability import separability
from naslid.partition.tree import TREE_SCHEMA, PartitionNode, PartitionTree, SplitRecord

__all__ = [
    "CRITERIA", "EDGE_SCORES", "EdgeReliability", "EdgeScore", "JobRunner", "OpPartition", "PartitionNode",
    "PartitionTree", "ProcessPoolRunner", "RayRunner", "ScheduleConfig", "SequentialRunner", "SplitConfig",
    "SplitCriterion", "SplitRecord", "SplitReliability", "TREE_SCHEMA", "candidate_points", "choose_edge",
    "choose_edge_with_reliability", "decide_split", "edge_similarities", "edge_similarity_samples", "few_shot_split",
    "get_edge_score", "get_runner", "lid_profile", "mean_over_batches", "partition_ops", "register_criterion",
    "register_edge_score", "runner_slots", "separability", "similarity_matrix", "split_reliability",
]
