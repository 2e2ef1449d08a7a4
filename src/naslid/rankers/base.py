"""What every architecture ranker shares: the contract, the registry, the spelling, and what rankers score with.

A ranker gives each architecture a score, higher meaning predicted better: a parameter count, a training-free
statistic of a freshly initialised network (NASWOT, synflow, ...), an LID profile, a trained supernet's proxy
accuracy, or an aggregate of other rankers' ranks. Rankers are small frozen dataclasses whose fields are their
settings; a spelling names one with any settings changed, as compared methods do: ``naswot``,
``naswot[batch-size=32]``, ``agg[params,naswot,lid-init]``.

A training-free ranker scores with a `ScoringContext`: the search space's supernet, freshly initialised from one
seed, and one fixed batch of real images. An architecture's network is its single path through that supernet,
which is the standalone network `extract(arch)` would copy: every architecture draws its weights from the same
seeded supernet, so two architectures that share an op at a place share its initial weights (a paired comparison
of architectures rather than of random draws).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, ClassVar

import torch
from torch import nn

from naslid.nn import build_supernet_for
from naslid.registry import register
from naslid.spaces import ChoiceArch, SearchSpace, get_space

RANKER_SCORES_SCHEMA = "naslid.proxy_scores/1"  # `naslid rank` writes what `naslid score` reads


class RankerUnavailable(ValueError):
    """A ranker cannot score this space or context (e.g. no ReLU to hook, no trained run): one line for the user."""


@dataclass(frozen=True)
class ScoringContext:
    """What rankers score with: a space's network configuration, a seeded fresh supernet, one fixed batch.

    `images` (normalised float, N x C x H x W) and `labels` are on `device`; rankers that need fewer images take the
    first ones. `data` says where the batch came from (recorded in every output). A trained run's context
    (`naslid.runs.rank`) also answers `trained_network_for` with the leaf that owns each architecture.
    """

    space_name: str
    network: Any  # the space's network configuration (NB201Config, ProxylessConfig, ...)
    resolution: int
    images: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    data: str = "no images"
    seed: int = 0
    device: str = "cpu"
    channels_last: bool = False  # the supernet in channels_last memory format (the batch's layout)
    trained: bool = field(default=False, init=False)  # True for a run's trained leaves
    _derived: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def space(self) -> SearchSpace:
        return get_space(self.space_name)

    @cached_property
    def supernet(self) -> nn.Module:
        """The space's supernet, initialised from `seed` without touching the global RNG; in train mode."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = build_supernet_for(self.space_name, self.network)
        net = net.to(self.device).train()
        return net.to(memory_format=torch.channels_last) if self.channels_last else net

    def derived(self, key: str, build: Callable[[nn.Module], nn.Module]) -> nn.Module:
        """A network built once from the supernet by `build` and kept under `key` (e.g. synflow's BN-free twin)."""
        if key not in self._derived:
            self._derived[key] = build(self.supernet)
        return self._derived[key]

    def network_for(self, arch: ChoiceArch) -> nn.Module:
        """The fresh supernet whose single path `net(x, arch)` is `arch`'s freshly initialised network."""
        return self.supernet

    def trained_network_for(self, arch: ChoiceArch) -> nn.Module:
        """The trained supernet (a run's leaf) whose path `net(x, arch)` is `arch`'s network with inherited weights."""
        raise RankerUnavailable("this ranker scores with a trained supernet: give a run directory "
                                "(naslid rank --run RUN_DIR)")

    def batch(self, size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `size` images and labels of the fixed batch (all of them for None)."""
        if self.images is None or self.labels is None:
            raise RankerUnavailable("this ranker needs images; none were given (pass a dataset)")
        if size is not None and size > self.images.shape[0]:
            raise ValueError(f"a batch of {size} images asked for, but the context holds {self.images.shape[0]}")
        end = self.images.shape[0] if size is None else size
        return self.images[:end], self.labels[:end]

    def to_json(self) -> dict:
        network = self.network.to_dict() if hasattr(self.network, "to_dict") else dataclasses.asdict(self.network)
        return {"space": self.space_name, "network": network, "resolution": self.resolution, "data": self.data,
                "images": None if self.images is None else int(self.images.shape[0]), "seed": self.seed,
                "initialisation": "the space's supernet with PyTorch's default initialisation, seeded; each "
                                  "architecture is its single path through it (extract(arch) copies the same "
                                  "weights)"}


@dataclass(frozen=True)
class Ranker:
    """Scores architectures; higher means predicted better. Subclasses are frozen dataclasses of settings."""

    name: ClassVar[str]
    definition: ClassVar[str]  # what the score is, and whose rule it follows (checked at the source)
    needs_images: ClassVar[bool] = True
    needs_run: ClassVar[bool] = False  # scores with a trained run's leaves (naslid.runs.rank)
    relative: ClassVar[bool] = False  # a score only means something next to the others of the same call (ranks)
    # isomorphic architectures (the space's canonical_key) may share one score: False where they differ by
    # definition (parameter counts include dead ops; a trained run's isomorphic architectures sit in other leaves)
    shares_isomorphic: ClassVar[bool] = True

    def score(self, arch: ChoiceArch, context: ScoringContext) -> float:
        raise NotImplementedError

    def score_many(self, archs: Sequence[ChoiceArch], context: ScoringContext,
                   progress: Callable[[int], None] | None = None) -> list[float]:
        """Scores of `archs` in order; `progress(n)` is called after each `n` scored."""
        self.check(context)
        scores = []
        for arch in archs:
            scores.append(checked_score(self, arch, self.score(arch, context)))
            if progress is not None:
                progress(1)
        return scores

    def check(self, context: ScoringContext) -> None:
        """Raise RankerUnavailable when this ranker cannot score in `context`, before any work."""
        if self.needs_run and not context.trained:
            raise RankerUnavailable(f"ranker {self.spelling} scores with a trained supernet: give a run directory "
                                    "(naslid rank --run RUN_DIR)")
        if self.needs_images and context.images is None:
            raise RankerUnavailable(f"ranker {self.spelling} needs a batch of images; give a dataset")

    @property
    def settings(self) -> dict[str, Any]:
        return {item.name: getattr(self, item.name) for item in fields(self)}

    @property
    def spelling(self) -> str:
        """The name with every setting that differs from the default, as `get_ranker` reads it."""
        changed = [f"{item.name.replace('_', '-')}={_format_value(getattr(self, item.name))}" for item in fields(self)
                   if getattr(self, item.name) != _default_of(item)]
        return f"{self.name}[{','.join(changed)}]" if changed else self.name

    def to_json(self) -> dict:
        return {"name": self.name, "spelling": self.spelling, "definition": self.definition,
                "settings": {key: _json_value(value) for key, value in self.settings.items()}}


def checked_score(ranker: Ranker, arch: ChoiceArch, value: object) -> float:
    """`value` as a float, or a ValueError naming the ranker and the architecture when it is not a finite number."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"ranker {ranker.spelling} returned {value!r} for {arch}; expected a finite number") from None
    if not math.isfinite(number):
        raise ValueError(f"ranker {ranker.spelling} returned {number} for {arch}; expected a finite number")
    return number


def _default_of(item: dataclasses.Field) -> Any:
    if item.default is not dataclasses.MISSING:
        return item.default
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return dataclasses.MISSING


def _format_value(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(_format_value(item) for item in value)
    if isinstance(value, Ranker):
        return value.spelling
    return "none" if value is None else str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, Ranker):
        return value.spelling
    return value


# --- the registry: a plain dict from name to ranker class (timm's pattern) ---

RANKERS: dict[str, type[Ranker]] = {}


def register_ranker(ranker_class: type[Ranker], *, replace: bool = False) -> type[Ranker]:
    """Add `ranker_class` under its `name`: `get_ranker`, `naslid rank --ranker`, `compare --methods` and
    `search --objective` accept it. Registering a name twice is an error unless `replace` says it is meant."""
    if not dataclasses.is_dataclass(ranker_class) or not issubclass(ranker_class, Ranker):
        raise ValueError(f"{ranker_class!r} is not a Ranker dataclass")
    register(RANKERS, ranker_class.name, ranker_class, replace=replace, kind="ranker")
    return ranker_class


def is_ranker(spelling: str) -> bool:
    """Whether `spelling` names a registered ranker (with or without settings)."""
    return spelling.strip().partition("[")[0].strip() in RANKERS


def get_ranker(spelling: str | Ranker) -> Ranker:
    """The ranker a spelling names: ``name`` or ``name[key=value,...]`` (keys are the ranker's settings, dashes
    or underscores), for an aggregate ``agg[member,member,...,rule=...]``."""
    if isinstance(spelling, Ranker):
        return spelling
    text = spelling.strip()
    name, bracket, rest = text.partition("[")
    name = name.strip()
    if name not in RANKERS:
        raise ValueError(f"unknown ranker {name!r}; known: {', '.join(sorted(RANKERS))}")
    ranker_class = RANKERS[name]
    if not bracket:
        return ranker_class()
    if not rest.endswith("]"):
        raise ValueError(f"ranker {_short(text)}: write settings as name[key=value,...] with a closing bracket")
    items = split_top_level(rest[:-1])
    parser = getattr(ranker_class, "from_items", None)
    if parser is not None:
        return parser(items, text)
    return _from_items(ranker_class, items, text)


def split_top_level(text: str) -> list[str]:
    """`text` split at the commas outside brackets (``a,b[c=1,d=2]`` -> ``a``, ``b[c=1,d=2]``); parts stripped."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth < 0:
            raise ValueError(f"unbalanced brackets in {_short(text)}")
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if depth != 0:
        raise ValueError(f"unbalanced brackets in {_short(text)}")
    parts.append(current.strip())
    return [part for part in parts if part]


def _from_items(ranker_class: type[Ranker], items: Iterable[str], spelling: str) -> Ranker:
    known = {item.name: item for item in fields(ranker_class)}
    settings: dict[str, Any] = {}
    for item in items:
        key, equals, value = (part.strip() for part in item.partition("="))
        name = key.replace("-", "_")
        if not equals or not key or not value:
            raise ValueError(f"ranker {_short(spelling)}: {_short(item)!r} is not key=value")
        if name not in known:
            choices = ", ".join(n.replace("_", "-") for n in known) or "none"
            raise ValueError(f"ranker {_short(spelling)}: unknown setting {_short(key)!r}; its settings: {choices}")
        if name in settings:
            raise ValueError(f"ranker {_short(spelling)}: {key} is set twice")
        settings[name] = _parse_setting(spelling, key, value, known[name])
    try:
        return ranker_class(**settings)
    except (TypeError, ValueError) as error:
        raise ValueError(f"ranker {_short(spelling)}: {error}") from None


def _parse_setting(spelling: str, key: str, text: str, item: dataclasses.Field) -> Any:
    kind = item.type if isinstance(item.type, str) else getattr(item.type, "__name__", str(item.type))
    options = {part.strip() for part in kind.split("|")}
    if text.lower() == "none" and "None" in options:
        return None
    try:
        if "bool" in options:
            values = {"on": True, "true": True, "off": False, "false": False}
            return values[text.lower()]
        if "int" in options:
            return int(text)
        if "float" in options:
            return float(text)
    except (KeyError, ValueError):
        raise ValueError(f"ranker {_short(spelling)}: {key}={_short(text)!r} is not a valid {kind}") from None
    return text


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
