"""User search spaces for every CLI command: modules imported with `--import`, and installed entry points.

A module that defines a search space registers it when imported (`naslid.spaces.register_space` and
`naslid.nn.register_supernet`; docs/own-space.md shows a whole example). The CLI imports

- every installed entry point of the group ``naslid.spaces`` (a package declares, in its pyproject.toml,
  ``[project.entry-points."naslid.spaces"] myspace = "mypackage.space"``), so an installed space is seen by every
  command with no flag; an entry point that names a callable (``"mypackage.space:register"``) is called;
- every ``--import MODULE`` (a dotted module name, or a path to a ``.py`` file), before the command runs.

This module imports neither torch nor a space: `naslid --help` stays fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

ENTRY_POINT_GROUP = "naslid.spaces"
_IMPORTED: list[str] = []  # the --import modules this process loaded, in order (worker processes load them too)
_ENTRY_POINTS: list[str] | None = None  # the entry points' names once loaded (once per process)


def import_module(name: str) -> ModuleType:
    """Import `name`: a ``.py`` file path (loaded under its file name) or a dotted module name; errors are one
    line naming it."""
    path = Path(name)
    if name.endswith(".py"):
        if not path.is_file():
            raise ValueError(f"--import {name}: no such file")
        module_name = f"naslid_user_{path.stem}"
        if module_name in sys.modules:
            return sys.modules[module_name]
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            sys.modules.pop(module_name, None)
            raise ValueError(f"--import {name} failed: {type(error).__name__}: {error}") from error
        return module
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ValueError(f"--import {name}: {error}; expected a module on the Python path or a .py file") from error
    except Exception as error:
        raise ValueError(f"--import {name} failed: {type(error).__name__}: {error}") from error


def load_entry_points() -> list[str]:
    """Import (and call, when it is a callable) every installed ``naslid.spaces`` entry point, once per process;
    their names."""
    global _ENTRY_POINTS
    if _ENTRY_POINTS is not None:
        return list(_ENTRY_POINTS)
    loaded = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = point.load()
            if callable(target) and not isinstance(target, ModuleType | type):
                target()
        except Exception as error:
            raise ValueError(f"the {ENTRY_POINT_GROUP} entry point {point.name!r} ({point.value}) failed: "
                             f"{type(error).__name__}: {error}") from error
        loaded.append(point.name)
    _ENTRY_POINTS = loaded
    return list(loaded)


def load_plugins(modules: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Installed entry points, then each of `modules`; what was loaded, for `naslid spaces`."""
    loaded = load_entry_points()
    for name in modules:
        import_module(name)
        loaded.append(name)
        if name not in _IMPORTED:
            _IMPORTED.append(name)
    return loaded


def imported_modules() -> tuple[str, ...]:
    """The modules `load_plugins` imported in this process: what a fresh worker process loads first
    (`naslid.partition.ProcessPoolRunner`), so that the spaces, criteria and scores they register exist there."""
    return tuple(_IMPORTED)
