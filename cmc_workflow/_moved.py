"""The module ``__getattr__`` of a module whose names moved elsewhere: each name still
answers, with a :class:`DeprecationWarning` naming its new home."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any


def moved(old: str, new: ModuleType, names: Iterable[str]) -> Callable[[str], Any]:
    """A ``__getattr__`` for module ``old`` that gives ``names`` from ``new`` with a warning
    (and raises AttributeError for any other name)."""
    known = frozenset(names)

    def __getattr__(name: str) -> Any:
        if name not in known:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(
            f"{old}.{name} moved to {new.__name__}.{name}", DeprecationWarning, stacklevel=2
        )
        return getattr(new, name)

    return __getattr__
