"""The ``kind: migration`` file: a plan that moves live items of a workflow from stored
versions onto another one (issue 16). Pure: pydantic and the located-YAML reader only.

::

    kind: migration
    workflow: accounts
    from: [1]              # the revision(s) whose items move (``cmc-workflow versions``)
    to: 2                  # the revision they move onto
    states:                # old state -> new state
      qr_replacement: qr_renewal
    map_equal: true        # a state of the same name in both versions maps to itself
    defaults:              # values of new required data fields the items lack
      channel_owner: ops
    clocks: keep           # keep the old due times (as Camunda does), or recompute

:func:`load_plan_doc` validates the shape and gives every problem its place; what the plan
means against the database (do the states exist, is there a way forward, do the policies
still hold) is judged by :mod:`cmc_workflow.migration.run` before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, WithJsonSchema

from cmc_workflow.definition.loader import DEFINITION_CODES
from cmc_workflow.definition.models import Ident, Label, Model
from cmc_workflow.definition.schema import draft07_schema
from cmc_workflow.errors import Problem
from cmc_workflow.i18n import tr
from cmc_workflow.located import Located, load_located, read_source
from cmc_workflow.problems import problems_from_validation

DEFAULT_BATCH = 100
"""How many items one transaction migrates unless the plan or the command says otherwise."""


def _one_or_many(value: Any) -> Any:
    """``from: 1`` is ``from: [1]``."""
    return [value] if isinstance(value, int) and not isinstance(value, bool) else value


Revision = Annotated[int, Field(ge=1)]


class MigrationPlan(Model):
    """A migration plan file: which items move, where to, and what they are given."""

    kind: Literal["migration"]
    workflow: Ident = Field(description="the workflow whose items move")
    label: Label | None = None
    description: str | None = None
    from_: Annotated[
        list[Revision],
        BeforeValidator(_one_or_many),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "integer", "minimum": 1},
                    {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1},
                ]
            }
        ),
    ] = Field(
        alias="from",
        min_length=1,
        description="the revision(s) whose live items move (one number or a list)",
    )
    to: Revision = Field(description="the revision the items move onto")
    states: dict[Ident, Ident] = Field(
        default_factory=dict, description="old state -> state of the new revision"
    )
    map_equal: bool = Field(
        default=False,
        description="map each state the new revision also has, under the same name, to "
        "itself (states: wins where it names one)",
    )
    defaults: dict[Ident, Any] = Field(
        default_factory=dict,
        description="values for data fields the new revision requires and an item lacks",
    )
    clocks: Literal["keep", "recompute"] = Field(
        default="keep",
        description="running SLA clocks: keep their due times (re-pointed to the new "
        "state), or stop them and start the new state's deadline at the migration",
    )
    batch: int = Field(default=DEFAULT_BATCH, ge=1, le=10_000, description="items per transaction")

    def target_of(self, state: str, new_states: set[str] | frozenset[str]) -> str | None:
        """Where an item resting in ``state`` goes, or None when the plan leaves it."""
        if state in self.states:
            return self.states[state]
        if self.map_equal and state in new_states:
            return state
        return None


def load_plan_doc(doc: Located) -> tuple[MigrationPlan | None, list[Problem]]:
    """Validate one located ``kind: migration`` document: its model, or its problems."""
    if not isinstance(doc.data, dict):
        return None, [
            doc.problem(
                (),
                "E-TYPE",
                tr("a migration plan is a mapping with kind, workflow, from, to, states"),
                tr("start from docs/how-to-migrate.md"),
            )
        ]
    try:
        plan = MigrationPlan.model_validate(doc.data)
    except ValidationError as exc:
        return None, problems_from_validation(exc, doc, MigrationPlan, DEFINITION_CODES)
    problems: list[Problem] = []
    if plan.to in plan.from_:
        problems.append(
            doc.problem(
                ("to",),
                "E-MIGRATION-REVISION",
                tr("revision {to} is both a source (from:) and the target (to:)", to=plan.to),
                tr("items already on the target revision need no migration: drop it from from:"),
            )
        )
    if not plan.states and not plan.map_equal:
        problems.append(
            doc.problem(
                ("kind",),
                "E-MIGRATION-EMPTY",
                tr("the plan maps no state, so it would move no item"),
                tr("add states: {{old_state: new_state}} or map_equal: true"),
                key=True,
            )
        )
    return (None if problems else plan), problems


def load_plan(path: str | Path) -> tuple[MigrationPlan | None, Located | None, list[Problem]]:
    """Read and validate a plan file: (plan, its located document, problems)."""
    file = str(path)
    text, problems = read_source(Path(path))
    if text is None:
        return None, None, problems
    doc, problems = load_located(text, file)
    if problems:
        return None, None, problems
    if doc.data is None:
        return None, doc, [Problem.of(file, 1, 1, "E-EMPTY", tr("the file is empty"))]
    plan, problems = load_plan_doc(doc)
    return plan, doc, problems


def migration_schema() -> dict[str, Any]:
    """The draft-07 JSON Schema of a migration plan file."""
    return draft07_schema(
        MigrationPlan, "generated by `cmc-workflow schema --kind migration`; do not edit by hand"
    )


def render_migration_schema() -> str:
    """The schema as stable JSON text (sorted keys, two-space indent, trailing newline)."""
    return json.dumps(migration_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
