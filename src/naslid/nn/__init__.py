"""Weight-sharing networks and their ops."""

from naslid.nn.cost import count_flops, count_parameters
from naslid.nn.nb201 import (
    FixedPath,
    NB201Config,
    NB201Network,
    NB201SuperNet,
    ResidualReduction,
    SearchCell,
    extract_network,
)
from naslid.nn.ops import OPS, ReLUConvBN, Zero, create_op
from naslid.nn.state import batchnorm_layers, preserved_state

__all__ = [
    "OPS", "FixedPath", "NB201Config", "NB201Network", "NB201SuperNet", "ReLUConvBN", "ResidualReduction",
    "SearchCell", "Zero", "batchnorm_layers", "count_flops", "count_parameters", "create_op", "extract_network",
    "preserved_state",
]
