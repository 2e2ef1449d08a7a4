"""Weight-sharing networks and their ops."""

from naslid.nn.cost import count_flops, count_parameters
from naslid.nn.mobilenet import MobileNet, MobileNetSpec, format_block, make_divisible, parse_block
from naslid.nn.nb201 import (
    FixedPath,
    NB201Config,
    NB201Network,
    NB201SuperNet,
    ResidualReduction,
    SearchCell,
    extract_network,
)
from naslid.nn.nb201_static import NB201StaticSuperNet, StaticSearchCell, encode_path, encode_paths
from naslid.nn.ops import OPS, ReLUConvBN, Zero, create_op
from naslid.nn.proxyless import ChoiceLayer, ProxylessConfig, ProxylessSuperNet
from naslid.nn.state import batchnorm_layers, preserved_state
from naslid.nn.supernet import (
    SUPERNETS,
    SuperNet,
    build_supernet_for,
    network_config_class,
    register_supernet,
)

register_supernet("nb201", NB201Config, NB201SuperNet)
register_supernet("proxyless", ProxylessConfig, ProxylessSuperNet)

__all__ = [
    "OPS", "FixedPath", "NB201Config", "NB201Network", "NB201StaticSuperNet", "NB201SuperNet", "ReLUConvBN",
    "ResidualReduction", "SUPERNETS", "SearchCell", "SuperNet", "StaticSearchCell", "Zero", "batchnorm_layers",
    "count_flops", "count_parameters", "create_op", "encode_path", "encode_paths", "extract_network", "preserved_state",
    "build_supernet_for", "network_config_class", "register_supernet",
    "ChoiceLayer", "MobileNet", "MobileNetSpec", "ProxylessConfig", "ProxylessSuperNet", "format_block",
    "make_divisible", "parse_block",
]
