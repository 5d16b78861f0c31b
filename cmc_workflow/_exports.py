"""Module ``__getattr__`` factories: names loaded on first use, and names that moved.

Two needs, one place:

- :func:`lazy` lets a package export a name without importing its module up front (the
  package ``__init__`` runs before every module under it, so a pure module would otherwise
  load the runtime its package also offers: the store, SQLAlchemy);
- :func:`moved` keeps an old import path working for one release after a module or a name
  moved, with a :class:`DeprecationWarning` that names the new path.

Standard library only: the package ``__init__`` imports this first.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

__all__ = ["lazy", "moved"]


def lazy(namespace: MutableMapping[str, Any], homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports each name of ``homes`` (name -> module) on first
    use and keeps it in ``namespace`` (the module's ``globals()``), so the next access is a
    plain lookup. Use: ``__getattr__ = lazy(globals(), {...})``."""
    module = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    return __getattr__


def moved(
    old: str,
    new: str,
    *,
    names: frozenset[str] | None = None,
    renamed: Mapping[str, str] | None = None,
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for names of ``old`` that now live in ``new``: each one
    resolves (``renamed`` maps an old name to its new one) with a DeprecationWarning.
    ``names`` limits which names moved (default: every public name of ``new``)."""
    renamed = dict(renamed or {})

    def __getattr__(name: str) -> Any:
        target = renamed.get(name, name)
        if target.startswith("_") or (names is not None and name not in names):
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        home = importlib.import_module(new)
        if not hasattr(home, target):
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(
            f"{old}.{name} is deprecated: it moved to {new}.{target}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(home, target)

    return __getattr__
