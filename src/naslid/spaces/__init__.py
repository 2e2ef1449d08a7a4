"""Search spaces: architecture encoding, enumeration, sampling and sub-spaces."""

from naslid.spaces.nb201 import (
    NB201_EDGES,
    NB201_OPS,
    Arch,
    NB201Space,
    SubSpace,
    edge_name,
    format_arch,
    isomorphism_key,
    parse_arch,
)

SPACES = {"nb201": NB201Space}


def get_space(name: str) -> NB201Space:
    """The search space registered under `name`."""
    try:
        return SPACES[name]()
    except KeyError:
        raise ValueError(f"unknown search space {name!r}; known: {sorted(SPACES)}") from None


__all__ = [
    "NB201_EDGES", "NB201_OPS", "Arch", "NB201Space", "SubSpace", "SPACES", "edge_name",
    "format_arch", "get_space", "isomorphism_key", "parse_arch",
]
