"""The partition tree: sub-supernets as nodes, each split decision recorded with its evidence.

Saved as JSON (schema ``naslid.partition_tree/1``) with op names, never indices. Every architecture of
the root space belongs to exactly one leaf.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from naslid.atomic import write_json
from naslid.reading import DATA_LIMIT, read_json
from naslid.spaces import ChoiceArch, SubSpace, edge_name

TREE_SCHEMA = "naslid.partition_tree/1"


@dataclass
class SplitRecord:
    """Why a node was split: the chosen choice point ("edge" on NB201), its groups and the evidence for every
    point considered."""

    edge: int  # index of the split choice point
    groups: list[list[str]]
    criterion: str
    edge_scores: dict[str, float]  # point name -> score of its best partition
    similarities: dict[str, dict[str, Any]]  # point name -> {"ops": [...], "matrix": [[...]]}
    seconds: float = 0.0
    peak_memory_bytes: int | None = None
    point_name: str = ""  # the split point's name; empty: the NB201 edge name of `edge`
    # how sure the decision is: `SplitReliability.to_json(names)` (bootstrap over the measurement batches); None
    # when not measured (trees written before it existed, few-shot splits)
    reliability: dict | None = None

    def __post_init__(self) -> None:
        if not self.point_name:
            self.point_name = edge_name(self.edge)

    def to_json(self) -> dict:
        return {
            "edge": self.point_name, "edge_index": self.edge, "groups": self.groups, "criterion": self.criterion,
            "edge_scores": self.edge_scores, "similarities": self.similarities, "seconds": self.seconds,
            "peak_memory_bytes": self.peak_memory_bytes, "reliability": self.reliability,
        }

    @classmethod
    def from_json(cls, data: dict) -> SplitRecord:
        return cls(
            edge=int(data["edge_index"]), groups=[list(g) for g in data["groups"]], criterion=data["criterion"],
            edge_scores=dict(data["edge_scores"]), similarities=dict(data["similarities"]),
            seconds=float(data.get("seconds", 0.0)), peak_memory_bytes=data.get("peak_memory_bytes"),
            point_name=str(data.get("edge", "")),
            reliability=dict(data["reliability"]) if data.get("reliability") is not None else None,
        )


@dataclass
class PartitionNode:
    """One (sub-)supernet: its space, where it came from, how far it is trained and where its weights are."""

    id: int
    subspace: SubSpace
    parent: int | None = None
    depth: int = 0
    children: list[int] = field(default_factory=list)
    split: SplitRecord | None = None
    trained_epochs: int = 0
    finetuned: bool = False
    checkpoint: str | None = None  # relative to the run directory

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def to_json(self) -> dict:
        return {
            "id": self.id, "parent": self.parent, "depth": self.depth, "children": self.children,
            "subspace": self.subspace.to_json(), "size": self.subspace.size(),
            "split": self.split.to_json() if self.split else None, "trained_epochs": self.trained_epochs,
            "finetuned": self.finetuned, "checkpoint": self.checkpoint,
        }

    @classmethod
    def from_json(cls, data: dict) -> PartitionNode:
        return cls(
            id=int(data["id"]), subspace=SubSpace.from_json(data["subspace"]),
            parent=None if data["parent"] is None else int(data["parent"]),
            depth=int(data["depth"]), children=[int(c) for c in data["children"]],
            split=SplitRecord.from_json(data["split"]) if data.get("split") else None,
            trained_epochs=int(data["trained_epochs"]), finetuned=bool(data.get("finetuned", False)),
            checkpoint=_checkpoint_name(data.get("checkpoint")),
        )


def _checkpoint_name(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"checkpoint {value!r} is not a file name")
    return value


class PartitionTree:
    """Nodes by id; the root (id 0) holds `root`, the sub-space the run searches (there is no default space)."""

    def __init__(self, root: SubSpace, protocol: dict | None = None) -> None:
        if not isinstance(root, SubSpace):
            raise TypeError(f"a partition tree's root is a SubSpace (e.g. get_space('nb201').full()), got {root!r}")
        self.nodes: dict[int, PartitionNode] = {0: PartitionNode(id=0, subspace=root)}
        self.protocol: dict = dict(protocol or {})

    @property
    def root(self) -> PartitionNode:
        return self.nodes[0]

    def leaves(self) -> list[PartitionNode]:
        return [node for node in self.nodes.values() if node.is_leaf]

    def split(self, node_id: int, record: SplitRecord) -> list[PartitionNode]:
        """Give `node_id` one child per group of `record`; children start where the parent stands."""
        parent = self.nodes[node_id]
        if not parent.is_leaf:
            raise ValueError(f"node {node_id} is already split")
        children = []
        for subspace in parent.subspace.split(record.edge, record.groups):
            child = PartitionNode(
                id=max(self.nodes) + 1, subspace=subspace, parent=node_id, depth=parent.depth + 1,
                trained_epochs=parent.trained_epochs, checkpoint=parent.checkpoint,
            )
            self.nodes[child.id] = child
            parent.children.append(child.id)
            children.append(child)
        parent.split = record
        return children

    def leaf_for(self, arch: ChoiceArch) -> PartitionNode:
        """The leaf whose space holds `arch` (walks down from the root)."""
        node = self.root
        if not node.subspace.contains(arch):
            raise KeyError(f"architecture {arch} is outside this tree's space")
        while not node.is_leaf:
            owners = [self.nodes[c] for c in node.children if self.nodes[c].subspace.contains(arch)]
            assert len(owners) == 1, f"children of node {node.id} do not partition its space"
            node = owners[0]
        return node

    def to_json(self) -> dict:
        return {
            "schema": TREE_SCHEMA,
            "space": self.root.subspace.space.name,
            "protocol": self.protocol,
            "nodes": [self.nodes[i].to_json() for i in sorted(self.nodes)],
            "leaves": [node.id for node in self.leaves()],
        }

    @classmethod
    def from_json(cls, data: dict) -> PartitionTree:
        schema = data.get("schema") if isinstance(data, dict) else None
        if not str(schema).startswith("naslid.partition_tree/"):
            raise ValueError(f"not a naslid partition tree (schema {schema!r})")
        if schema != TREE_SCHEMA:
            raise ValueError(f"unsupported partition tree schema {schema!r}; this naslid reads {TREE_SCHEMA!r}")
        try:
            nodes = {int(node["id"]): PartitionNode.from_json(node) for node in data["nodes"]}
        except KeyError as error:
            raise ValueError(f"partition tree lacks the entry {error.args[0]!r}") from None
        except (TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"partition tree holds a malformed node ({error})") from None
        if 0 not in nodes:
            raise ValueError("partition tree has no root node (id 0)")
        tree = cls(nodes[0].subspace, protocol=data.get("protocol", {}))
        tree.nodes = nodes
        for node in tree.nodes.values():
            for child in node.children:
                if child not in tree.nodes:
                    raise ValueError(f"node {node.id} lists child {child}, which is not in the tree")
            if node.parent is not None and node.parent not in tree.nodes:
                raise ValueError(f"node {node.id} names parent {node.parent}, which is not in the tree")
        return tree

    def save(self, path: str | os.PathLike) -> Path:
        """Write the tree as JSON through a temporary file and a rename."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_json(path, self.to_json(), indent=1)

    @classmethod
    def load(cls, path: str | os.PathLike) -> PartitionTree:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"partition tree {path} not found; expected partition_tree.json of a naslid run")
        data = read_json(path, limit=DATA_LIMIT, what="partition tree")  # bounded; errors name the file
        try:
            return cls.from_json(data)
        except ValueError as error:
            raise ValueError(f"partition tree {path}: {error}") from None
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"partition tree {path}: not a naslid partition tree ({type(error).__name__}: "
                             f"{error})") from None
