"""The union of sub-spaces a search runs over: membership, size and uniform sampling.

With NAS-LID the space is partitioned into sub-supernets and every architecture belongs to one leaf, so
a search over "all leaves" is a search over the union of their sub-spaces. Sampling is uniform over the
union's architectures, also when the given sub-spaces overlap.
"""

from __future__ import annotations

from collections.abc import Container, Sequence

import numpy as np

from naslid.spaces import NB201_OPS, Arch, NB201Space, SubSpace

# Rejection draws tried before sampling from the enumerated remainder of the union.
_REJECTION_TRIES = 100


class SubSpaceUnion:
    """A set of architectures given as the union of one or more sub-spaces."""

    def __init__(self, spaces: SubSpace | NB201Space | Sequence[SubSpace]) -> None:
        if isinstance(spaces, NB201Space):
            spaces = [spaces.full()]
        elif isinstance(spaces, SubSpace):
            spaces = [spaces]
        spaces = tuple(spaces)
        if not spaces:
            raise ValueError("space must be a SubSpace or a non-empty list of SubSpaces, got an empty list")
        for position, space in enumerate(spaces):
            if not isinstance(space, SubSpace):
                raise ValueError(
                    f"space[{position}] must be a SubSpace, got {type(space).__name__}: {space!r}"
                )
        self.spaces: tuple[SubSpace, ...] = spaces
        num_edges = spaces[0].num_edges
        # per edge, every op that some sub-space allows, in the official order
        self.edge_ops: tuple[tuple[str, ...], ...] = tuple(
            tuple(op for op in NB201_OPS if any(op in space.allowed[edge] for space in spaces))
            for edge in range(num_edges)
        )
        self._sizes = np.array([space.size() for space in spaces], dtype=float)
        self._weights = self._sizes / self._sizes.sum()
        self._size: int | None = None
        self._members: list[Arch] | None = None

    def __repr__(self) -> str:
        return f"SubSpaceUnion({list(self.spaces)!r})"

    def __len__(self) -> int:
        return self.size()

    def contains(self, arch: Arch) -> bool:
        return any(space.contains(arch) for space in self.spaces)

    __contains__ = contains

    def is_disjoint(self) -> bool:
        """Whether no architecture lies in two of the sub-spaces (true of a partition's leaves)."""
        for first in range(len(self.spaces)):
            for second in range(first + 1, len(self.spaces)):
                if all(
                    set(ops_a) & set(ops_b)
                    for ops_a, ops_b in zip(
                        self.spaces[first].allowed, self.spaces[second].allowed, strict=True
                    )
                ):
                    return False
        return True

    def size(self) -> int:
        """Number of distinct architectures in the union."""
        if self._size is None:
            self._size = int(self._sizes.sum()) if self.is_disjoint() else len(self.all())
        return self._size

    def all(self) -> list[Arch]:
        """Every architecture of the union once, in a fixed order (sub-space by sub-space)."""
        if self._members is None:
            seen: set[Arch] = set()
            members = []
            for space in self.spaces:
                for arch in space.all():
                    if arch not in seen:
                        seen.add(arch)
                        members.append(arch)
            self._members = members
        return list(self._members)

    def _owner(self, arch: Arch) -> int:
        """Index of the first sub-space that holds `arch`."""
        for position, space in enumerate(self.spaces):
            if space.contains(arch):
                return position
        raise AssertionError(f"{arch} lies in no sub-space of the union")

    def sample(self, rng: np.random.Generator) -> Arch:
        """One architecture drawn uniformly from the union.

        A sub-space is chosen in proportion to its size and an architecture drawn from it; the draw is kept
        only if no earlier sub-space also holds it, so overlapping architectures are not favoured.
        """
        while True:
            position = int(rng.choice(len(self.spaces), p=self._weights)) if len(self.spaces) > 1 else 0
            arch = self.spaces[position].sample(rng)
            if position == 0 or self._owner(arch) == position:
                return arch

    def sample_excluding(self, rng: np.random.Generator, excluded: Container[Arch]) -> Arch | None:
        """One architecture drawn uniformly from the union less `excluded`; None when nothing is left."""
        for _ in range(_REJECTION_TRIES):
            arch = self.sample(rng)
            if arch not in excluded:
                return arch
        remaining = [arch for arch in self.all() if arch not in excluded]
        if not remaining:
            return None
        return remaining[int(rng.integers(len(remaining)))]


def draw_unvisited(union: SubSpaceUnion, rng: np.random.Generator, taken: set[Arch], count: int
                   ) -> tuple[list[Arch], bool]:
    """Up to `count` new uniform draws outside `taken` (which they join); True once the union is used up."""
    drawn: list[Arch] = []
    while len(drawn) < count:
        arch = union.sample_excluding(rng, taken)
        if arch is None:
            return drawn, True
        taken.add(arch)
        drawn.append(arch)
    return drawn, False
