"""Weight-sharing networks and their ops."""

from naslid.nn.cost import count_flops, count_parameters
from naslid.nn.init import INIT_SCHEMES, initialise_weights
from naslid.nn.latency import (
    LATENCY_TABLE_SCHEMA,
    build_latency_table,
    check_latency_table,
    latency_function,
    latency_keys,
    load_latency_table,
    measure_latency,
    predict_latency,
    save_latency_table,
)
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
from naslid.nn.ofa import ElasticBatchNorm2d, ElasticMBConv, OFAConfig, OFASuperNet
from naslid.nn.ops import OPS, ReLUConvBN, Zero, create_op
from naslid.nn.proxyless import ChoiceLayer, ProxylessConfig, ProxylessSuperNet
from naslid.nn.state import batchnorm_layers, preserved_state
from naslid.nn.supernet import (
    SUPERNETS,
    SuperNet,
    build_supernet_for,
    check_supernet,
    network_config_class,
    register_supernet,
)

# the built-ins skip the checking forward at import: tests/test_space_contract.py checks them at their small sizes
register_supernet("nb201", NB201Config, NB201SuperNet, check=False)
register_supernet("proxyless", ProxylessConfig, ProxylessSuperNet, check=False)
register_supernet("ofa", OFAConfig, OFASuperNet, check=False)

__all__ = [
    "INIT_SCHEMES", "LATENCY_TABLE_SCHEMA", "build_latency_table", "check_latency_table", "latency_function",
    "latency_keys", "load_latency_table", "measure_latency", "predict_latency", "save_latency_table",
    "OPS", "ChoiceLayer", "ElasticBatchNorm2d", "ElasticMBConv", "FixedPath", "MobileNet",
    "MobileNetSpec", "NB201Config", "NB201Network", "NB201StaticSuperNet", "NB201SuperNet", "OFAConfig",
    "OFASuperNet", "ProxylessConfig", "ProxylessSuperNet", "ReLUConvBN", "ResidualReduction", "SUPERNETS",
    "SearchCell", "StaticSearchCell", "SuperNet", "Zero", "batchnorm_layers", "build_supernet_for", "check_supernet",
    "count_flops", "count_parameters", "create_op", "encode_path", "encode_paths", "extract_network", "format_block",
    "initialise_weights", "make_divisible", "network_config_class", "parse_block", "preserved_state",
    "register_supernet",
]
