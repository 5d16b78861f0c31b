"""Stage 2 of loading: the frozen pydantic models of the workflow language.

These models say what a well-formed workflow file looks like; the graph-level rules
(reachability, traps, gateways, ...) live in :mod:`cmc_workflow.definition.checks`.
The JSON Schema in ``schema/workflow.schema.json`` is generated from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

IDENT_PATTERN = r"^[a-z][a-z0-9_]*$"
REQUIREMENT_PATTERN = r"^[A-Z]{3}-[0-9]+$"
PERCENT_PATTERN = r"^(100|[1-9]?[0-9])%$"

Ident = Annotated[str, StringConstraints(pattern=IDENT_PATTERN, max_length=64)]
RequirementId = Annotated[str, StringConstraints(pattern=REQUIREMENT_PATTERN)]

DURATION_UNITS: dict[str, str] = {
    "working day": "working_days",
    "working days": "working_days",
    "working hour": "working_hours",
    "working hours": "working_hours",
    "day": "days",
    "days": "days",
    "hour": "hours",
    "hours": "hours",
    "minute": "minutes",
    "minutes": "minutes",
    "week": "weeks",
    "weeks": "weeks",
    "month": "months",
    "months": "months",
}
DurationUnit = Literal[
    "working_days", "working_hours", "days", "hours", "minutes", "weeks", "months"
]
_DURATION_RE = re.compile(r"^\s*([0-9]+)\s+([a-z ]+?)\s*$")
DURATION_PATTERN = (
    r"^\s*[0-9]+\s+(working days?|working hours?|days?|hours?|minutes?|weeks?|months?)\s*$"
)


@dataclass(frozen=True, slots=True)
class Duration:
    """A span of time as written in YAML, e.g. ``2 working days`` or ``6 months``."""

    amount: int
    unit: DurationUnit

    def __str__(self) -> str:
        unit = self.unit.replace("_", " ")
        return f"{self.amount} {unit[:-1] if self.amount == 1 else unit}"

    @property
    def is_working_time(self) -> bool:
        """True for working days/hours, which follow the working-day calendar."""
        return self.unit.startswith("working_")


def parse_duration(value: Any) -> Duration:
    """Parse ``"<n> <unit>"``; raise a pydantic error of type ``bad_duration`` otherwise."""
    if isinstance(value, Duration):
        return value
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match is not None:
            unit = DURATION_UNITS.get(match.group(2))
            amount = int(match.group(1))
            if unit is not None and amount > 0:
                return Duration(amount, unit)  # type: ignore[arg-type]  # unit is one of the literal's values
    raise PydanticCustomError(
        "bad_duration",
        "{value} is not a duration like '2 working days', '4 working hours', '3 days', "
        "'12 hours', '30 minutes', '2 weeks' or '6 months' (a positive whole number and a unit)",
        {"value": repr(value)},  # pydantic formats with str(); the template has no !r
    )


DurationField = Annotated[
    Duration,
    PlainValidator(parse_duration),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN}),
]


def empty_list() -> list[Any]:
    """A new empty list: the default of the models' list fields. Not ``list`` itself:
    pydantic asks every default factory for its signature, and a builtin's is parsed from
    its text by the tokenizer (about 0.2 ms a field: 8 ms of a cold ``Engine.open``)."""
    return []


class Model(BaseModel):
    """Base of every definition model: frozen, strict, no unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Label(Model):
    """A human label in Chinese (shown first) and English."""

    zh: Annotated[str, StringConstraints(min_length=1)]
    en: Annotated[str, StringConstraints(min_length=1)]


FieldType = Literal[
    "string", "text", "integer", "number", "boolean", "date", "datetime", "choice", "list"
]


class FieldSpec(Model):
    """A typed field of the item's data or of a transition's form."""

    type: FieldType
    required: bool = True
    label: Label | None = None
    description: str | None = None
    choices: list[str] | None = Field(
        default=None, description="allowed values of a 'choice' field or of each 'list' element"
    )
    min: float | None = Field(default=None, description="lowest number, or shortest length")
    max: float | None = Field(default=None, description="highest number, or longest length")
    personal: bool = Field(
        default=False, description="personal information (SEC-3): masked in logs and exports"
    )


DeadlineAction = Literal["warn", "escalate", "breach", "fire", "notify", "reassign"]


class DeadlineStep(Model):
    """One rung of a deadline ladder: when it happens and what it does."""

    at: Annotated[str, StringConstraints(pattern=PERCENT_PATTERN)] | None = Field(
        default=None, description="fraction of the deadline, e.g. '50%' or '100%'"
    )
    after: DurationField | None = Field(default=None, description="offset from the clock's start")
    before: DurationField | None = Field(default=None, description="offset before the due time")
    action: DeadlineAction
    to: Ident | None = Field(
        default=None,
        description="role to escalate or notify to, or whose holder a reassign step gives "
        "the task to",
    )
    trigger: Ident | None = Field(default=None, description="trigger fired by a 'fire' step")


class Deadline(Model):
    """How long an item may stay in a state, and the ladder of steps as time runs."""

    within: DurationField | None = Field(
        default=None, description="how long from entering the state (or until:)"
    )
    until: Ident | None = Field(
        default=None,
        description="a date or datetime data field the item is due by (a date: the end of "
        "that day); with within: too, the clock is due at the earlier of the two",
    )
    steps: list[DeadlineStep] = Field(default_factory=empty_list)
    pause_in: list[Ident] = Field(
        default_factory=empty_list,
        description="states in which the clock pauses (e.g. waiting for the reader)",
    )
    runs_in: list[Ident] = Field(
        default_factory=empty_list,
        description="further states in which the clock keeps running (one clock over several "
        "steps, e.g. from receipt to reply); it stops in any other state",
    )
    counts_from: Ident | None = Field(
        default=None,
        description="a datetime data field the clock counts from when it starts (e.g. when "
        "a message was received, if it is registered later); empty or in the future: now",
    )
    implements: list[RequirementId] = Field(default_factory=empty_list)

    @property
    def span(self) -> str:
        """The deadline in words: ``within 2 working days``, ``until data.due_date`` or
        ``within 12 months, until data.valid_until`` (the earlier of the two)."""
        words = [f"within {self.within}"] if self.within is not None else []
        if self.until is not None:
            words.append(f"until data.{self.until}")
        return ", ".join(words)


class StartsItem(Model):
    """An item of another workflow that a transition opens in its own transaction."""

    workflow: Ident = Field(description="id of the workflow to start an item of")
    data: dict[Ident, str] = Field(
        default_factory=dict,
        description="the new item's start data: field -> expression over data, form, actor, "
        "item (item.id, item.workflow) and each (the for_each element)",
    )
    for_each: str | None = Field(
        default=None, description="expression giving a list: one item per element ('each')"
    )
    implements: list[RequirementId] = Field(default_factory=empty_list)


class Collects(Model):
    """Open items of another workflow that a transition gathers into this item."""

    workflow: Ident = Field(description="id of the workflow whose items are gathered")
    states: list[Ident] = Field(min_length=1, description="states the gathered items rest in")
    trigger: Ident = Field(description="trigger fired on each gathered item")
    link: Ident | None = Field(
        default=None, description="field of the trigger's form that receives this item's id"
    )
    count: Ident | None = Field(
        default=None, description="data field of this item set to the number gathered"
    )
    implements: list[RequirementId] = Field(default_factory=empty_list)


class Transition(Model):
    """A way out of a state."""

    trigger: Ident | None = Field(
        default=None, description="name of the command; required except on gateway routes"
    )
    target: Ident
    label: Label | None = None
    roles: list[Ident] | None = Field(
        default=None, description="roles that may fire it (userTask transitions)"
    )
    guard: str | None = Field(
        default=None, description="restricted boolean expression over data/form/actor"
    )
    default: bool = Field(
        default=False, description="the route taken when no guarded route applies"
    )
    form: dict[Ident, FieldSpec] = Field(
        default_factory=dict, description="fields the actor must supply when firing"
    )
    notify: list[Ident] = Field(
        default_factory=empty_list,
        description="roles notified (through the outbox) when it is taken",
    )
    starts: list[StartsItem] = Field(
        default_factory=empty_list,
        description="items of other workflows opened in the same transaction (their parent "
        "is this item)",
    )
    collects: Collects | None = Field(
        default=None, description="gather open items of another workflow into this one"
    )
    children_closed: bool = Field(
        default=False,
        description="refused while any item this item started is still open",
    )
    implements: list[RequirementId] = Field(default_factory=empty_list)
    description: str | None = None


StateType = Literal["userTask", "serviceTask", "exclusiveGateway", "endEvent"]

GuardedEffect = Literal["publication", "account_release", "plan_in_force"]
"""Effects that no workflow may carry out unless a policy guards them (fail closed):
content going out to the public channels, content released to the self-media accounts,
an emergency plan put in force. The policy rules each one needs are listed in
:data:`cmc_workflow.policy.coverage.EFFECT_NEEDS`."""


class State(Model):
    """A state of the workflow, typed in BPMN terms."""

    type: StateType
    label: Label
    description: str | None = None
    implements: list[RequirementId] = Field(default_factory=empty_list)
    handler: Ident | None = Field(default=None, description="serviceTask: the handler to run")
    assignee: Ident | None = Field(
        default=None,
        description="data field holding the person id(s) this task waits on (for inboxes)",
    )
    deadline: Deadline | None = None
    effects: list[GuardedEffect] = Field(
        default_factory=empty_list,
        description="guarded effects an item carries out by entering this state; loading "
        "fails unless a policy guards its entry",
    )
    transitions: list[Transition] = Field(default_factory=empty_list)


class Handler(Model):
    """A handler the workflow needs from the embedding system."""

    description: str
    effects: list[GuardedEffect] = Field(
        default_factory=empty_list,
        description="guarded effects the handler carries out (e.g. publication): every "
        "serviceTask running it has them",
    )


class Start(Model):
    """The start event: the first state and who may start an item."""

    state: Ident
    roles: list[Ident] = Field(description="roles that may start an item")
    implements: list[RequirementId] = Field(default_factory=empty_list)


class Workflow(Model):
    """A workflow definition file."""

    kind: Literal["workflow"] = "workflow"
    id: Ident
    version: int | None = Field(default=None, ge=1, description="human version number")
    label: Label
    description: str | None = None
    implements: list[RequirementId] = Field(default_factory=empty_list)
    roles: dict[Ident, Label] = Field(description="the lanes: roles that act in this workflow")
    handlers: dict[Ident, Handler] = Field(default_factory=dict)
    data: dict[Ident, FieldSpec] = Field(
        default_factory=dict, description="the item's data, validated when an item starts"
    )
    start: Start
    states: dict[Ident, State]
