"""What changed between two versions of a workflow (``cmc-workflow versions diff``).

:func:`diff_workflows` compares two checked definitions (pure); :func:`diff_versions`
reads the stored versions of an engine's database, counts the live items in each removed
or changed state, and compares the policy rules that apply to each version when policy
files are given.

Each difference is a :class:`Change`: what it concerns (``state``, ``transition``,
``field``, ``deadline``, ``policy``), how (``added``, ``removed``, ``changed``), its key
(``operating``, ``operating.recheck``, ``data.qr_code``,
``operating.recheck.form.recheck_batch``), and what changed, in English and Chinese.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmc_workflow.definition.loader import LoadedWorkflow, load_workflow_text
from cmc_workflow.definition.models import FieldSpec, State, Transition, Workflow
from cmc_workflow.errors import WorkflowNotFound
from cmc_workflow.i18n import N_, joined, tr, zh
from cmc_workflow.store.port import DefinitionRow, StorePort

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
BROKEN, UNCHECKED = "broken", "unchecked"
HOW_WORDS = {
    ADDED: N_("added"),
    REMOVED: N_("removed"),
    CHANGED: N_("changed"),
    BROKEN: N_("broken"),
    UNCHECKED: N_("unchecked"),
}
"""How a change changed: each word is its own msgid (its Chinese is in the catalogue)."""
WHAT_WORDS = {
    "state": N_("state"),
    "transition": N_("transition"),
    "field": N_("field"),
    "deadline": N_("deadline"),
    "policy": N_("policy"),
}
"""What a change concerns, likewise."""


class _Chinese(Mapping[str, str]):
    """The Chinese of a table of msgids, looked up in the catalogue when asked (so that
    importing this module does not read the catalogue)."""

    def __init__(self, msgids: Mapping[str, str]) -> None:
        self._msgids = msgids

    def __getitem__(self, key: str) -> str:
        return zh(self._msgids[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._msgids)

    def __len__(self) -> int:
        return len(self._msgids)


HOW_ZH: Mapping[str, str] = _Chinese(HOW_WORDS)
""":data:`HOW_WORDS` in Chinese (``added`` -> 新增)."""
WHAT_ZH: Mapping[str, str] = _Chinese(WHAT_WORDS)
""":data:`WHAT_WORDS` in Chinese (``state`` -> 状态)."""


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two versions."""

    what: str
    how: str
    key: str
    detail: str = ""
    detail_zh: str = ""
    live: int | None = None
    """For a removed or changed state: the live items of the old version resting in it."""


@dataclass(frozen=True, slots=True)
class VersionDiff:
    """Every difference between revision ``old`` and ``new`` of ``workflow``."""

    workflow: str
    old: int | str
    new: int | str
    changes: tuple[Change, ...] = field(default_factory=tuple)

    def of(self, what: str, how: str | None = None) -> list[Change]:
        """The changes about ``what`` (and ``how``), in order."""
        return [c for c in self.changes if c.what == what and (how is None or c.how == how)]


# -- the pure comparison -------------------------------------------------------------------
def _dump(value: Any) -> Any:
    return value.model_dump(mode="json", exclude_none=True, by_alias=True)


def _differing(old: Any, new: Any, skip: frozenset[str] = frozenset()) -> list[str]:
    """The top-level keys whose values differ between two models."""
    a, b = _dump(old), _dump(new)
    return sorted(k for k in {*a, *b} - skip if a.get(k) != b.get(k))


def _fields(
    prefix: str, old: Mapping[str, FieldSpec], new: Mapping[str, FieldSpec]
) -> list[Change]:
    out = []
    for name in sorted({*old, *new}):
        key = f"{prefix}.{name}"
        if name not in old:
            spec = new[name]
            if spec.required:
                detail = tr("{type}, required", type=spec.type)
            else:
                detail = tr("{type}, optional", type=spec.type)
            out.append(Change("field", ADDED, key, *detail))
        elif name not in new:
            out.append(Change("field", REMOVED, key))
        elif changed := _differing(old[name], new[name]):
            out.append(Change("field", CHANGED, key, *joined(changed)))
    return out


def _edge_key(t: Transition) -> str:
    return t.trigger if t.trigger is not None else f"->{t.target}"


def _transitions(name: str, old: State, new: State) -> list[Change]:
    a = {_edge_key(t): t for t in old.transitions}
    b = {_edge_key(t): t for t in new.transitions}
    out = []
    for trig in sorted({*a, *b}):
        key = f"{name}.{trig}"
        if trig not in a:
            t = b[trig]
            out.append(Change("transition", ADDED, key, f"-> {t.target}", f"→ {t.target}"))
            out += _fields(f"{key}.form", {}, t.form)
        elif trig not in b:
            out.append(Change("transition", REMOVED, key, f"-> {a[trig].target}"))
        else:
            changed = _differing(a[trig], b[trig], frozenset({"form"}))
            if changed:
                detail = ", ".join(changed)
                if "target" in changed:
                    detail += f" ({a[trig].target} -> {b[trig].target})"
                out.append(Change("transition", CHANGED, key, detail, joined(changed).zh))
            out += _fields(f"{key}.form", a[trig].form, b[trig].form)
    return out


def _deadline(name: str, old: State | None, new: State | None) -> list[Change]:
    a = old.deadline if old is not None else None
    b = new.deadline if new is not None else None
    if a is None and b is None:
        return []
    if a is None:
        assert b is not None
        return [Change("deadline", ADDED, name, b.span, b.span)]
    if b is None:
        return [Change("deadline", REMOVED, name, a.span, a.span)]
    changed = _differing(a, b)
    if not changed:
        return []
    detail = f"{a.span} -> {b.span}" if a.span != b.span else ", ".join(changed)
    return [Change("deadline", CHANGED, name, detail, detail)]


def diff_workflows(old: Workflow, new: Workflow) -> list[Change]:
    """Every difference between two definitions of one workflow, states first."""
    out: list[Change] = []
    for name in sorted({*old.states, *new.states}):
        a, b = old.states.get(name), new.states.get(name)
        if a is None:
            assert b is not None
            out.append(Change("state", ADDED, name, b.type, b.label.zh))
        elif b is None:
            out.append(Change("state", REMOVED, name, a.type, a.label.zh))
        else:
            changed = _differing(a, b, frozenset({"transitions", "deadline"}))
            if [t.target for t in a.transitions] != [t.target for t in b.transitions] or {
                _edge_key(t) for t in a.transitions
            } != {_edge_key(t) for t in b.transitions}:
                changed.append("transitions")
            if changed:
                out.append(Change("state", CHANGED, name, *joined(changed)))
    for name in sorted({*old.states, *new.states}):
        a, b = old.states.get(name), new.states.get(name)
        if a is not None and b is not None:
            out += _transitions(name, a, b)
        elif b is not None:
            for t in b.transitions:
                key = f"{name}.{_edge_key(t)}"
                out.append(Change("transition", ADDED, key, f"-> {t.target}", f"→ {t.target}"))
        else:
            assert a is not None
            for t in a.transitions:
                out.append(Change("transition", REMOVED, f"{name}.{_edge_key(t)}"))
    out += _fields("data", old.data, new.data)
    for name in sorted({*old.states, *new.states}):
        out += _deadline(name, old.states.get(name), new.states.get(name))
    if old.start != new.start:
        changed = _differing(old.start, new.start)
        out.append(Change("state", CHANGED, "start", *joined(changed)))
    return out


# -- against the database ------------------------------------------------------------------
def stored_version(rows: list[DefinitionRow], workflow: str, revision: int) -> DefinitionRow:
    """The stored row of ``revision``, or :class:`WorkflowNotFound` naming the stored ones."""
    for row in rows:
        if row.revision == revision:
            return row
    known = ", ".join(str(r.revision) for r in rows) or tr("none")
    raise WorkflowNotFound(
        tr(
            "{workflow} has no stored revision {revision} (stored: {stored})",
            workflow=repr(workflow),
            revision=revision,
            stored=known,
        )
    )


def loaded_of(row: DefinitionRow) -> LoadedWorkflow:
    """A stored version, loaded from its text."""
    return load_workflow_text(row.source_text, f"{row.source_file}@{row.revision}")


def live_counts(store: StorePort, workflow: str, definition_id: int) -> dict[str, int]:
    """The open items of one stored version, by state."""
    with store.read() as tx:
        rows = tx.definitions_of(workflow)
        states: set[str] = set()
        for row, _live in rows:
            if row.id == definition_id:
                states = set(loaded_of(row).definition.states)
        items = tx.open_items([(workflow, s) for s in sorted(states)])
    counts: dict[str, int] = {}
    for item in items:
        if item.definition_id == definition_id:
            counts[item.state] = counts.get(item.state, 0) + 1
    return counts


def diff_versions(
    store: StorePort,
    workflow: str,
    old: int,
    new: int | LoadedWorkflow,
    *,
    policies: PolicyView | None = None,
) -> VersionDiff:
    """Compare stored revision ``old`` of ``workflow`` with stored revision ``new`` (or a
    loaded file), with the live items of ``old`` in each removed or changed state."""
    with store.read() as tx:
        rows = [row for row, _live in tx.definitions_of(workflow)]
    if not rows:
        raise WorkflowNotFound(tr("no version of {workflow} is stored", workflow=repr(workflow)))
    old_row = stored_version(rows, workflow, old)
    old_loaded = loaded_of(old_row)
    if isinstance(new, LoadedWorkflow):
        new_loaded, new_name = new, new.file
        same = next((r for r in rows if r.content_hash == new.content_hash), None)
        new_label: int | str = same.revision if same is not None else new_name
    else:
        new_loaded = loaded_of(stored_version(rows, workflow, new))
        new_label = new
    changes = diff_workflows(old_loaded.definition, new_loaded.definition)
    live = live_counts(store, workflow, old_row.id)
    counted = [
        Change(c.what, c.how, c.key, c.detail, c.detail_zh, live.get(c.key, 0))
        if c.what == "state" and c.how in (REMOVED, CHANGED) and c.key != "start"
        else c
        for c in changes
    ]
    if policies is not None:
        counted += policies.diff(old_loaded, new_loaded)
    return VersionDiff(workflow, old, new_label, tuple(counted))


class PolicyView:
    """The policy files and the other workflows they speak about, to compile the rules
    that apply to one version of a workflow (:mod:`cmc_workflow.migration.checks`)."""

    def __init__(self, paths: list[str | Path]) -> None:
        self.paths = paths

    def diff(self, old: LoadedWorkflow, new: LoadedWorkflow) -> list[Change]:
        """The rules applying to ``old`` and ``new`` compared by id, and the problems the
        policies would have with ``new``."""
        from cmc_workflow.migration.checks import rules_with  # the policy compiler: on use

        a, unfit = rules_with(self.paths, old)
        b, problems = rules_with(self.paths, new)
        out = []
        if unfit:  # policy files written for the new version: nothing to compare with
            out.append(
                Change(
                    "policy",
                    UNCHECKED,
                    old.file,
                    *tr(
                        "the policy files do not fit the old version ({count} problem(s), "
                        "e.g. a renamed state): its rules are not compared",
                        count=len(unfit),
                    ),
                )
            )
            a = b
        for rule_id in sorted({*a, *b}):
            if rule_id not in a:
                out.append(Change("policy", ADDED, rule_id, b[rule_id], b[rule_id]))
            elif rule_id not in b:
                out.append(Change("policy", REMOVED, rule_id, a[rule_id], a[rule_id]))
            elif a[rule_id] != b[rule_id]:
                out.append(Change("policy", CHANGED, rule_id, b[rule_id], b[rule_id]))
        for p in problems:
            out.append(
                Change(
                    "policy",
                    BROKEN,
                    p.code,
                    f"{p.file}:{p.line}:{p.column}: {p.message}",
                    p.message_zh or p.message,
                )
            )
        return out
