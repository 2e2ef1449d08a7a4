"""The union of sub-spaces a search runs over: membership, size and uniform sampling.

With NAS-LID the space is partitioned into sub-supernets and every architecture belongs to one leaf, so
a search over "all leaves" is a search over the union of their sub-spaces. Sampling is uniform over the
union's architectures, also when the given sub-spaces overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence

import numpy as np

from naslid.spaces import ChoiceArch, SearchSpace, SubSpace

# Rejection draws tried before sampling from the enumerated remainder of the union.
_REJECTION_TRIES = 100
# Unions larger than this are never enumerated (MobileNet spaces hold ~10^17 architectures): draws only.
ENUMERATION_LIMIT = 1_000_000
# Draws tried to find an architecture that meets the constraint (e.g. a FLOPs budget).
CONSTRAINED_TRIES = 10_000


class SubSpaceUnion:
    """A set of architectures given as the union of one or more sub-spaces, optionally only those for which
    `constraint(arch)` holds (e.g. at most 600 MFLOPs)."""

    def __init__(self, spaces: SubSpace | SearchSpace | Sequence[SubSpace],
                 constraint: Callable[[ChoiceArch], bool] | None = None) -> None:
        if isinstance(spaces, SearchSpace):
            spaces = [SubSpace(None, spaces)]
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
        names = {space.space.name for space in spaces}
        if len(names) > 1:
            raise ValueError(f"a union cannot mix search spaces: {sorted(names)}")
        self.spaces: tuple[SubSpace, ...] = spaces
        self.search_space: SearchSpace = spaces[0].space
        self.constraint = constraint
        # per point, every choice that some sub-space allows, in the space's order
        self.edge_ops: tuple[tuple[str, ...], ...] = tuple(
            tuple(name for name in choices if any(name in space.allowed[point] for space in spaces))
            for point, choices in enumerate(self.search_space.choices)
        )
        self._sizes = np.array([space.size() for space in spaces], dtype=float)
        self._weights = self._sizes / self._sizes.sum()
        self._size: int | None = None
        self._members: list[ChoiceArch] | None = None

    def __repr__(self) -> str:
        return f"SubSpaceUnion({list(self.spaces)!r})"

    def __len__(self) -> int:
        return self.size()

    def contains(self, arch: ChoiceArch) -> bool:
        return any(space.contains(arch) for space in self.spaces) and (
            self.constraint is None or self.constraint(arch))

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
        """Number of distinct architectures in the union (under the constraint, if any: then by enumeration)."""
        if self._size is None:
            if self.is_disjoint() and self.constraint is None:
                self._size = sum(space.size() for space in self.spaces)
            else:
                self._size = len(self.all())
        return self._size

    def enumerable(self) -> bool:
        """Whether the union is small enough to list (at most `ENUMERATION_LIMIT` architectures)."""
        return sum(space.size() for space in self.spaces) <= ENUMERATION_LIMIT

    def all(self) -> list[ChoiceArch]:
        """Every architecture of the union once, in a fixed order (sub-space by sub-space)."""
        if not self.enumerable():
            total = sum(space.size() for space in self.spaces)
            raise ValueError(f"the union holds {total:.3g} architectures, too many to list (limit "
                             f"{ENUMERATION_LIMIT:,}); sample from it instead")
        if self._members is None:
            seen: set[ChoiceArch] = set()
            members = []
            for space in self.spaces:
                for arch in space.all():
                    if arch not in seen and (self.constraint is None or self.constraint(arch)):
                        seen.add(arch)
                        members.append(arch)
            self._members = members
        return list(self._members)

    def _owner(self, arch: ChoiceArch) -> int:
        """Index of the first sub-space that holds `arch`."""
        for position, space in enumerate(self.spaces):
            if space.contains(arch):
                return position
        raise AssertionError(f"{arch} lies in no sub-space of the union")

    def sample(self, rng: np.random.Generator) -> ChoiceArch:
        """One architecture drawn uniformly from the union.

        A sub-space is chosen in proportion to its size and an architecture drawn from it; the draw is kept
        only if no earlier sub-space also holds it, so overlapping architectures are not favoured.
        """
        for _ in range(CONSTRAINED_TRIES):
            position = int(rng.choice(len(self.spaces), p=self._weights)) if len(self.spaces) > 1 else 0
            arch = self.spaces[position].sample(rng)
            if (position == 0 or self._owner(arch) == position) and (self.constraint is None or self.constraint(arch)):
                return arch
        raise ValueError(f"no architecture of the union met the constraint in {CONSTRAINED_TRIES:,} uniform draws; "
                         "loosen the budget (e.g. --max-mflops)")

    def sample_excluding(self, rng: np.random.Generator, excluded: Container[ChoiceArch]) -> ChoiceArch | None:
        """One architecture drawn uniformly from the union less `excluded`; None when nothing is left."""
        for _ in range(_REJECTION_TRIES if self.enumerable() else CONSTRAINED_TRIES):
            arch = self.sample(rng)
            if arch not in excluded:
                return arch
        if not self.enumerable():
            return None  # practically never for a space this large: every draw was taken already
        remaining = [arch for arch in self.all() if arch not in excluded]
        if not remaining:
            return None
        return remaining[int(rng.integers(len(remaining)))]


def draw_unvisited(union: SubSpaceUnion, rng: np.random.Generator, taken: set[ChoiceArch], count: int
                   ) -> tuple[list[ChoiceArch], bool]:
    """Up to `count` new uniform draws outside `taken` (which they join); True once the union is used up."""
    drawn: list[ChoiceArch] = []
    while len(drawn) < count:
        arch = union.sample_excluding(rng, taken)
        if arch is None:
            return drawn, True
        taken.add(arch)
        drawn.append(arch)
    return drawn, False
