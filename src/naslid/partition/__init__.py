"""Supernet partitioning: split criteria, min-cut, the split schedule, the partition tree, job runners."""

from naslid.partition.criteria import CRITERIA, SplitConfig, edge_similarities, lid_profile, similarity_matrix
from naslid.partition.jobs import JobRunner, ProcessPoolRunner, SequentialRunner, get_runner, runner_slots
from naslid.partition.mincut import EDGE_SCORES, OpPartition, choose_edge, partition_ops
from naslid.partition.ray_runner import RayRunner
from naslid.partition.schedule import ScheduleConfig
from naslid.partition.separability import separability
from naslid.partition.tree import TREE_SCHEMA, PartitionNode, PartitionTree, SplitRecord

__all__ = [
    "CRITERIA", "EDGE_SCORES", "JobRunner", "OpPartition", "PartitionNode", "PartitionTree", "ProcessPoolRunner",
    "RayRunner", "ScheduleConfig", "SequentialRunner", "SplitConfig", "SplitRecord", "TREE_SCHEMA", "choose_edge",
    "edge_similarities", "get_runner", "lid_profile", "partition_ops", "runner_slots", "separability",
    "similarity_matrix",
]
