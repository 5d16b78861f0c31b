"""Opening an engine builds its policy set once: the set that loading checked is the set
that is enforced, and a new load (or a changed set) builds anew."""

from __future__ import annotations

from pathlib import Path

from cmc_workflow.definition.loader import load_paths
from cmc_workflow.policy.checks.build import build_policy_set

ROOT = Path(__file__).resolve().parents[2]


def test_the_same_load_is_built_once() -> None:
    loaded = load_paths([ROOT / "workflows", ROOT / "policies"])
    first, problems = build_policy_set(loaded)
    again, problems_again = build_policy_set(loaded)
    assert again is first
    assert problems == problems_again == []
    assert problems_again is not problems  # callers own their list


def test_a_new_load_or_a_changed_set_is_built_anew() -> None:
    loaded = load_paths([ROOT / "workflows", ROOT / "policies"])
    first, _ = build_policy_set(loaded)
    reloaded = load_paths([ROOT / "workflows", ROOT / "policies"])
    assert build_policy_set(reloaded)[0] is not first
    without_policies = load_paths([ROOT / "workflows"])
    assert build_policy_set(without_policies)[0].empty
    del reloaded.workflows["publishing"]
    smaller, _ = build_policy_set(reloaded)
    assert "publishing" not in smaller.workflows
