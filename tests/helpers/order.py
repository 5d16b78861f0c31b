"""The order the suite runs in: the modules that hold a ``slow`` test first.

xdist's ``worksteal`` (the project's ``--dist``) gives each worker a contiguous share of
the collected order and lets a worker that has run out take the end of the other's
queue. A long test collected late can thus start last and leave the other worker idle
until it ends: the adversarial walk's set-up (40 to 60 s in CI) came at 87 % of the first
worker's share, the in-process runner's two tests (30 and 26 s) later still. Run first,
long tests overlap the short ones of the other worker, and the run ends on short tests.

Modules move whole and keep their own order (their module-scoped fixtures, such as the
walk's, are set up once), and the order is the same in every worker, as xdist requires:
a stable sort of the collected order, by nothing but the ``slow`` marker.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar


class Collected(Protocol):
    """What the order reads of a collected test (a ``pytest.Item``)."""

    @property
    def path(self) -> Path: ...

    def get_closest_marker(self, name: str) -> Any: ...


T = TypeVar("T", bound=Collected)


def slow_modules_first(items: Sequence[T]) -> list[T]:
    """``items`` with the modules that hold a test marked ``slow`` first, each whole and
    in its collected order; the other modules after them, as collected."""
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    return sorted(items, key=lambda item: item.path not in slow)
