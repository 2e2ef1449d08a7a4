"""Declared subsets of architectures to rank on: all, isomorphism-unique, top-p%, random N, a user list.

A subset is chosen from a universe (the architectures that have both a prediction and a ground-truth value),
ordered by benchmark index. Spec strings, as the CLI takes them:

- ``all``: the whole universe.
- ``unique``: one architecture per `isomorphism_key` class, the one with the lowest benchmark index. Its
  own proxy value and its own ground truth are used (isomorphic cells were trained separately in NB201,
  so their values differ; nothing is averaged).
- ``top<p>%`` (``top1%``, ``top0.5%``): k = ceil(p/100 * n); the architectures whose ground truth is >= the
  k-th largest, so ties at the cut are included (top1% of NB201 CIFAR-10 test by Few-shot NAS's ground
  truth: k = 157, 158 archs).
- ``random<N>``: N architectures drawn without replacement by ``numpy.random.default_rng(seed)``.
- ``list:<FILE>``: the architectures in FILE: one official string or node tuple per line (blank lines and
  ``#`` comments skipped), or a JSON list of them.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from naslid.bench.metrics import top_k_mask
from naslid.bench.predictions import parse_arch_key
from naslid.spaces import NB201Arch, format_arch, isomorphism_key

logger = logging.getLogger(__name__)

SUBSET_CHOICES = ("all", "unique", "top<p>%", "random<N>", "list:<FILE>")
_TOP_PERCENT = re.compile(r"^top(\d+(?:\.\d*)?|\.\d+)%$")
_RANDOM = re.compile(r"^random(\d+)$")


class SubsetUnavailable(ValueError):
    """A well-formed subset spec that the scored architectures are too few to form (e.g. random1000 of 100)."""


@dataclass(frozen=True)
class Subset:
    """A named set of architectures with the rule that chose them."""

    name: str
    rule: str
    archs: tuple[NB201Arch, ...]
    seed: int | None = None

    def __len__(self) -> int:
        return len(self.archs)


def isomorphism_unique(archs: Sequence[NB201Arch], index_of: Callable[[NB201Arch], int]) -> list[NB201Arch]:
    """One architecture per isomorphism class: the one with the lowest `index_of`, in index order."""
    representative: dict[str, NB201Arch] = {}
    for arch in sorted(archs, key=index_of):
        representative.setdefault(isomorphism_key(arch), arch)
    return sorted(representative.values(), key=index_of)


def top_percent(truth: Mapping[NB201Arch, float], archs: Sequence[NB201Arch], percent: float) -> list[NB201Arch]:
    """The architectures of `archs` whose ground truth is >= the value at the top-`percent`% cut."""
    if not 0 < percent <= 100:
        raise ValueError(f"top-p% needs 0 < p <= 100, got {percent}")
    k = max(1, math.ceil(percent / 100 * len(archs)))
    mask = top_k_mask(np.array([truth[arch] for arch in archs]), k)
    return [arch for arch, keep in zip(archs, mask, strict=True) if keep]


def random_architectures(archs: Sequence[NB201Arch], size: int, seed: int) -> list[NB201Arch]:
    """`size` architectures of `archs` drawn without replacement with `seed`, kept in the given order."""
    if size < 1:
        raise ValueError(f"random subset size must be at least 1, got {size}")
    if size > len(archs):
        raise SubsetUnavailable(
            f"random subset size must be in 1..{len(archs)} (the architectures scored), got {size}"
        )
    chosen = np.random.default_rng(seed).choice(len(archs), size=size, replace=False)
    return [archs[position] for position in sorted(chosen.tolist())]


def read_architecture_list(path: str | Path) -> list[NB201Arch]:
    """Architectures from a text file (one per line, ``#`` comments) or a JSON list; duplicates dropped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"architecture list {str(path)!r} not found; expected a text or JSON file")
    text = path.read_text()
    if path.suffix.lower() == ".json":
        try:
            keys = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"architecture list {path} is not valid JSON: {error}") from None
        if not isinstance(keys, list):
            raise ValueError(f"architecture list {path} must hold a JSON list of arch strings")
        numbered = list(enumerate(keys, start=1))
    else:
        numbered = [
            (line, content.strip())
            for line, content in enumerate(text.splitlines(), start=1)
            if content.strip() and not content.strip().startswith("#")
        ]
    archs: list[NB201Arch] = []
    for line, key in numbered:
        try:
            archs.append(parse_arch_key(key))
        except ValueError as error:
            raise ValueError(f"architecture list {path}, entry {line}: {error}") from None
    unique = list(dict.fromkeys(archs))
    if len(unique) < len(archs):
        logger.info("architecture list %s: dropped %d duplicate entries", path, len(archs) - len(unique))
    if not unique:
        raise ValueError(f"architecture list {path} lists no architecture")
    return unique


def select_subset(
    spec: str,
    truth: Mapping[NB201Arch, float],
    index_of: Callable[[NB201Arch], int],
    *,
    seed: int = 0,
    universe: Iterable[NB201Arch] | None = None,
) -> Subset:
    """The subset named by `spec` (see the module docstring) of `universe` (default: the keys of `truth`)."""
    archs = sorted(truth if universe is None else universe, key=index_of)
    spec = spec.strip()
    if spec == "all":
        return Subset("all", "all scored architectures", tuple(archs))
    if spec == "unique":
        chosen = isomorphism_unique(archs, index_of)
        rule = "one per isomorphism class (NB201 unique_str), lowest benchmark index; its own values"
        return Subset("unique", rule, tuple(chosen))
    match = _TOP_PERCENT.match(spec)
    if match:
        percent = float(match.group(1))
        chosen = top_percent(truth, archs, percent)
        k = max(1, math.ceil(percent / 100 * len(archs)))
        rule = (
            f"top {percent:g}% by ground truth: k = ceil({percent:g}% of {len(archs)}) = {k}, "
            "ties at the cut included"
        )
        return Subset(spec, rule, tuple(chosen))
    match = _RANDOM.match(spec)
    if match:
        size = int(match.group(1))
        chosen = random_architectures(archs, size, seed)
        return Subset(
            spec, f"{size} drawn without replacement, numpy default_rng(seed={seed})", tuple(chosen), seed
        )
    if spec.startswith("list:"):
        path = spec[len("list:") :]
        listed = read_architecture_list(path)
        present = set(archs)
        missing = [arch for arch in listed if arch not in present]
        if missing:
            raise KeyError(
                f"{len(missing)} architecture(s) of list {path} are not among the {len(archs)} scored, "
                f"e.g. {format_arch(missing[0])}; expected architectures with a prediction and a ground truth"
            )
        return Subset(spec, f"architectures listed in {path}", tuple(sorted(listed, key=index_of)))
    raise ValueError(
        f"unknown subset {spec!r}; expected one of {list(SUBSET_CHOICES)} (e.g. top1%, random1000)"
    )
