"""Search spaces: choice points with named choices, architectures, sampling and sub-spaces.

`SPACES` maps a space's name to its class (timm's registry pattern: a plain dict); `get_space(name)` gives
the one shared instance. The algorithm rooms see only `SubSpace` and the `SearchSpace` protocol.
"""

from naslid.spaces.base import (
    ChoiceArch,
    SearchSpace,
    SubSpace,
    arch_to_json,
    network_key_function,
    path_where_point_matters,
    point_matters,
    resolve_space,
)
from naslid.spaces.nb201 import (
    NB201_EDGES,
    NB201_OPS,
    Arch,
    NB201Arch,
    NB201Space,
    edge_name,
    format_arch,
    isomorphism_key,
    parse_arch,
)
from naslid.spaces.ofa import OFAArch, OFASpace
from naslid.spaces.proxyless import (
    PROXYLESS_CHOICES,
    PROXYLESS_POINTS,
    ProxylessArch,
    ProxylessSpace,
    format_proxyless_arch,
    parse_proxyless_arch,
)

SPACES: dict[str, type] = {"nb201": NB201Space, "proxyless": ProxylessSpace, "ofa": OFASpace}
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


def register_space(name: str, space_class: type) -> None:
    """Make `space_class` available as `get_space(name)` and in sub-space JSON."""
    SPACES[name] = space_class
    _INSTANCES.pop(name, None)


__all__ = [
    "Arch", "ChoiceArch", "NB201Arch", "NB201Space", "NB201_EDGES", "NB201_OPS", "OFAArch", "OFASpace",
    "PROXYLESS_CHOICES",
    "PROXYLESS_POINTS", "ProxylessArch", "ProxylessSpace", "SPACES", "SearchSpace", "SubSpace", "arch_to_json",
    "edge_name", "format_arch", "format_proxyless_arch", "get_space", "isomorphism_key", "network_key_function",
    "parse_arch", "parse_proxyless_arch", "path_where_point_matters", "point_matters", "register_space",
    "resolve_space",
]
