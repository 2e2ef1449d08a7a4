"""Split criteria: choice-by-choice similarity matrices for one choice point of a (sub-)supernet.

A choice point is an NB201 edge, a ProxylessNAS layer or an OFA block; the supernet says which layers are
probed and which parameters are shared (`naslid.nn.supernet.SuperNet`), so nothing here knows the space.

- ``lid`` (NAS-LID): the layer-wise LID profile of each candidate (NB201: 17 values, one per cell and
  reduction block; MobileNet spaces: one per block), with the other points on one shared random path per
  batch (a paired comparison); each layer's LID is computed inside its forward hook, so no more than one
  layer's features are alive at a time. Forward passes only.
- ``gradient`` (GM-NAS): per candidate, the gradient of the shared weights after a forward and backward on
  the same batch and path; cosine similarity. Shared weights are, by default (`gradient_parameters=
  "reference"`), those GM-NAS's `get_split_gradients` takes in that space (the supernet's
  `gradient_reference_parameters`): NB201 every parameter of the cells (the search cells' other edges and the
  reduction blocks), not the stem or the head; ProxylessNAS and OFA the whole network, stem and head included.
  Never the candidate point's own parameters. `"cells"` (or its synonym `"body"`) narrows to the searchable
  body (`body_parameters`), `"all"` takes every parameter.
- ``random``: a random symmetric matrix, as a control.

How batches and paths are drawn is an option (`SplitConfig.measurement_batches`, `measurement_paths`): by
default one set of batches serves every point, with one random path per batch shared by all points; the NAS-LID
authors' code draws fresh batches and a fresh path for every (point, batch).

Measuring never changes the model: BN buffers and train/eval modes are restored, gradients are taken with
`torch.autograd.grad` (no `.grad` is written) and no optimizer is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from naslid.hooks import capture_outputs
from naslid.lid import MLE
from naslid.nn.state import preserved_state
from naslid.options import flag, integer, on_off
from naslid.partition.mincut import EDGE_SCORES, get_edge_score
from naslid.registry import register
from naslid.spaces import ChoiceArch, SubSpace, path_where_point_matters

Batch = tuple[torch.Tensor, torch.Tensor]

SIMILARITIES = ("euclidean", "pearson", "cosine")
BN_MODES = ("batch", "eval")
GRADIENT_PARAMETERS = ("reference", "cells", "body", "all")
MEASUREMENT_BATCHES = ("shared", "per-point")
MEASUREMENT_PATHS = ("per-batch", "per-point")

BatchesForPoint = Callable[[int], Sequence[Batch]]


@dataclass
class SplitConfig:
    """How a split decision is measured (n, k and the batch count as in the NAS-LID authors' code)."""

    criterion: str = "lid"  # "lid", "gradient" (GM-NAS) or "random"
    similarity: str = field(default="euclidean", metadata=flag(
        "--similarity", choices=SIMILARITIES, partition=True,
        help="LID profile similarity"))  # for "lid": euclidean 1/(1+|a-b|) (the paper's best), "pearson" or "cosine"
    # which edge to split: see partition.mincut (intra, max-cross, min-cross, gap)
    edge_score: str = field(default="intra", metadata=flag(
        "--edge-score", choices=EDGE_SCORES, partition=True,
        help="which point a split takes: intra (the paper's text), max-cross (the authors' released code), "
        "min-cross (GM-NAS's rule), gap (intra - cross) or separation-z (gap over its bootstrap spread across the "
        "measurement batches); gm-nas always uses min-cross; naslid.partition.EDGE_SCORES defines each"))
    # similarity averaged over this many batches (NAS-LID authors: 50; GM-NAS: 100 repeats)
    batches: int = field(default=50, metadata=flag(
        "--split-batches", parse=integer(1), partition=True,
        help="batches the split similarity is averaged over (the paper: 50)"))
    batch_size: int = field(default=128, metadata=flag(
        "--lid-batch-size", parse=integer(1), partition=True,
        help="n of each LID estimate (the paper: 128)"))  # n of each LID estimate (the authors' code: 128)
    k: int = field(default=20, metadata=flag(
        "-k", "--k", parse=integer(1), partition=True,
        help="neighbours of the LID MLE (the paper: 20)"))  # neighbours of the MLE (NAS-LID: 20)
    # "batch": BN on batch statistics as in training, buffers restored; "eval": running
    bn_mode: str = field(default="batch", metadata=flag(
        "--bn-mode", choices=BN_MODES, partition=True,
        help="BN statistics while measuring splits"))
    seed: int = 0  # draws the shared random paths
    # "gradient" criterion's scope: "reference" (GM-NAS's code in each space: NB201 the cells, MobileNet spaces the
    # whole network), "cells"/"body" (the searchable body only) or "all" (stem and head too)
    gradient_parameters: str = "reference"
    # "gradient" criterion: batches (GM-NAS's repeats: 100) instead of `batches`
    gradient_batches: int = field(default=100, metadata=flag(
        "--gm-repeats", parse=integer(1), partition=True,
        help="batches GM-NAS's gradient similarity is averaged over (GM-NAS: 100)"))
    # "shared": one set of batches serves every choice point (naslid); "per-point": each point is measured on its
    # own, freshly drawn batches (the NAS-LID authors draw new batches for every edge); the caller then passes
    # `edge_similarities` a callable batches_for(point)
    measurement_batches: str = field(default="shared", metadata=flag(
        "--lid-batches", choices=MEASUREMENT_BATCHES, partition=True,
        help="split measurement batches: shared (one set for every edge) or per-point (fresh for each edge: the "
        "NAS-LID release)"))
    # whether the run draws those batches augmented (NAS-LID authors: True)
    measurement_augment: bool = field(default=False, metadata=flag(
        "--lid-augment", parse=on_off, metavar="{on,off}",
        partition=True,
        help="draw the split measurement batches with the training augmentation (the NAS-LID release: on)"))
    # "per-batch": one random path per batch shared by every point, a paired comparison (naslid; with per-point
    # batches, path i serves batch i of every point); "per-point": a fresh random path for every (point, batch)
    # (the NAS-LID authors' code)
    measurement_paths: str = field(default="per-batch", metadata=flag(
        "--lid-paths", choices=MEASUREMENT_PATHS, partition=True,
        help="random paths while measuring: per-batch (one shared by every edge: paired) or per-point (fresh per "
        "edge and batch: the NAS-LID release)"))
    # bootstrap resamples of the measurement batches behind every split decision: how often each point would be
    # chosen and its grouping recur (naslid.partition.reliability); 0: no bootstrap (then no separation-z)
    reliability_resamples: int = field(default=200, metadata=flag(
        "--reliability-resamples", parse=integer(0, 100_000), partition=True,
        help="bootstrap resamples of the measurement batches behind each split (how often each point would be "
        "chosen and its grouping recur; default 200, 0: off)"))

    def __post_init__(self) -> None:
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion={self.criterion!r}; expected one of {sorted(CRITERIA)}")
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity={self.similarity!r}; expected one of {list(SIMILARITIES)}")
        get_edge_score(self.edge_score)
        if self.bn_mode not in BN_MODES:
            raise ValueError(f"bn_mode={self.bn_mode!r}; expected one of {list(BN_MODES)}")
        if self.gradient_parameters not in GRADIENT_PARAMETERS:
            raise ValueError(f"gradient_parameters={self.gradient_parameters!r}; expected one of "
                             f"{list(GRADIENT_PARAMETERS)}")
        if self.measurement_batches not in MEASUREMENT_BATCHES:
            raise ValueError(f"measurement_batches={self.measurement_batches!r}; expected one of "
                             f"{list(MEASUREMENT_BATCHES)}")
        if not isinstance(self.measurement_augment, bool):
            raise ValueError(f"measurement_augment={self.measurement_augment!r}; expected True or False")
        if self.measurement_paths not in MEASUREMENT_PATHS:
            raise ValueError(f"measurement_paths={self.measurement_paths!r}; expected one of "
                             f"{list(MEASUREMENT_PATHS)}")
        if self.edge_score == "separation-z" and not CRITERIA[self.criterion].measures:
            raise ValueError(f"edge_score='separation-z' needs measured batches; the {self.criterion!r} criterion "
                             "has none")
        if self.edge_score == "separation-z" and self.reliability_resamples < 2:
            raise ValueError("edge_score='separation-z' divides by the bootstrap spread: reliability_resamples must "
                             f"be >= 2, got {self.reliability_resamples!r}")
        for name, low in (("batches", 1), ("gradient_batches", 1), ("batch_size", 3), ("k", 2),
                          ("reliability_resamples", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}={value!r}; expected an integer >= {low}")
        if self.k < 2 or self.k >= self.batch_size:
            raise ValueError(f"k={self.k}; expected 2 <= k < batch_size ({self.batch_size})")

    @property
    def measured_batches(self) -> int:
        """Batches the similarity is averaged over for this criterion."""
        return getattr(self, CRITERIA[self.criterion].batches_setting)

    def to_dict(self) -> dict:
        return asdict(self)


def similarity_matrix(vectors: torch.Tensor, kind: str) -> torch.Tensor:
    """Pairwise similarity of the rows of `vectors` (ops x features)."""
    vectors = vectors.double()
    if kind == "euclidean":
        return 1.0 / (1.0 + torch.cdist(vectors, vectors))
    if kind in ("cosine", "pearson"):
        if kind == "pearson":
            vectors = vectors - vectors.mean(dim=1, keepdim=True)
        unit = F.normalize(vectors, dim=1)
        # a zero vector (e.g. no gradient reaches the compared weights on this path) has no direction: it is
        # unlike every other vector (0), and like itself (1) by definition
        return (unit @ unit.T).fill_diagonal_(1.0)
    raise ValueError(f"similarity={kind!r}; expected one of {list(SIMILARITIES)}")


@torch.no_grad()
def lid_profile(net: nn.Module, arch: ChoiceArch, images: torch.Tensor, k: int) -> torch.Tensor:
    """The per-layer LID (one value per layer of `net.probed_layers()`) of path `arch` on `images`, on their device.

    Each layer's output is reduced to its LID (the MLE's batch mean) as it is produced; the values stay on the
    device, and a single check at the end (one scalar copy to the host) raises ValueError if any is not finite
    (non-finite features, or squared norms beyond the float range).
    """
    estimator = MLE(k=k)
    layers = list(enumerate(probed_layers(net)))
    values = torch.stack([lid for _, lid in capture_outputs(layers, lambda: net(images, arch), estimator.estimate)])
    if not bool(torch.isfinite(values).all()):
        bad = [index for index, finite in enumerate(torch.isfinite(values).tolist()) if not finite]
        raise ValueError(f"the LID of probed layers {bad} of {arch} is not finite: their outputs hold NaN or inf, "
                         "or their squared norms overflow the float range")
    return values


def probed_layers(net: nn.Module) -> list[nn.Module]:
    """The layers whose outputs make `net`'s LID profile: `probed_layers()` of a supernet, else its `cells`."""
    if hasattr(net, "probed_layers"):
        return list(net.probed_layers())
    if hasattr(net, "cells"):
        return list(net.cells)
    raise ValueError(f"{type(net).__name__} says neither which layers to probe (probed_layers()) nor has cells")


def _measured_per_batch(subspace: SubSpace, edges: Sequence[int], batches: Sequence[Batch] | BatchesForPoint,
                        cfg: SplitConfig, rng: np.random.Generator,
                        measure: Callable[[int, ChoiceArch, torch.Tensor, torch.Tensor], torch.Tensor],
                        progress: bool = False) -> dict[int, np.ndarray]:
    """Each edge's `measure(edge, path, images, labels)` matrix on each of its batches (batches x ops x ops), on the
    paths `cfg` says. With shared batches and per-batch paths, batch i of every edge saw the same images and path."""
    samples: dict[int, list[torch.Tensor]] = {edge: [] for edge in edges}
    if not callable(batches) and cfg.measurement_paths == "per-batch":
        iterator: Iterable[Batch] = batches
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(batches, desc=f"split ({cfg.criterion}, {len(edges)} edges)", leave=False,
                            dynamic_ncols=True)
        for images, labels in iterator:
            path = subspace.sample(rng)  # one shared path per batch: every op of every edge is compared on it
            for edge in edges:
                base = path_where_point_matters(subspace, path, edge, rng)
                samples[edge].append(measure(edge, base, images, labels).cpu())
        return {edge: _stacked(matrices) for edge, matrices in samples.items()}
    # edges outer, batches inner: an edge's own batches are drawn (and held) only while it is measured
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=0, desc=f"split ({cfg.criterion}, {len(edges)} edges, per point)", leave=False,
                   dynamic_ncols=True)
    shared_paths: list[ChoiceArch] = []  # per-batch paths: path i serves batch i of every edge
    stacked = {}
    for edge in edges:
        point_batches = batches(edge) if callable(batches) else batches
        if not point_batches:
            raise ValueError(f"no batch given to measure point {subspace.point_name(edge)} on")
        if bar is not None:
            bar.total += len(point_batches)
            bar.refresh()
        for index, (images, labels) in enumerate(point_batches):
            if cfg.measurement_paths == "per-point":
                path = subspace.sample(rng)
            else:
                while len(shared_paths) <= index:
                    shared_paths.append(subspace.sample(rng))
                path = shared_paths[index]
            base = path_where_point_matters(subspace, path, edge, rng)
            samples[edge].append(measure(edge, base, images, labels).cpu())
            if bar is not None:
                bar.update(1)
        stacked[edge] = _stacked(samples.pop(edge))
        del point_batches, images, labels  # let this edge's batches go before the next edge draws its own
    if bar is not None:
        bar.close()
    return stacked


def _stacked(matrices: Sequence[torch.Tensor]) -> np.ndarray:
    return torch.stack([matrix.double() for matrix in matrices]).numpy()


def mean_over_batches(samples: np.ndarray) -> np.ndarray:
    """The mean of `samples` (batches x ops x ops) over the batches, as `edge_similarities` averages (bit for bit):
    summed batch by batch in float64."""
    array = np.asarray(samples, dtype=np.float64)
    if array.ndim != 3 or array.shape[0] < 1:
        raise ValueError(f"samples must be an array (batches x ops x ops) of at least one batch; got shape "
                         f"{array.shape}")
    stack = torch.from_numpy(array)
    total = torch.zeros(stack.shape[1:], dtype=torch.float64)
    for matrix in stack:
        total += matrix
    return (total / len(stack)).numpy()


def _lid_similarities(net, subspace, edges, batches, cfg, rng, progress=False) -> dict[int, np.ndarray]:
    def measure(edge, base, images, labels):
        profiles = torch.stack([lid_profile(net, base.replace(edge, op), images, cfg.k)
                                for op in subspace.allowed[edge]])
        return similarity_matrix(profiles, cfg.similarity)

    return _measured_per_batch(subspace, edges, batches, cfg, rng, measure, progress)


def gradient_scope(net: nn.Module, gradient_parameters: str) -> list[str]:
    """Names of the parameters whose gradients the "gradient" criterion compares (`SplitConfig.gradient_parameters`;
    the candidate point's own parameters are taken out per point)."""
    if gradient_parameters == "all":
        return [name for name, _ in net.named_parameters()]
    if gradient_parameters == "reference":
        reference = getattr(net, "gradient_reference_parameters", None)
        return reference() if reference is not None else net.body_parameters()
    if gradient_parameters in ("cells", "body"):
        return net.body_parameters()
    raise ValueError(f"gradient_parameters={gradient_parameters!r}; expected one of {list(GRADIENT_PARAMETERS)}")


def _gradient_similarities(net, subspace, edges, batches, cfg, rng, progress=False) -> dict[int, np.ndarray]:
    parameters = dict(net.named_parameters())
    scope = gradient_scope(net, cfg.gradient_parameters)
    shared_by_edge = {}
    for edge in edges:
        own = set(net.choice_parameters(edge))  # the candidate point's own weights
        shared_by_edge[edge] = [parameters[name] for name in scope if name not in own]
        if not shared_by_edge[edge]:
            raise ValueError(f"no shared parameter to compare gradients on at point {subspace.point_name(edge)}")

    def measure(edge, base, images, labels):
        shared = shared_by_edge[edge]
        gradients = []
        for op in subspace.allowed[edge]:
            loss = F.cross_entropy(net(images, base.replace(edge, op)), labels)
            grads = torch.autograd.grad(loss, shared, allow_unused=True)
            gradients.append(torch.cat([
                (g if g is not None else torch.zeros_like(p)).reshape(-1).float()
                for g, p in zip(grads, shared, strict=True)
            ]))
            del loss, grads
        return similarity_matrix(torch.stack(gradients), "cosine")

    return _measured_per_batch(subspace, edges, batches, cfg, rng, measure, progress)


def _random_similarities(net, subspace, edges, batches, cfg, rng, progress=False) -> dict[int, np.ndarray]:
    matrices = {}
    for edge in edges:
        size = len(subspace.allowed[edge])
        upper = np.triu(rng.random((size, size)), 1)
        matrices[edge] = (upper + upper.T + np.eye(size))[None]  # no batches: one sample
    return matrices


@dataclass(frozen=True)
class SplitCriterion:
    """How a split decision compares a point's candidate ops: `similarities(net, subspace, points, batches, cfg,
    rng, progress)` gives each point's (samples x ops x ops) similarity matrices."""

    name: str
    definition: str  # what it compares, and whose rule it is
    similarities: Callable[..., dict[int, np.ndarray]]
    batches_setting: str = "batches"  # the SplitConfig field counting the batches drawn for it
    measures: bool = True  # False: its similarities come from no batch (no bootstrap, no separation-z)
    uses_gradients: bool = False  # True: it takes gradients of the shared weights, scoped by `gradient_parameters`
    is_control: bool = False  # True: a control whose similarities are noise (no separability is reported for it)
    compares_lid_profiles: bool = False  # True: it compares the candidates' LID profiles (compare's profile figure)


CRITERIA: dict[str, SplitCriterion] = {}


def register_criterion(criterion: SplitCriterion, *, replace: bool = False) -> SplitCriterion:
    """Add `criterion` to `CRITERIA`: `SplitConfig.criterion` and method variants (`nas-lid[criterion=...]`)
    accept it. A name registered already with another criterion is a ValueError unless `replace`."""
    register(CRITERIA, criterion.name, criterion, replace=replace, kind="split criterion")
    return criterion


for _criterion in (
    SplitCriterion("lid", "similarity of the candidates' layer-wise LID profiles (NAS-LID)", _lid_similarities,
                   compares_lid_profiles=True),
    SplitCriterion("gradient", "cosine similarity of the shared weights' gradients under each candidate (GM-NAS)",
                   _gradient_similarities, batches_setting="gradient_batches", uses_gradients=True),
    SplitCriterion("random", "random similarities, no measurement (ours: the control)", _random_similarities,
                   measures=False, is_control=True),
):
    register_criterion(_criterion)


def edge_similarities(
    net: nn.Module,
    subspace: SubSpace,
    batches: Sequence[Batch] | BatchesForPoint,
    cfg: SplitConfig,
    edges: Sequence[int] | None = None,
    progress: bool = False,
) -> dict[int, np.ndarray]:
    """Op-by-op similarity of every edge in `edges` (default: every edge with more than one op).

    Matrices are averaged over the batches ((images, labels) pairs on the model's device); rows and columns
    follow `subspace.allowed[edge]`. `batches` is a sequence serving every edge when
    `cfg.measurement_batches == "shared"`, or a callable `batches_for(edge)` giving each edge its own batches
    when it is "per-point" (called once per edge, lazily, one edge at a time). The model is left exactly as
    it was.
    """
    samples = edge_similarity_samples(net, subspace, batches, cfg, edges, progress)
    return {edge: mean_over_batches(stack) for edge, stack in samples.items()}


def edge_similarity_samples(
    net: nn.Module,
    subspace: SubSpace,
    batches: Sequence[Batch] | BatchesForPoint,
    cfg: SplitConfig,
    edges: Sequence[int] | None = None,
    progress: bool = False,
) -> dict[int, np.ndarray]:
    """Like `edge_similarities`, but each edge's matrix on every batch: an array (batches x ops x ops) whose mean
    over axis 0 is what `edge_similarities` returns (the "random" criterion has no batches: one sample).

    The per-batch matrices let a split decision say how sure it is (`naslid.partition.split_reliability`).
    """
    edges = list(subspace.splittable_edges() if edges is None else edges)
    for edge in edges:
        if len(subspace.allowed[edge]) < 2:
            raise ValueError(f"edge {edge} allows only {subspace.allowed[edge]}: nothing to compare")
    if cfg.measurement_batches == "per-point" and not callable(batches):
        raise ValueError(f"measurement_batches='per-point' expects a callable batches_for(point); got "
                         f"{type(batches).__name__}")
    if cfg.measurement_batches == "shared":
        if callable(batches):
            raise ValueError(f"measurement_batches='shared' expects a sequence of batches; got the callable "
                             f"{batches!r}")
        if not batches:
            raise ValueError("no batch given to measure the split criterion on")
    rng = np.random.default_rng(cfg.seed)
    with preserved_state(net):
        net.train(cfg.bn_mode == "batch")
        return CRITERIA[cfg.criterion].similarities(net, subspace, edges, batches, cfg, rng, progress)
