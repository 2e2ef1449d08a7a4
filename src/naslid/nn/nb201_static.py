"""The NB201 supernet with a fixed kernel sequence: the sampled path is data on the device, not control flow.

Each search cell keeps, per edge, both convolutions' weights stacked over the six edges; the path picks
one per edge with a mask (the 1x1 kernel runs as the centre of a 3x3 kernel), and skip, pool and none
are mixed by a one-hot mask. Every step therefore launches the same kernels whatever the path, so one
captured CUDA graph serves all paths. Only the selected conv's BN statistics change in a step.

`NB201SuperNet` stays the format of checkpoints, LID profiling, proxy evaluation and extraction:
`load_supernet_state_dict` and `supernet_state_dict` convert from and to its layout, name by name.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from naslid.nn.nb201 import NB201Config, ResidualReduction
from naslid.spaces import NB201_EDGES, NB201_OPS, NB201Arch

# Stacked rows are the edges grouped by their input node, so each input node's convs are one slice.
EDGE_ROWS: tuple[int, ...] = tuple(sorted(range(len(NB201_EDGES)), key=lambda e: (NB201_EDGES[e][1], e)))
_SOURCE_SLICES: tuple[tuple[int, int, int], ...] = tuple(
    (source, sum(NB201_EDGES[e][1] < source for e in EDGE_ROWS), sum(NB201_EDGES[e][1] <= source for e in EDGE_ROWS))
    for source in range(3)
)  # (input node, first row, end row) of the edges leaving each node that has outgoing edges
_CONV_OPS = ("nor_conv_1x1", "nor_conv_3x3")  # the parametric ops; their index is the "kind" of a BN row
_OP_INDEX = {op: index for index, op in enumerate(NB201_OPS)}
NUM_EDGES = len(NB201_EDGES)
PATH_SIZE = NUM_EDGES * len(NB201_OPS) + NUM_EDGES + 1  # one-hot ops, live edges, connected


class PathMasks(NamedTuple):
    """Views of an encoded path, per stacked row (edges grouped by input node)."""

    select: torch.Tensor  # (6, 5): one-hot op per row, in NB201_OPS order
    live: torch.Tensor  # (6,): 1 where the row's op output reaches the cell output
    connected: torch.Tensor  # (): 1 where the cell output depends on the cell input


def arch_row(arch: NB201Arch) -> int:
    """Row of `arch` in `encode_all_paths()`: its op indices (NB201_OPS order) read as a base-5 number."""
    row = 0
    for op in arch.ops:
        row = row * len(NB201_OPS) + _OP_INDEX[op]
    return row


def encode_paths(op_indices: torch.Tensor) -> torch.Tensor:
    """Encode paths given as (..., 6) op indices (official edge order) into (..., PATH_SIZE) float vectors.

    The vector holds the one-hot op of each stacked row, which rows reach the cell output through ops
    other than `none` (their parameters get a gradient) and whether the cell output depends on its input
    (whether the layers before the last cell get one): what `NB201SuperNet`'s autograd graph implies.
    """
    indices = op_indices[..., list(EDGE_ROWS)]
    select = F.one_hot(indices, len(NB201_OPS)).float()
    active = indices != _OP_INDEX["none"]
    edge_active = {EDGE_ROWS[row]: active[..., row] for row in range(NUM_EDGES)}
    node_live = {3: torch.ones_like(active[..., 0])}
    for node in (2, 1, 0):  # a node is live when an op other than none leads from it to a live node
        feeds = [edge_active[e] & node_live[to] for e, (to, source) in enumerate(NB201_EDGES) if source == node]
        node_live[node] = torch.stack(feeds, -1).any(-1)
    live = torch.stack([edge_active[e] & node_live[NB201_EDGES[e][0]] for e in EDGE_ROWS], -1)
    return torch.cat([select.flatten(-2), live.float(), node_live[0].float().unsqueeze(-1)], -1)


def encode_path(arch: NB201Arch, device: torch.device | str = "cpu") -> torch.Tensor:
    """The PATH_SIZE vector of one architecture."""
    return encode_paths(torch.tensor([_OP_INDEX[op] for op in arch.ops], device=device))


def encode_all_paths(device: torch.device | str = "cpu") -> torch.Tensor:
    """Encodings of all 15,625 NB201 architectures, row `arch_row(arch)` for `arch` (2.3 MB)."""
    grid = torch.tensor(list(itertools.product(range(len(NB201_OPS)), repeat=NUM_EDGES)), device=device)
    return encode_paths(grid)


def path_masks(path: torch.Tensor) -> PathMasks:
    """Split an encoded path into its parts (views, no copy)."""
    cut = NUM_EDGES * len(NB201_OPS)
    return PathMasks(path[:cut].view(NUM_EDGES, len(NB201_OPS)), path[cut:cut + NUM_EDGES], path[-1])


class StaticSearchCell(nn.Module):
    """A search cell whose convs are stacked per edge and picked by a mask; all ops of all edges run."""

    def __init__(self, channels: int, affine: bool = True) -> None:
        super().__init__()
        self.channels = channels
        shape = (NUM_EDGES, channels, channels)
        self.conv1x1 = nn.Parameter(torch.empty(*shape, 1, 1))
        self.conv3x3 = nn.Parameter(torch.empty(*shape, 3, 3))
        if affine:
            self.bn_weight = nn.Parameter(torch.ones(len(_CONV_OPS), NUM_EDGES, channels))
            self.bn_bias = nn.Parameter(torch.zeros(len(_CONV_OPS), NUM_EDGES, channels))
        else:
            self.register_parameter("bn_weight", None)
            self.register_parameter("bn_bias", None)
        self.register_buffer("bn_mean", torch.zeros(len(_CONV_OPS), NUM_EDGES, channels))
        self.register_buffer("bn_var", torch.ones(len(_CONV_OPS), NUM_EDGES, channels))
        self.register_buffer("bn_count", torch.zeros(len(_CONV_OPS), NUM_EDGES, dtype=torch.long))
        self.bn_momentum = 0.1  # nn.BatchNorm2d's defaults, as in ReLUConvBN
        self.bn_eps = 1e-5
        for weight in (self.conv1x1, self.conv3x3):
            for row in weight:
                nn.init.kaiming_uniform_(row, a=5**0.5)  # nn.Conv2d's initialisation

    def forward(self, x: torch.Tensor, masks: PathMasks) -> torch.Tensor:
        select = masks.select.to(x.dtype).view(1, NUM_EDGES, len(NB201_OPS), 1, 1, 1)  # broadcasts over images
        use3x3 = masks.select[:, _OP_INDEX["nor_conv_3x3"]] > 0
        conv_gate = select[:, :, _OP_INDEX["nor_conv_1x1"]] + select[:, :, _OP_INDEX["nor_conv_3x3"]]
        skip_gate, pool_gate = select[:, :, _OP_INDEX["skip_connect"]], select[:, :, _OP_INDEX["avg_pool_3x3"]]
        kernels = torch.where(use3x3.view(-1, 1, 1, 1, 1), self.conv3x3, F.pad(self.conv1x1, (1, 1, 1, 1)))
        bn_weight = bn_bias = None
        if self.bn_weight is not None:
            bn_weight = torch.where(use3x3.view(-1, 1), self.bn_weight[1], self.bn_weight[0])
            bn_bias = torch.where(use3x3.view(-1, 1), self.bn_bias[1], self.bn_bias[0])
        mean = torch.where(use3x3.view(-1, 1), self.bn_mean[1], self.bn_mean[0])
        var = torch.where(use3x3.view(-1, 1), self.bn_var[1], self.bn_var[0])  # updated in place by BN below
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for source, start, end in _SOURCE_SLICES:
            inputs = nodes[source]
            assert inputs is not None, "nodes are complete before they are read (edges sorted by input node)"
            rows = slice(start, end)
            weight = kernels[rows].flatten(0, 1)
            if not inputs.is_contiguous() and inputs.is_contiguous(memory_format=torch.channels_last):
                weight = weight.contiguous(memory_format=torch.channels_last)  # match the input's layout
            out = F.conv2d(F.relu(inputs), weight, padding=1)
            out = F.batch_norm(out, mean[rows].view(-1), var[rows].view(-1),
                               None if bn_weight is None else bn_weight[rows].reshape(-1),
                               None if bn_bias is None else bn_bias[rows].reshape(-1),
                               self.training, self.bn_momentum, self.bn_eps)
            pooled = F.avg_pool2d(inputs, 3, stride=1, padding=1, count_include_pad=False)
            edges = (out.unflatten(1, (end - start, self.channels)) * conv_gate[:, rows]
                     + inputs.unsqueeze(1) * skip_gate[:, rows] + pooled.unsqueeze(1) * pool_gate[:, rows])
            for offset, row in enumerate(range(start, end)):
                target = NB201_EDGES[EDGE_ROWS[row]][0]
                edge = edges[:, offset]
                nodes[target] = edge if nodes[target] is None else nodes[target] + edge
        if self.training:
            self._update_statistics(masks, mean, var)
        return nodes[3]

    @torch.no_grad()
    def _update_statistics(self, masks: PathMasks, mean: torch.Tensor, var: torch.Tensor) -> None:
        """Keep the batch-updated statistics in the selected conv's rows only; count its batches."""
        for kind, op in enumerate(_CONV_OPS):
            chosen = masks.select[:, _OP_INDEX[op]] > 0
            self.bn_mean[kind].copy_(torch.where(chosen.view(-1, 1), mean, self.bn_mean[kind]))
            self.bn_var[kind].copy_(torch.where(chosen.view(-1, 1), var, self.bn_var[kind]))
            self.bn_count[kind].add_(chosen.long())

    def update_masks(self, gate: torch.Tensor) -> list[torch.Tensor]:
        """Per parameter, where a step may change it, from `gate` (2, 6): rows whose conv is on the path."""
        masks = [gate[0].view(-1, 1, 1, 1, 1), gate[1].view(-1, 1, 1, 1, 1)]
        if self.bn_weight is not None:
            masks += [gate.view(*gate.shape, 1), gate.view(*gate.shape, 1)]
        return masks

    def module_slots(self) -> dict[str, tuple[str, tuple[int, ...]]]:
        """`SearchCell` state names -> (this cell's tensor, index): the layout conversion table."""
        slots = {}
        for row, edge in enumerate(EDGE_ROWS):
            for kind, op in enumerate(_CONV_OPS):
                prefix = f"edges.{edge}.{op}"
                slots[f"{prefix}.1.weight"] = ("conv1x1" if kind == 0 else "conv3x3", (row,))
                names = (("weight", "bn_weight"), ("bias", "bn_bias")) if self.bn_weight is not None else ()
                names += (("running_mean", "bn_mean"), ("running_var", "bn_var"),
                          ("num_batches_tracked", "bn_count"))
                for module_name, own_name in names:
                    slots[f"{prefix}.2.{module_name}"] = (own_name, (kind, row))
        return slots


class NB201StaticSuperNet(nn.Module):
    """`NB201SuperNet` with a path-independent kernel sequence; `forward(x, path)` takes an encoded path.

    Train it through `naslid.train.FixedKernelStep`; load and store weights in `NB201SuperNet`'s layout.
    """

    def __init__(self, config: NB201Config | None = None) -> None:
        super().__init__()
        config = config or NB201Config()
        if not config.track_running_stats:
            raise ValueError("NB201StaticSuperNet needs track_running_stats=True (batch statistics only is "
                             "not supported); use NB201SuperNet")
        self.config = config
        c = config.channels
        self.stem = nn.Sequential(
            nn.Conv2d(config.in_channels, c, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(c)
        )
        cells: list[nn.Module] = []
        for stage, width in enumerate((c, 2 * c, 4 * c)):
            if stage > 0:
                cells.append(ResidualReduction(width // 2, width))
            cells += [StaticSearchCell(width, config.affine) for _ in range(config.cells_per_stage)]
        self.cells = nn.ModuleList(cells)
        self.head = nn.Sequential(nn.BatchNorm2d(4 * c), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * c, config.num_classes)

    def forward(self, x: torch.Tensor, path: torch.Tensor) -> torch.Tensor:
        masks = path_masks(path)
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x, masks) if isinstance(cell, StaticSearchCell) else cell(x)
        return self.classifier(torch.flatten(self.pool(self.head(x)), 1))

    def update_masks(self, path: torch.Tensor) -> list[torch.Tensor]:
        """Per parameter (in `parameters()` order), a bool mask broadcastable to it: True where a step on
        `path` may change it, i.e. where `NB201SuperNet` would give that weight a gradient."""
        masks = path_masks(path)
        conv = torch.stack([masks.select[:, _OP_INDEX[op]] for op in _CONV_OPS]) * masks.live > 0
        connected = masks.connected > 0
        before_last = conv & connected  # before the last cell, a weight reaches the loss only through it
        out = [connected for _ in self.stem.parameters()]
        for index, cell in enumerate(self.cells):
            last = index == len(self.cells) - 1
            if isinstance(cell, StaticSearchCell):
                out += cell.update_masks(conv if last else before_last)
            else:
                out += [connected for _ in cell.parameters()]
        always = torch.ones_like(connected)
        out += [always for _ in itertools.chain(self.head.parameters(), self.classifier.parameters())]
        assert len(out) == len(list(self.parameters())), "one mask per parameter"
        return out

    def module_slots(self) -> dict[str, tuple[str, tuple[int, ...]]]:
        """`NB201SuperNet` state names -> (name in this network's state, index into that tensor)."""
        slots = {}
        for name, _ in itertools.chain(self.named_parameters(), self.named_buffers()):
            if not name.startswith("cells.") or not isinstance(self.cells[int(name.split(".")[1])],
                                                                  StaticSearchCell):
                slots[name] = (name, ())
        for index, cell in enumerate(self.cells):
            if isinstance(cell, StaticSearchCell):
                for module_name, (own, where) in cell.module_slots().items():
                    slots[f"cells.{index}.{module_name}"] = (f"cells.{index}.{own}", where)
        return slots

    def supernet_state_dict(self) -> dict[str, torch.Tensor]:
        """This network's state in `NB201SuperNet`'s layout (copies)."""
        own = self.state_dict()
        return {name: own[source][where].clone() for name, (source, where) in self.module_slots().items()}

    @torch.no_grad()
    def load_supernet_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Copy a state in `NB201SuperNet`'s layout into this network, in place (strict about the names)."""
        slots = self.module_slots()
        missing, unexpected = sorted(set(slots) - set(state)), sorted(set(state) - set(slots))
        if missing or unexpected:
            raise KeyError(f"not an NB201SuperNet state of this shape: missing {missing[:5]}, "
                           f"unexpected {unexpected[:5]}")
        own = self.state_dict(keep_vars=True)
        for name, (target, where) in slots.items():
            own[target][where].copy_(state[name])
