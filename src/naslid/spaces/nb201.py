"""The NAS-Bench-201 cell search space: architectures as op names, parsing, enumeration, sub-spaces.

An architecture is six op names, one per edge, in the order the official string writes them:
1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2. Op names, never indices, are what files store.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# The official NAS-Bench-201 op names, in the official API's order.
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (to_node, from_node) for each edge, in the order of the official arch string.
NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_NODES = 4

SUBSPACE_SCHEMA = "naslid.subspace/1"


def edge_name(edge: int) -> str:
    """Human-readable name of edge `edge`, e.g. ``'1<-0'``."""
    to_node, from_node = NB201_EDGES[edge]
    return f"{to_node}<-{from_node}"


@dataclass(frozen=True, order=True)
class Arch:
    """One NB201 architecture: the op name on each of the six edges."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.ops) != len(NB201_EDGES):
            raise ValueError(f"an NB201 arch has {len(NB201_EDGES)} edge ops, got {len(self.ops)}: {self.ops}")
        for op in self.ops:
            if op not in NB201_OPS:
                raise ValueError(f"unknown NB201 op {op!r}; expected one of {list(NB201_OPS)}")

    def __str__(self) -> str:
        return format_arch(self)

    def replace(self, edge: int, op: str) -> Arch:
        """A copy with edge `edge` set to `op`."""
        ops = list(self.ops)
        ops[edge] = op
        return Arch(tuple(ops))


def parse_arch(text: str) -> Arch:
    """Parse the official string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``; raise ValueError naming the fault."""
    if not isinstance(text, str):
        raise ValueError(f"an NB201 arch string must be a str, got {type(text).__name__}")
    groups = text.strip().split("+")
    if len(groups) != NUM_NODES - 1:
        raise ValueError(
            f"NB201 arch string {text!r} has {len(groups)} node groups separated by '+', expected 3 "
            "(format |op~0|+|op~0|op~1|+|op~0|op~1|op~2|)"
        )
    ops: list[str] = []
    for node, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
            raise ValueError(f"node group {group!r} of {text!r} must start and end with '|'")
        items = group[1:-1].split("|")
        if len(items) != node:
            raise ValueError(f"node {node} of {text!r} has {len(items)} inputs, expected {node}")
        for expected_input, item in enumerate(items):
            op, sep, source = item.partition("~")
            if not sep or not source.isdigit():
                raise ValueError(f"edge {item!r} of {text!r} must look like 'op~input'")
            if int(source) != expected_input:
                raise ValueError(
                    f"edge {item!r} of node {node} in {text!r} reads input {source}, expected {expected_input}"
                )
            if op not in NB201_OPS:
                raise ValueError(f"unknown op {op!r} in {text!r}; expected one of {list(NB201_OPS)}")
            ops.append(op)
    return Arch(tuple(ops))


def format_arch(arch: Arch) -> str:
    """The official NB201 string of `arch`."""
    groups = []
    start = 0
    for node in range(1, NUM_NODES):
        items = [f"{arch.ops[start + j]}~{j}" for j in range(node)]
        groups.append("|" + "|".join(items) + "|")
        start += node
    return "+".join(groups)


def isomorphism_key(arch: Arch) -> str:
    """A key shared by architectures that NAS-Bench-201 counts as the same topology (6,466 classes).

    Follows the benchmark's own rule (NATS `get_unique_str`): a node is the sorted sum of its input terms,
    `none` is ``#``, `skip_connect` passes the input node's expression, any other op wraps it as
    ``(expr)@op``, and any op of a node that is exactly ``#`` is ``#``. Summation order is factored out;
    other zero terms are kept, as the benchmark does, so the key equals the benchmark's `unique_str`.
    """
    node_expr = ["0"]
    for node in range(1, NUM_NODES):
        terms = []
        for edge, (to_node, from_node) in enumerate(NB201_EDGES):
            if to_node != node:
                continue
            op = arch.ops[edge]
            if op == "none" or node_expr[from_node] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(node_expr[from_node])
            else:
                terms.append(f"({node_expr[from_node]})@{op}")
        node_expr.append("+".join(sorted(terms)))
    return node_expr[-1]


class SubSpace:
    """A set of NB201 architectures given by the allowed op names on each edge.

    The whole space allows every op everywhere; a sub-supernet of NAS-LID or Few-shot NAS is a
    sub-space where some edges allow fewer ops.
    """

    def __init__(self, allowed: Sequence[Sequence[str]] | None = None) -> None:
        if allowed is None:
            allowed = [NB201_OPS] * len(NB201_EDGES)
        if len(allowed) != len(NB201_EDGES):
            raise ValueError(f"a sub-space needs allowed ops for {len(NB201_EDGES)} edges, got {len(allowed)}")
        normalised = []
        for edge, ops in enumerate(allowed):
            ops = tuple(ops)
            if not ops:
                raise ValueError(f"edge {edge_name(edge)} allows no op; every edge needs at least one")
            for op in ops:
                if op not in NB201_OPS:
                    raise ValueError(f"unknown op {op!r} on edge {edge_name(edge)}; expected one of {list(NB201_OPS)}")
            if len(set(ops)) != len(ops):
                raise ValueError(f"edge {edge_name(edge)} lists an op twice: {ops}")
            # keep the official order so equal sub-spaces compare equal
            normalised.append(tuple(op for op in NB201_OPS if op in ops))
        self.allowed: tuple[tuple[str, ...], ...] = tuple(normalised)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SubSpace) and self.allowed == other.allowed

    def __hash__(self) -> int:
        return hash(self.allowed)

    def __repr__(self) -> str:
        return f"SubSpace({[list(ops) for ops in self.allowed]})"

    @property
    def num_edges(self) -> int:
        return len(self.allowed)

    def size(self) -> int:
        """Number of architectures in the sub-space."""
        return int(np.prod([len(ops) for ops in self.allowed]))

    def contains(self, arch: Arch) -> bool:
        return all(op in ops for op, ops in zip(arch.ops, self.allowed, strict=True))

    __contains__ = contains

    def all(self) -> Iterator[Arch]:
        """Every architecture of the sub-space, in a fixed order (product over edges)."""
        for ops in itertools.product(*self.allowed):
            yield Arch(tuple(ops))

    def sample(self, rng: np.random.Generator) -> Arch:
        """One architecture drawn uniformly with the given generator."""
        return Arch(tuple(ops[rng.integers(len(ops))] for ops in self.allowed))

    def splittable_edges(self) -> list[int]:
        """Edges that still allow more than one op."""
        return [edge for edge, ops in enumerate(self.allowed) if len(ops) > 1]

    def split(self, edge: int, groups: Sequence[Sequence[str]]) -> list[SubSpace]:
        """Children that restrict `edge` to each group; the groups must partition the edge's ops."""
        if not 0 <= edge < self.num_edges:
            raise ValueError(f"edge index {edge} out of range 0..{self.num_edges - 1}")
        current = set(self.allowed[edge])
        seen: set[str] = set()
        for group in groups:
            if not group:
                raise ValueError(f"empty group in split of edge {edge_name(edge)}: {groups}")
            overlap = seen & set(group)
            if overlap:
                raise ValueError(f"op(s) {sorted(overlap)} appear in two groups of {groups}")
            seen |= set(group)
        if seen != current:
            raise ValueError(
                f"groups {[list(g) for g in groups]} must cover exactly the ops of edge {edge_name(edge)}: "
                f"{list(self.allowed[edge])}"
            )
        children = []
        for group in groups:
            allowed = list(self.allowed)
            allowed[edge] = tuple(group)
            children.append(SubSpace(allowed))
        return children

    def to_json(self) -> dict:
        return {
            "schema": SUBSPACE_SCHEMA,
            "space": "nb201",
            "edges": [edge_name(e) for e in range(self.num_edges)],
            "allowed": [list(ops) for ops in self.allowed],
        }

    @classmethod
    def from_json(cls, data: Mapping) -> SubSpace:
        schema = data.get("schema", "")
        if not str(schema).startswith("naslid.subspace/"):
            raise ValueError(f"not a naslid sub-space (schema {schema!r})")
        if schema != SUBSPACE_SCHEMA:
            raise ValueError(f"unsupported sub-space schema {schema!r}; this naslid reads {SUBSPACE_SCHEMA!r}")
        return cls(data["allowed"])

    def dumps(self) -> str:
        return json.dumps(self.to_json())


class NB201Space:
    """The full NB201 cell space (15,625 architectures)."""

    name = "nb201"
    ops = NB201_OPS
    edges = NB201_EDGES
    num_edges = len(NB201_EDGES)

    def __init__(self) -> None:
        self._full = SubSpace()

    parse = staticmethod(parse_arch)
    format = staticmethod(format_arch)
    isomorphism_key = staticmethod(isomorphism_key)

    def size(self) -> int:
        return self._full.size()

    def all(self) -> Iterator[Arch]:
        return self._full.all()

    def sample(self, rng: np.random.Generator) -> Arch:
        return self._full.sample(rng)

    def full(self) -> SubSpace:
        return self._full

    def restrict(self, allowed: Sequence[Sequence[str]]) -> SubSpace:
        return SubSpace(allowed)
