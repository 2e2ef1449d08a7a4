"""The NAS-Bench-201 cell search space: architectures as op names, parsing, enumeration, sub-spaces.

An architecture is six op names, one per edge, in the order the official string writes them:
1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2. Op names, never indices, are what files store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from naslid.spaces.base import ChoiceArch, WholeSpaceMethods

# The official NAS-Bench-201 op names, in the official API's order.
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (to_node, from_node) for each edge, in the order of the official arch string.
NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_NODES = 4


def edge_name(edge: int) -> str:
    """Human-readable name of edge `edge`, e.g. ``'1<-0'``."""
    to_node, from_node = NB201_EDGES[edge]
    return f"{to_node}<-{from_node}"


@dataclass(frozen=True, order=True)
class NB201Arch(ChoiceArch):
    """One NB201 architecture: the op name on each of the six edges."""

    def __post_init__(self) -> None:
        if len(self.ops) != len(NB201_EDGES):
            raise ValueError(f"an NB201 arch has {len(NB201_EDGES)} edge ops, got {len(self.ops)}: {self.ops}")
        for op in self.ops:
            if op not in NB201_OPS:
                raise ValueError(f"unknown NB201 op {op!r}; expected one of {list(NB201_OPS)}")

    def __str__(self) -> str:
        return format_arch(self)

    def replace(self, edge: int, op: str) -> NB201Arch:
        """A copy with edge `edge` set to `op`."""
        ops = list(self.ops)
        ops[edge] = op
        return NB201Arch(tuple(ops))


def parse_arch(text: str) -> NB201Arch:
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
    return NB201Arch(tuple(ops))


def format_arch(arch: NB201Arch) -> str:
    """The official NB201 string of `arch`."""
    groups = []
    start = 0
    for node in range(1, NUM_NODES):
        items = [f"{arch.ops[start + j]}~{j}" for j in range(node)]
        groups.append("|" + "|".join(items) + "|")
        start += node
    return "+".join(groups)


def isomorphism_key(arch: NB201Arch) -> str:
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


class NB201Space(WholeSpaceMethods):
    """The full NB201 cell space (15,625 architectures): six edges, five op names each."""

    name = "nb201"
    ops = NB201_OPS
    edges = NB201_EDGES
    num_edges = len(NB201_EDGES)
    points: tuple[str, ...] = tuple(edge_name(e) for e in range(len(NB201_EDGES)))
    choices: tuple[tuple[str, ...], ...] = (NB201_OPS,) * len(NB201_EDGES)

    parse = staticmethod(parse_arch)
    format = staticmethod(format_arch)
    isomorphism_key = staticmethod(isomorphism_key)
    canonical_key = staticmethod(isomorphism_key)

    @staticmethod
    def make_arch(ops: Sequence[str]) -> NB201Arch:
        return NB201Arch(tuple(ops))


# the name NB201Arch had before the spaces shared one code path (kept so that older code keeps working)
Arch = NB201Arch
