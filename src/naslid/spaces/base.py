"""What every search space shares: choice points with named choices, architectures, sub-spaces.

A space is an ordered list of **choice points** (an NB201 edge, a ProxylessNAS layer, an OFA block or
stage depth), each with named choices. An architecture is one choice name per point. A sub-space allows a
subset of the choices at each point; splitting a point into groups of choices, uniform sampling,
membership, size and JSON need nothing space-specific, so `partition/`, `train/` and `search/` only ever
see `SubSpace` and the `SearchSpace` protocol.

Where architectures coincide (NB201's isomorphic cells, OFA's inactive blocks) the space's
`canonical_key` says so; choice names, never indices, are what files store.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from naslid.registry import check_name, describe, register

SUBSPACE_SCHEMA = "naslid.subspace/1"


@dataclass(frozen=True, order=True)
class ChoiceArch:
    """An architecture: one choice name per choice point. Spaces subclass it to validate their names."""

    ops: tuple[str, ...]

    def replace(self, point: int, choice: str) -> ChoiceArch:
        """A copy with choice point `point` set to `choice` (same class, validated again)."""
        ops = list(self.ops)
        ops[point] = choice
        return type(self)(tuple(ops))


@runtime_checkable
class SearchSpace(Protocol):
    """The questions the algorithm rooms ask a search space.

    `points` names the choice points in order, `choices[i]` the choice names of point `i` in the space's
    canonical order. `make_arch(ops)` validates and builds an architecture; `parse`/`format` give its
    string form (a round trip); `canonical_key` is shared by architectures that are the same network up to
    the space's equivalences (NB201: isomorphic cells). `network_key` is shared exactly by architectures that
    run the same supernet path, so that one score serves them all (search scores each key once): optional
    (`network_key_function` falls back to the string form, as `WholeSpaceMethods` does); OFA gives its
    canonical key (inactive blocks' choices do not run). NB201's isomorphic cells run different edges'
    weights, so there it stays the string form.
    """

    name: str
    points: tuple[str, ...]
    choices: tuple[tuple[str, ...], ...]

    def make_arch(self, ops: Sequence[str]) -> ChoiceArch: ...

    def parse(self, text: str) -> ChoiceArch: ...

    def format(self, arch: ChoiceArch) -> str: ...

    def canonical_key(self, arch: ChoiceArch) -> str: ...


class SubSpace:
    """A set of architectures of `space` given by the allowed choice names at each point.

    `SubSpace(None, space)` is all of `space` (also `space.full()`); `SubSpace(allowed, space)` restricts it. The
    space is required: there is no default space. A sub-supernet of
    NAS-LID or Few-shot NAS is a sub-space where some points allow fewer choices.
    """

    def __init__(self, allowed: Sequence[Sequence[str]] | None = None, space: SearchSpace | str | None = None) -> None:
        self.space: SearchSpace = resolve_space(space)
        points, choices = self.space.points, self.space.choices
        if allowed is None:
            allowed = choices
        if isinstance(allowed, str | bytes) or len(allowed) != len(points):
            count = "a string" if isinstance(allowed, str | bytes) else len(allowed)
            raise ValueError(f"a {self.space.name} sub-space needs allowed choices for {len(points)} points, "
                             f"got {count}")
        normalised = []
        for point, names in enumerate(allowed):
            if isinstance(names, str):
                raise ValueError(f"point {points[point]} lists {names!r}: expected a list of choice names")
            names = tuple(names)
            if not names:
                raise ValueError(f"point {points[point]} allows no choice; every point needs at least one")
            for name in names:
                if name not in choices[point]:
                    raise ValueError(f"unknown choice {name!r} at point {points[point]}; expected one of "
                                     f"{list(choices[point])}")
            if len(set(names)) != len(names):
                raise ValueError(f"point {points[point]} lists a choice twice: {names}")
            # keep the space's order so that equal sub-spaces compare equal
            normalised.append(tuple(name for name in choices[point] if name in names))
        self.allowed: tuple[tuple[str, ...], ...] = tuple(normalised)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, SubSpace) and self.space.name == other.space.name
                and self.allowed == other.allowed)

    def __hash__(self) -> int:
        return hash((self.space.name, self.allowed))

    def __repr__(self) -> str:
        return f"SubSpace({[list(ops) for ops in self.allowed]}, space={self.space.name!r})"

    @property
    def num_points(self) -> int:
        return len(self.allowed)

    num_edges = num_points  # NB201's name for its choice points

    def point_name(self, point: int) -> str:
        return self.space.points[point]

    def size(self) -> int:
        """Number of architectures (choice combinations; coinciding ones counted apart)."""
        return int(np.prod([len(names) for names in self.allowed], dtype=object))

    def contains(self, arch: ChoiceArch) -> bool:
        return len(arch.ops) == len(self.allowed) and all(
            name in names for name, names in zip(arch.ops, self.allowed, strict=True))

    __contains__ = contains

    def all(self) -> Iterator[ChoiceArch]:
        """Every architecture of the sub-space, in a fixed order (product over points)."""
        for ops in itertools.product(*self.allowed):
            yield self.space.make_arch(ops)

    def sample(self, rng: np.random.Generator) -> ChoiceArch:
        """One architecture drawn uniformly (each point independently) with the given generator."""
        return self.space.make_arch(tuple(names[rng.integers(len(names))] for names in self.allowed))

    def sample_avoiding(self, rng: np.random.Generator, previous: ChoiceArch | None) -> ChoiceArch:
        """One architecture where each point draws uniformly among its allowed choices other than `previous`'s.

        The NAS-LID authors' path sampler: a point never repeats the choice it took at the previous step when
        it allows another, so a point limited to two choices alternates. A point keeps its full set when it
        allows one choice or when `previous`'s choice is not among its allowed ones (a path from another
        sub-space). With `previous` None this is `sample` (the same draws). One draw per point, always.
        """
        if previous is None:
            return self.sample(rng)
        if len(previous.ops) != len(self.allowed):
            raise ValueError(f"previous path {previous.ops} has {len(previous.ops)} choices; this "
                             f"{self.space.name} sub-space has {len(self.allowed)} points")
        ops = []
        for names, last in zip(self.allowed, previous.ops, strict=True):
            candidates = tuple(name for name in names if name != last) if len(names) > 1 else names
            ops.append(candidates[rng.integers(len(candidates))])
        return self.space.make_arch(tuple(ops))

    def splittable_points(self) -> list[int]:
        """Points that still allow more than one choice."""
        return [point for point, names in enumerate(self.allowed) if len(names) > 1]

    splittable_edges = splittable_points

    def split(self, point: int, groups: Sequence[Sequence[str]]) -> list[SubSpace]:
        """Children that restrict `point` to each group; the groups must partition the point's choices."""
        if not 0 <= point < self.num_points:
            raise ValueError(f"point index {point} out of range 0..{self.num_points - 1}")
        name = self.point_name(point)
        current = set(self.allowed[point])
        seen: set[str] = set()
        for group in groups:
            if not group:
                raise ValueError(f"empty group in split of point {name}: {groups}")
            overlap = seen & set(group)
            if overlap:
                raise ValueError(f"choice(s) {sorted(overlap)} appear in two groups of {groups}")
            seen |= set(group)
        if seen != current:
            raise ValueError(f"groups {[list(g) for g in groups]} must cover exactly the choices of point {name}: "
                             f"{list(self.allowed[point])}")
        children = []
        for group in groups:
            allowed = list(self.allowed)
            allowed[point] = tuple(group)
            children.append(SubSpace(allowed, self.space))
        return children

    def to_json(self) -> dict:
        return {
            "schema": SUBSPACE_SCHEMA,
            "space": self.space.name,
            # NB201 files have always named their points "edges"; other spaces say "points"
            ("edges" if self.space.name == "nb201" else "points"): list(self.space.points),
            "allowed": [list(names) for names in self.allowed],
        }

    @classmethod
    def from_json(cls, data: Mapping) -> SubSpace:
        schema = data.get("schema", "") if isinstance(data, Mapping) else ""
        if not str(schema).startswith("naslid.subspace/"):
            raise ValueError(f"not a naslid sub-space (schema {schema!r})")
        if schema != SUBSPACE_SCHEMA:
            raise ValueError(f"unsupported sub-space schema {schema!r}; this naslid reads {SUBSPACE_SCHEMA!r}")
        # files of this schema written before naslid had other spaces hold NB201 sub-spaces and no "space" key
        return cls(data["allowed"], data.get("space", "nb201"))

    def dumps(self) -> str:
        return json.dumps(self.to_json())


class WholeSpaceMethods:
    """The whole-space conveniences every space offers, from its `points`, `choices` and `make_arch`."""

    def full(self) -> SubSpace:
        return SubSpace(None, self)

    def size(self) -> int:
        return self.full().size()

    def all(self) -> Iterator[ChoiceArch]:
        return self.full().all()

    def sample(self, rng: np.random.Generator) -> ChoiceArch:
        return self.full().sample(rng)

    def restrict(self, allowed: Sequence[Sequence[str]]) -> SubSpace:
        return SubSpace(allowed, self)

    def network_key(self, arch: ChoiceArch) -> str:
        """Equal for architectures that run the same supernet path (the `SearchSpace` protocol): the string form."""
        return self.format(arch)


def point_matters(subspace: SubSpace, point: int) -> bool:
    """Whether `point` changes the network for some architecture of `subspace` (spaces whose points can be
    inactive, like OFA's blocks beyond a stage's depth, say so through `can_activate`)."""
    can_activate = getattr(subspace.space, "can_activate", None)
    return can_activate is None or bool(can_activate(subspace.allowed, point))


def path_where_point_matters(subspace: SubSpace, arch: ChoiceArch, point: int,
                             rng: np.random.Generator) -> ChoiceArch:
    """`arch`, changed where the space needs it (`activate`) so that `point`'s choices change the network; a
    paired comparison of a point's candidates is made on such a path."""
    activate = getattr(subspace.space, "activate", None)
    if activate is None:
        return arch
    active = activate(arch, point, subspace.allowed, rng)
    if active is None:
        raise ValueError(f"point {subspace.point_name(point)} changes no network of this sub-space; nothing to compare")
    return active


def network_key_function(space: SearchSpace) -> Callable[[ChoiceArch], str]:
    """The space's `network_key` (see `SearchSpace`), or its string form for a space that defines none."""
    return getattr(space, "network_key", space.format)


# The registry (timm's pattern: a plain dict): `naslid.spaces` registers the built-in spaces on import, a user's
# module registers its own (docs/own-space.md). It lives here so that sub-spaces resolve names without
# importing the package that imports them.
SPACES: dict[str, type] = {}
_INSTANCES: dict[str, SearchSpace] = {}


def get_space(name: str) -> SearchSpace:
    """The search space registered under `name` (one shared instance per name)."""
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}; known: {sorted(SPACES)} (a space of your own: register it "
                         "in a module and pass --import MODULE, or install it as a naslid.spaces entry point; "
                         "docs/own-space.md)")
    if name not in _INSTANCES:
        _INSTANCES[name] = SPACES[name]()
    return _INSTANCES[name]


def register_space(space_class: type | str, legacy_class: type | None = None, *, replace: bool = False) -> type:
    """Make `space_class` available as `get_space(space_class.name)` and in sub-space JSON; the class.

    The class is checked against the `SearchSpace` protocol now (an instance has every member, its `name` is the
    name it is registered under, and an architecture round-trips through `make_arch`, `format` and `parse`), so a
    space that is listed is one that works. A name registered already with another class is a ValueError unless
    `replace`. The older spelling `register_space(name, space_class)` names it explicitly.
    """
    if legacy_class is None:
        name = getattr(space_class, "name", None)
        if not isinstance(name, str):
            raise ValueError(f"{describe(space_class)} has no class attribute `name`; a search space names itself "
                             "(docs/own-space.md)")
    else:
        name, space_class = space_class, legacy_class
    check_name(SPACES, name, space_class, replace=replace, kind="search space")
    space = _checked_space(name, space_class)
    register(SPACES, name, space_class, replace=replace, kind="search space")
    _INSTANCES[name] = space
    return space_class


_SPACE_MEMBERS = ("name", "points", "choices", "make_arch", "parse", "format", "canonical_key")


def _checked_space(name: str, space_class: type) -> SearchSpace:
    """An instance of `space_class` that keeps the `SearchSpace` contract; else a ValueError naming what it lacks."""
    where = f"search space {name!r} ({describe(space_class)})"
    try:
        space = space_class()
    except Exception as error:
        raise ValueError(f"{where}: building it with no arguments failed ({type(error).__name__}: {error})") from None
    missing = [member for member in _SPACE_MEMBERS if not hasattr(space, member)]
    if missing:
        raise ValueError(f"{where} lacks {', '.join(missing)}; a space needs {', '.join(_SPACE_MEMBERS)} "
                         "(docs/own-space.md)")
    if space.name != name:
        raise ValueError(f"{where} names itself {space.name!r}; register it under its own name")
    points, choices = tuple(space.points), tuple(space.choices)
    if not points or len(points) != len(choices) or not all(len(options) for options in choices):
        raise ValueError(f"{where}: {len(points)} points and {len(choices)} lists of choices; expected one non-empty "
                         "list of choice names per point, at least one point")
    try:
        arch = space.make_arch(tuple(options[0] for options in choices))
        text = space.format(arch)
        same = space.parse(text) == arch
        space.canonical_key(arch)
    except Exception as error:
        raise ValueError(f"{where}: make_arch, format, parse or canonical_key failed on the architecture of every "
                         f"point's first choice ({type(error).__name__}: {error})") from None
    if not same:
        raise ValueError(f"{where}: parse(format(arch)) is not arch for {text!r}; the text form must round-trip")
    return space


def resolve_space(space: SearchSpace | str | None) -> SearchSpace:
    """A space object from a space or a registered name; there is no default space."""
    if space is None:
        raise ValueError("no search space given: pass the space or its registered name (naslid.spaces.SPACES); "
                         "naslid has no default space")
    return get_space(space) if isinstance(space, str) else space


def arch_to_json(arch: ChoiceArch, space: SearchSpace) -> dict[str, Any]:
    """An architecture as JSON: its string and its choice per named point."""
    return {"space": space.name, "arch": space.format(arch), "choices": dict(zip(space.points, arch.ops, strict=True))}
