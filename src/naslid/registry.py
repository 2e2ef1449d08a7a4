"""The one rule of naslid's registries: every `register_<kind>` function goes through `register`.

The registries: search spaces, supernets, LID estimators, split criteria, edge scores, training steps, rankers,
ranking metrics, protocols, scales, methods and presets (docs/extending.md lists each with its call).

A name is registered once. Registering it again with another entry is an error naming both, unless the caller
says it replaces the entry (``replace=True``): a plug-in module cannot silently swap a built-in (``nb201``) or
another plug-in's entry. Registering the very same entry again is allowed, so a module imported twice does
no harm.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any


def register(table: MutableMapping[str, Any], name: str, entry: Any, *, replace: bool = False,
             kind: str = "entry") -> None:
    """Put `entry` in `table` under `name`; a name that holds another entry is a ValueError unless `replace`."""
    check_name(table, name, entry, replace=replace, kind=kind)
    table[name] = entry


def check_name(table: MutableMapping[str, Any], name: str, entry: Any, *, replace: bool = False,
               kind: str = "entry") -> None:
    """What `register` checks before it puts `entry` in `table`, for registrations that check more in between."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} name {name!r}; expected a non-empty string")
    if name in table and not replace and not _same(table[name], entry):
        raise ValueError(f"{kind} {name!r} is already registered ({describe(table[name])}); registering "
                         f"{describe(entry)} under the same name needs replace=True, or choose another name")


def _same(first: Any, second: Any) -> bool:
    if first is second:
        return True
    if isinstance(first, tuple) and isinstance(second, tuple):  # (config class, supernet class) and the like
        return len(first) == len(second) and all(a is b for a, b in zip(first, second, strict=True))
    return False


def describe(entry: Any) -> str:
    """Where an entry comes from, for messages: ``module.QualifiedName`` of a class or function."""
    if isinstance(entry, tuple) and entry:
        entry = entry[-1]
    if hasattr(entry, "__qualname__"):
        return f"{entry.__module__}.{entry.__qualname__}"
    for value in getattr(entry, "__dict__", {}).values():  # a record of functions (criteria, scores, metrics)
        if callable(value) and hasattr(value, "__qualname__"):
            return f"{type(entry).__name__} with {value.__module__}.{value.__qualname__}"
    return type(entry).__name__
