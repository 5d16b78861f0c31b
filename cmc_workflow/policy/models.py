"""The policy language: frozen pydantic models of ``kind: policy`` files.

A policy file says who may do what in the workflows, beyond the role lists the workflows
declare themselves: roles with Chinese labels and inheritance, tightened permissions, and
rules of ten kinds (``distinct_actors``, ``required_stages``, ``requires_record``,
``forbid_data``, ``attestations``, ``scoping``, ``covered_by_records``, ``silence``,
``unique_start``, ``confirm_figures``).
Loading follows the workflow language: located YAML -> these models -> the checks one
file can make alone (:mod:`cmc_workflow.policy.load`: step references, expressions,
duplicate ids). What needs every file at once (the workflows named, roles declared
elsewhere, the static proof) is checked by :mod:`cmc_workflow.policy.checks`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from cmc_workflow.definition.models import Ident, Label, Model, RequirementId, empty_list

START_TRIGGER = "start"
"""The trigger name of a step that stands for starting an item (a step without a state)."""

SUBJECT_PATTERN = r"^(actor|data\.[a-z][a-z0-9_]*)$"

Subject = Annotated[str, StringConstraints(pattern=SUBJECT_PATTERN)]
Pair = Annotated[list[Ident], Field(min_length=2, max_length=2)]


class RoleSpec(Model):
    """A role of the organisation: its label, the roles it includes, how many may hold it."""

    label: Label
    description: str | None = None
    inherits: list[Ident] = Field(
        default_factory=empty_list,
        description="roles whose permissions a holder of this role also has",
    )
    max_holders: int | None = Field(
        default=None,
        ge=1,
        description="how many people may hold the role at once (e.g. 1 for a custodian); "
        "used to prove that separation-of-duty rules can be met",
    )


class StepRef(Model):
    """A named step of a workflow: firing ``trigger`` in ``state`` (or starting an item)."""

    state: Ident | None = Field(
        default=None, description="the state the trigger is fired in; omit for trigger: start"
    )
    trigger: Ident = Field(description="the trigger; 'start' without a state: starting an item")
    label: Label = Field(
        description="who does this step, in Chinese and English, e.g. en: first reviewer"
    )


class _Rule(Model):
    """What every rule has: a unique id, a description and the requirements it carries out."""

    id: Ident = Field(description="unique among all policy files; named in refusals and audit")
    description: str | None = None
    reason: Label | None = Field(
        default=None, description="the refusal's explanation (generated when omitted)"
    )
    implements: list[RequirementId] = Field(default_factory=empty_list)
    level: Literal["must", "should"] | None = Field(
        default=None,
        description="must: an unmet rule refuses; should: it lets the command through and "
        "records a warning in its audit record (default: should when every id it implements "
        "is a should or a may, else must)",
    )
    enforce: Literal["refuse", "warn"] | None = Field(
        default=None,
        description="the administrator's override of a should rule: refuse raises it to a "
        "refusal; warn keeps the default (a must rule always refuses)",
    )


class DistinctActors(_Rule):
    """Separation of duties: the people doing the named steps must differ."""

    steps: list[Ident] = Field(min_length=1, description="names of steps (under steps:)")
    pairs: list[Pair] | None = Field(
        default=None,
        description="the pairs of steps whose actors must differ (default: every pair); "
        "a pair of one step twice means its repetitions need different people",
    )
    within: Literal["round", "item"] = Field(
        default="round",
        description="'round': since the item last entered a rework state; 'item': ever",
    )


class RequiredStages(_Rule):
    """An item may only enter a state after approvals of the named steps, in order."""

    enter: Ident = Field(description="the guarded state")
    stages: list[Ident] = Field(
        min_length=1, description="names of steps that must have happened, in this order"
    )


class _PersonRecord(_Rule):
    """What a rule asking for a person's record names: where the records are kept, which
    count, and the field that names the person."""

    workflow: Ident = Field(description="the workflow that keeps the records")
    states: list[Ident] = Field(
        min_length=1, description="states a record item must rest in (e.g. passed)"
    )
    field: Ident = Field(description="the record's data field that holds the person's id")
    where: str | None = Field(
        default=None, description="condition over the record's data, e.g. data.course == 'x'"
    )
    valid_until: Ident | None = Field(
        default=None, description="the record's date field; a record past it does not count"
    )


class Covers(Model):
    """Every entry of a list held by the record must be among a list of the judged item
    (e.g. each metric of the set in force among the metrics an analysis covers)."""

    record: Ident = Field(description="the record's list field whose every entry is asked for")
    item: Subject = Field(
        description="'data.<field>': the judged item's list that must hold each of them"
    )


class RequiresRecord(_PersonRecord):
    """The actor (or a person named in the item) needs a completed item of another workflow."""

    steps: list[Ident] = Field(min_length=1, description="names of the steps this rule guards")
    subject: Subject = Field(
        default="actor",
        description="whose record: 'actor', or 'data.<field>' (a person id or a list of them)",
    )
    when: str | None = Field(
        default=None,
        description="a condition over the judged item (data/form/actor, the guard language): "
        "the rule asks for the record only when it holds, e.g. data.platform == 'wechat'",
    )
    covers: Covers | None = Field(
        default=None,
        description="a record counts only when every entry of its list field `record` is "
        "in the judged item's list `item` (the refusal names the entries missing)",
    )


class ForbidData(_Rule):
    """Refuse commands on items whose data matches a condition."""

    steps: list[Ident] = Field(
        default_factory=empty_list, description="names of steps it guards (default: every command)"
    )
    when: str | None = Field(
        default=None, description="condition over data/form/actor, e.g. data.monetization == true"
    )
    expired: Ident | None = Field(
        default=None, description="a date field of the item: refused once that date has passed"
    )


class Attestation(_Rule):
    """Review attestations: the named boolean form fields must all be true."""

    steps: list[Ident] = Field(min_length=1, description="names of the steps that attest")
    require_true: list[Ident] = Field(
        min_length=1, description="boolean fields of those steps' forms that must be true"
    )


class CoveredByRecords(_Rule):
    """Each value of a list field (e.g. a self-media channel) must be carried by a record
    of another workflow that the item names (e.g. an operating account of that platform)."""

    enter: list[Ident] = Field(
        min_length=1, description="states whose entry is judged (e.g. publishing)"
    )
    values: Subject = Field(description="'data.<field>': the list whose values need a carrier")
    only: list[str] | None = Field(
        default=None, description="the values that need one (default: every value)"
    )
    named_in: Subject = Field(description="'data.<field>': the ids of the records named")
    workflow: Ident = Field(description="the workflow that keeps the records")
    states: list[Ident] = Field(min_length=1, description="states a carrier must rest in")
    field: Ident = Field(description="the record's data field holding the id named")
    match: Ident = Field(description="the record's data field that must equal the value")
    where: str | None = Field(
        default=None, description="condition over the record's data, e.g. data.x == true"
    )
    valid_until: Ident | None = Field(
        default=None, description="the record's date field; a record past it does not count"
    )


class UniqueStart(_Rule):
    """Starting an item is refused while another item of the workflow resting in ``states``
    holds the same value of ``field`` (one register entry per account id)."""

    field: Ident = Field(description="the data field whose value must be unique")
    states: list[Ident] = Field(
        min_length=1, description="states of the items that still hold their value"
    )


class SilenceSubjects(Model):
    """Who must be heard from: items of a workflow resting in some states."""

    workflow: Ident
    states: list[Ident] = Field(min_length=1)
    field: Ident = Field(description="the data field holding the subject's id")
    interval: Ident | None = Field(
        default=None,
        description="the subject's own integer field of days allowed (its configured "
        "interval); where a subject has none, the judged item's interval counts",
    )


class SilencePublications(Model):
    """What counts as being heard from: an item of a workflow entering a state."""

    workflow: Ident
    entered: Ident = Field(description="the state whose entry is a publication")
    source: list[Ident] | None = Field(
        default=None,
        description="only entries from these states count (default: from any other state)",
    )
    field: Ident = Field(description="the data field listing the subjects it reached")


class SilenceAlert(Model):
    """The step raising the alert, whose figures must be the computed ones."""

    steps: list[Ident] = Field(min_length=1, description="names of the alert steps")
    subjects: Ident = Field(description="the step's list form field naming the silent subjects")
    days: Ident = Field(description="the step's integer form field: the longest silence")


class Silence(_Rule):
    """Refuse steps (e.g. "every account is regular") while a subject has been silent,
    by the engine's own history, for longer than an interval in days; and refuse an
    alert whose silent subjects or days are not the ones the history shows."""

    steps: list[Ident] = Field(min_length=1, description="names of the steps it guards")
    subjects: SilenceSubjects
    publications: SilencePublications
    interval: Ident = Field(description="the judged item's integer field: days allowed")
    alert: SilenceAlert | None = Field(
        default=None,
        description="the alert step: it must name exactly the silent subjects and the "
        "longest silence, as computed from the history (not typed at will)",
    )


class ConfirmFigures(_Rule):
    """Steps that record figures computed from the store (RPT-3's complaint statistics,
    INS-7's yearly results) and are refused unless the person confirms them; a figure the
    person typed that differs from the computed one is refused
    (:mod:`cmc_workflow.policy.rules.figures`)."""

    steps: list[Ident] = Field(min_length=1, description="names of the steps it guards")
    figures: Literal["complaint_statistics", "self_media_year"] = Field(
        description="what to compute from the store"
    )
    period: Literal["year_before", "calendar_year_before"] = Field(
        description="the twelve months, or the calendar year, before the item's "
        "scheduled_for (else the command's time)"
    )
    record: Ident = Field(
        description="the data field the engine records the figures in (not a form field)"
    )
    confirm: Ident = Field(description="the step's boolean form field confirming the figures")
    matches: dict[Ident, Ident] = Field(
        default_factory=dict,
        description="form field -> figure: a value typed there must equal the computed figure",
    )
    confirm_when_empty: bool = Field(
        default=True,
        description="false: with nothing recorded to count (e.g. the first year), the step "
        "needs no confirmation",
    )


class Scoping(_Rule):
    """Actors acting only through ``roles`` reach only items whose data matches them."""

    roles: list[Ident] = Field(min_length=1, description="the scoped roles")
    attribute: Ident = Field(description="the actor attribute, e.g. application")
    field: Ident | None = Field(
        default=None,
        description="the item data field that must equal the attribute (a list field: "
        "must hold one of the actor's values); required unless match_state",
    )
    match_state: bool = Field(
        default=False,
        description="match the attribute against the state the item rests in instead of a "
        "data field (review authority per stage: review_stage first_review)",
    )
    states: list[Ident] | None = Field(
        default=None,
        description="the states whose commands and inbox it scopes (default: every state, "
        "starting an item included)",
    )
    without_attribute: Literal["nothing", "everything"] = Field(
        default="nothing",
        description="what an actor without the attribute reaches: nothing (default), or "
        "everything (the register's reading of a post whose scope names none: a lead of "
        "every channel)",
    )


class GlobalScoping(Scoping):
    """A scoping rule for many workflows (top-level ``scoping:``)."""

    workflows: list[Ident] | None = Field(
        default=None,
        description="the workflows it scopes (each must have the field); default: every "
        "workflow in which a scoped role acts and that has the field",
    )


class GlobalRequiresRecord(_PersonRecord):
    """A record every holder of a post needs wherever the post acts (top-level
    ``requires_record:``; TRN-3: nobody takes up a post without its basic training)."""

    roles: list[Ident] = Field(
        min_length=1, description="the posts (roles) whose holders need a record to act"
    )
    post_field: Ident = Field(description="the record's data field naming the post (role)")
    workflows: list[Ident] | None = Field(
        default=None,
        description="the workflows it guards; default: every loaded workflow in which one "
        "of the posts acts, except the records' own workflow",
    )


class WorkflowPolicy(Model):
    """What a policy file says about one workflow."""

    rework: list[Ident] = Field(
        default_factory=empty_list,
        description="states whose entry starts a new round (e.g. drafting after a rejection)",
    )
    steps: dict[Ident, StepRef] = Field(
        default_factory=dict, description="named steps the rules refer to"
    )
    start: list[Ident] | None = Field(
        default=None, description="roles that may start an item (tightens start.roles)"
    )
    permissions: dict[Ident, dict[Ident, list[Ident]]] = Field(
        default_factory=dict,
        description="state -> trigger -> roles allowed (tightens the workflow's roles)",
    )
    invalidate_approvals_on_edit: list[Ident] = Field(
        default_factory=empty_list,
        description="data fields whose edit invalidates earlier approvals (re-review)",
    )
    attestations: list[Attestation] = Field(default_factory=empty_list)
    distinct_actors: list[DistinctActors] = Field(default_factory=empty_list)
    required_stages: list[RequiredStages] = Field(default_factory=empty_list)
    requires_record: list[RequiresRecord] = Field(default_factory=empty_list)
    forbid_data: list[ForbidData] = Field(default_factory=empty_list)
    scoping: list[Scoping] = Field(default_factory=empty_list)
    covered_by_records: list[CoveredByRecords] = Field(default_factory=empty_list)
    silence: list[Silence] = Field(default_factory=empty_list)
    unique_start: list[UniqueStart] = Field(default_factory=empty_list)
    confirm_figures: list[ConfirmFigures] = Field(default_factory=empty_list)
    leads: list[Ident] | None = Field(
        default=None,
        description="roles whose holders may reassign this workflow's user tasks "
        "(cmc-workflow task reassign); default: channel_lead and ops_manager",
    )


class PolicyFile(Model):
    """A policy definition file (``kind: policy``)."""

    kind: Literal["policy"]
    id: Ident
    label: Label
    description: str | None = None
    implements: list[RequirementId] = Field(default_factory=empty_list)
    roles: dict[Ident, RoleSpec] = Field(
        default_factory=dict, description="roles with labels and inheritance"
    )
    scoping: list[GlobalScoping] = Field(
        default_factory=empty_list, description="scoping rules over several workflows"
    )
    requires_record: list[GlobalRequiresRecord] = Field(
        default_factory=empty_list, description="records a post's holders need wherever it acts"
    )
    workflows: dict[Ident, WorkflowPolicy] = Field(
        default_factory=dict, description="rules per workflow id"
    )


RULE_KINDS: tuple[str, ...] = (
    "attestations",
    "distinct_actors",
    "required_stages",
    "requires_record",
    "forbid_data",
    "scoping",
    "covered_by_records",
    "silence",
    "unique_start",
    "confirm_figures",
)
"""The rule lists of a :class:`WorkflowPolicy`, in the order rules are judged."""

AnyRule = (
    Attestation
    | DistinctActors
    | RequiredStages
    | RequiresRecord
    | ForbidData
    | Scoping
    | CoveredByRecords
    | Silence
    | UniqueStart
    | ConfirmFigures
)


def rules_of(section: WorkflowPolicy) -> Iterator[tuple[str, int, AnyRule]]:
    """Every rule of a workflow section with its kind and index in that kind's list."""
    for kind in RULE_KINDS:
        for i, rule in enumerate(getattr(section, kind)):
            yield kind, i, rule
