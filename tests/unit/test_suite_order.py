"""The suite's order (``tests.helpers.order``): modules with a slow test first, whole."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.order import slow_modules_first


@dataclass
class Entry:
    module: str
    name: str
    marks: set[str] = field(default_factory=set)

    @property
    def path(self) -> Path:
        return Path(self.module)

    def get_closest_marker(self, name: str) -> str | None:
        return name if name in self.marks else None


def names(items: list[Entry]) -> list[str]:
    return [f"{t.module}::{t.name}" for t in items]


def test_modules_with_a_slow_test_come_first_whole_and_in_their_own_order() -> None:
    collected = [
        Entry("a.py", "one"),
        Entry("b.py", "quick"),
        Entry("b.py", "long", {"slow"}),  # its module's other tests come with it
        Entry("b.py", "after"),
        Entry("c.py", "two"),
        Entry("d.py", "long", {"slow", "req"}),
        Entry("e.py", "three"),
    ]
    assert names(slow_modules_first(collected)) == [
        "b.py::quick",
        "b.py::long",
        "b.py::after",
        "d.py::long",
        "a.py::one",
        "c.py::two",
        "e.py::three",
    ]


def test_without_a_slow_test_the_collected_order_stays() -> None:
    collected = [Entry("b.py", "x"), Entry("a.py", "y", {"req"}), Entry("b.py", "z")]
    assert slow_modules_first(collected) == collected
    assert slow_modules_first([]) == []


def test_the_walk_and_the_in_process_runner_are_marked_slow() -> None:
    """The long tests the order is for (their markers read as pytest applies them)."""
    from tests.engine import test_walk_publishing as walk
    from tests.runner import test_inprocess as inprocess

    for test in (
        walk.test_no_path_to_publication_without_two_reviewers_and_a_sign_off,
        inprocess.test_a_host_process_fires_the_sla_warning_and_the_inspection_on_time,
    ):
        assert "slow" in {m.name for m in getattr(test, "pytestmark", [])}, test.__name__
