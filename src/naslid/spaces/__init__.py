"""Search spaces: choice points with named choices, architectures, sampling and sub-spaces.

`SPACES` maps a space's name to its class (timm's registry pattern: a plain dict, kept in `spaces.base`);
`get_space(name)` gives the one shared instance; importing this package registers the built-in spaces.
The algorithm rooms see only `SubSpace` and the `SearchSpace` protocol.
"""

from naslid.spaces.base import (
    SPACES,
    ChoiceArch,
    SearchSpace,
    SubSpace,
    arch_to_json,
    get_space,
    network_key_function,
    path_where_point_matters,
    point_matters,
    register_space,
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

register_space(NB201Space)
register_space(ProxylessSpace)
register_space(OFASpace)

__all__ = [
    "Arch", "ChoiceArch", "NB201Arch", "NB201Space", "NB201_EDGES", "NB201_OPS", "OFAArch", "OFASpace",
    "PROXYLESS_CHOICES",
    "PROXYLESS_POINTS", "ProxylessArch", "ProxylessSpace", "SPACES", "SearchSpace", "SubSpace", "arch_to_json",
    "edge_name", "format_arch", "format_proxyless_arch", "get_space", "isomorphism_key", "network_key_function",
    "parse_arch", "parse_proxyless_arch", "path_where_point_matters", "point_matters", "register_space",
    "resolve_space",
]
