"""The NAS-Bench-201 macro network: a weight-sharing supernet and a standalone network per architecture.

Both share one module layout (`stem`, `cells` of 15 cells and 2 reduction blocks, `head`, `classifier`),
so a standalone network's state_dict is a subset of the supernet's and weights transfer by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from naslid.nn.cost import count_flops, count_parameters
from naslid.nn.ops import ReLUConvBN, create_op
from naslid.options import flag, integer
from naslid.spaces import NB201_EDGES, NB201_OPS, NB201Arch, NB201Space

NUM_NODES = 4


@dataclass(frozen=True)
class NB201Config:
    """Shape of the NB201 macro network; defaults are NAS-Bench-201's (C=16, N=5, CIFAR-10)."""

    # C: width of the first stage; doubled at each reduction
    channels: int = field(default=16, metadata=flag(
        "--channels", parse=integer(1), help="supernet width C (NB201 and the paper: 16)"))
    cells_per_stage: int = field(default=5, metadata=flag(
        "--cells", parse=integer(1), help="cells per stage N (NB201 and the paper: 5)"))  # N
    num_classes: int = 10
    in_channels: int = 3
    affine: bool = True  # BN affine in the cell ops (NB201's standalone training uses True)
    track_running_stats: bool = True

    def __post_init__(self) -> None:
        for name in ("channels", "cells_per_stage", "num_classes", "in_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}; expected an integer >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


class ResidualReduction(nn.Module):
    """NB201's reduction block: a stride-2 ResNet basic block with an avgpool + 1x1 conv shortcut."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(in_channels, out_channels, 3, stride=2)
        self.conv_b = ReLUConvBN(out_channels, out_channels, 3, stride=1)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class SearchCell(nn.Module):
    """A cell holding, on each edge, every op in `edge_ops[edge]`; `forward` runs one op per edge."""

    def __init__(self, channels: int, edge_ops: Sequence[Sequence[str]], affine: bool, track: bool) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleDict({op: create_op(op, channels, affine, track) for op in ops if op != "none"})
            for ops in edge_ops
        )

    def forward(self, x: torch.Tensor, arch: NB201Arch) -> torch.Tensor:
        nodes = [x]
        for node in range(1, NUM_NODES):
            total = None
            for edge, (to_node, from_node) in enumerate(NB201_EDGES):
                if to_node != node or arch.ops[edge] == "none":
                    continue  # `none` contributes zero: run nothing for it
                out = self.edges[edge][arch.ops[edge]](nodes[from_node])
                total = out if total is None else total + out
            # a node with only `none` inputs is zero; ops after it still run, as in NAS-Bench-201
            nodes.append(total if total is not None else torch.zeros_like(x))
        return nodes[-1]


class _MacroNetwork(nn.Module):
    """Stem, 3 stages of N cells with 2 reduction blocks between them, BN-ReLU-pool-linear head."""

    def __init__(self, config: NB201Config, edge_ops: Sequence[Sequence[str]]) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.stem = nn.Sequential(
            nn.Conv2d(config.in_channels, c, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(c)
        )
        cells: list[nn.Module] = []
        names: list[str] = []
        for stage, width in enumerate((c, 2 * c, 4 * c)):
            if stage > 0:
                cells.append(ResidualReduction(width // 2, width))
                names.append(f"reduction{stage}")
            for index in range(config.cells_per_stage):
                cells.append(SearchCell(width, edge_ops, config.affine, config.track_running_stats))
                names.append(f"stage{stage + 1}.cell{index + 1}")
        self.cells = nn.ModuleList(cells)
        self.layer_names: tuple[str, ...] = tuple(names)
        self.head = nn.Sequential(nn.BatchNorm2d(4 * c), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * c, config.num_classes)

    def _features(self, x: torch.Tensor, arch: NB201Arch, keep: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = []
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x, arch) if isinstance(cell, SearchCell) else cell(x)
            if keep:
                features.append(x)
        return x, features

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.head(x)), 1))


class NB201SuperNet(_MacroNetwork):
    """The weight-sharing supernet: every op of `allowed` on every edge of every cell.

    `forward(x, arch)` runs only the ops `arch` names (a single path), so off-path ops get no
    gradient and no BatchNorm update.
    """

    def __init__(
        self,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
        affine: bool = True,
        track_running_stats: bool = True,
        config: NB201Config | None = None,
    ) -> None:
        config = config or NB201Config(channels, cells_per_stage, num_classes, in_channels, affine,
                                       track_running_stats)
        super().__init__(config, [NB201_OPS] * len(NB201_EDGES))

    def forward(self, x: torch.Tensor, arch: NB201Arch) -> torch.Tensor:
        x, _ = self._features(x, arch, keep=False)
        return self._head(x)

    def forward_features(self, x: torch.Tensor, arch: NB201Arch) -> list[torch.Tensor]:
        """The 17 per-layer outputs (15 cells and 2 reduction blocks) of `arch`, in depth order."""
        return self._features(x, arch, keep=True)[1]

    def path(self, arch: NB201Arch) -> FixedPath:
        """A module whose `forward(x)` runs this supernet on `arch` (shares the parameters)."""
        return FixedPath(self, arch)

    # the supernet contract (naslid.nn.supernet.SuperNet)
    space = NB201Space()

    def probed_layers(self) -> list[nn.Module]:
        """The 17 blocks (15 cells, 2 reduction blocks) whose outputs make NAS-LID's NB201 profile."""
        return list(self.cells)

    def choice_parameters(self, point: int) -> list[str]:
        """The op weights of edge `point` in every cell."""
        own = f".edges.{point}."
        return [name for name, _ in self.named_parameters() if own in name]

    def body_parameters(self) -> list[str]:
        """Every parameter of the cells and reduction blocks (GM-NAS's `get_split_gradients` scope)."""
        return [name for name, _ in self.named_parameters() if name.startswith("cells.")]

    def gradient_reference_parameters(self) -> list[str]:
        """GM-NAS's scope on NB201 (`WS-GM/nasbench201/search_model_ws.py`, `get_split_gradients`): the cells."""
        return self.body_parameters()

    def extract(self, arch: NB201Arch) -> NB201Network:
        return extract_network(self, arch)

    def arch_costs(self, arch: NB201Arch, resolution: int) -> dict[str, float]:
        """MFLOPs (multiply-accumulates, NAS-Bench-201's convention) and millions of parameters of `arch` at
        `resolution` x `resolution` inputs, as counted on its standalone network (`standalone_costs`).

        Both are sums over the edges (an edge's op costs the same whatever the other edges hold), so they are read
        from a table of 25 standalone networks per resolution: the all-`none` cell, and each edge with each op.
        """
        base, table = self._cost_table(resolution)
        flops, params = base
        for edge, op in enumerate(arch.ops):
            flops, params = flops + table[edge][op][0], params + table[edge][op][1]
        return {"mflops": flops / 1e6, "params_m": params / 1e6}

    def standalone_costs(self, arch: NB201Arch, resolution: int) -> tuple[int, int]:
        """(multiply-accumulates, parameters) counted on `arch`'s standalone network at `resolution`."""
        network = NB201Network(arch, config=self.config)
        return count_flops(network, (self.config.in_channels, resolution, resolution)), count_parameters(network)

    def _cost_table(self, resolution: int) -> tuple[tuple[int, int], list[dict[str, tuple[int, int]]]]:
        tables = self.__dict__.setdefault("_cost_tables", {})
        if resolution not in tables:
            empty = ("none",) * len(NB201_EDGES)
            base = self.standalone_costs(NB201Arch(empty), resolution)
            table = []
            for edge in range(len(NB201_EDGES)):
                row = {}
                for op in NB201_OPS:
                    flops, params = self.standalone_costs(NB201Arch(empty[:edge] + (op,) + empty[edge + 1:]),
                                                          resolution)
                    row[op] = (flops - base[0], params - base[1])
                table.append(row)
            tables[resolution] = (base, table)
        return tables[resolution]


class FixedPath(nn.Module):
    """A view of a supernet with the architecture fixed, for tools that call `model(x)`."""

    def __init__(self, supernet: NB201SuperNet, arch: NB201Arch) -> None:
        super().__init__()
        self.supernet = supernet
        self.arch = arch

    @property
    def cells(self) -> nn.ModuleList:
        return self.supernet.cells

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.supernet(x, self.arch)


class NB201Network(_MacroNetwork):
    """A standalone network for one architecture, with only that architecture's ops."""

    def __init__(
        self,
        arch: NB201Arch,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
        affine: bool = True,
        track_running_stats: bool = True,
        config: NB201Config | None = None,
    ) -> None:
        config = config or NB201Config(channels, cells_per_stage, num_classes, in_channels, affine,
                                       track_running_stats)
        super().__init__(config, [(op,) for op in arch.ops])
        self.arch = arch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, _ = self._features(x, self.arch, keep=False)
        return self._head(x)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The 17 per-layer outputs, in depth order."""
        return self._features(x, self.arch, keep=True)[1]


def extract_network(supernet: NB201SuperNet, arch: NB201Arch) -> NB201Network:
    """A standalone network for `arch` holding copies of the supernet's weights for its ops."""
    network = NB201Network(arch, config=supernet.config)
    source = supernet.state_dict()
    network.load_state_dict({name: source[name].clone() for name in network.state_dict()})
    return network.to(next(supernet.parameters()).device)
