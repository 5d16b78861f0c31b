"""The policy language: frozen pydantic models of ``kind: policy`` files, and their loader.

A policy file says who may do what in the workflows, beyond the role lists the workflows
declare themselves: roles with Chinese labels and inheritance, tightened permissions, and
rules of nine kinds (``distinct_actors``, ``required_stages``, ``requires_record``,
``forbid_data``, ``attestations``, ``scoping``, ``covered_by_records``, ``silence``,
``unique_start``).
Loading follows the workflow language: located YAML -> these models -> the checks one
file can make alone (step references, expressions, duplicate ids). What needs every file
at once (the workflows named, roles declared elsewhere, the static proof) is checked
by :mod:`cmc_workflow.policy.checks`.

:func:`load_policy_doc` is the loader of the ``policy`` kind in
:data:`cmc_workflow.language.KINDS`, so ``load_paths`` (and with it
``cmc-workflow validate`` and ``Engine.open``) loads policy files next to workflows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, ValidationError

from cmc_workflow.definition.guards import GuardSyntaxError, compile_guard
from cmc_workflow.definition.loader import DEFINITION_CODES
from cmc_workflow.definition.models import Ident, Label, Model, RequirementId
from cmc_workflow.errors import Problem
from cmc_workflow.located import Located, Path
from cmc_workflow.problems import problems_from_validation

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
        default_factory=list,
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
    label: Label = Field(description="who does this step, e.g. 初审人/first reviewer")


class _Rule(Model):
    """What every rule has: a unique id, a description and the requirements it carries out."""

    id: Ident = Field(description="unique among all policy files; named in refusals and audit")
    description: str | None = None
    reason: Label | None = Field(
        default=None, description="the refusal's explanation (generated when omitted)"
    )
    implements: list[RequirementId] = Field(default_factory=list)


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


class RequiresRecord(_Rule):
    """The actor (or a person named in the item) needs a completed item of another workflow."""

    steps: list[Ident] = Field(min_length=1, description="names of the steps this rule guards")
    subject: Subject = Field(
        default="actor",
        description="whose record: 'actor', or 'data.<field>' (a person id or a list of them)",
    )
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


class ForbidData(_Rule):
    """Refuse commands on items whose data matches a condition."""

    steps: list[Ident] = Field(
        default_factory=list, description="names of steps it guards (default: every command)"
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


class Silence(_Rule):
    """Refuse steps (e.g. "every account is regular") while a subject has been silent,
    by the engine's own history, for longer than an interval in days."""

    steps: list[Ident] = Field(min_length=1, description="names of the steps it guards")
    subjects: SilenceSubjects
    publications: SilencePublications
    interval: Ident = Field(description="the judged item's integer field: days allowed")


class Scoping(_Rule):
    """Actors acting only through ``roles`` reach only items whose data matches them."""

    roles: list[Ident] = Field(min_length=1, description="the scoped roles")
    attribute: Ident = Field(description="the actor attribute, e.g. application")
    field: Ident = Field(description="the item data field that must equal the attribute")


class GlobalScoping(Scoping):
    """A scoping rule for many workflows (top-level ``scoping:``)."""

    workflows: list[Ident] | None = Field(
        default=None,
        description="the workflows it scopes (each must have the field); default: every "
        "workflow in which a scoped role acts and that has the field",
    )


class GlobalRequiresRecord(_Rule):
    """A record every holder of a post needs wherever the post acts (top-level
    ``requires_record:``; TRN-3: nobody takes up a post without its basic training)."""

    roles: list[Ident] = Field(
        min_length=1, description="the posts (roles) whose holders need a record to act"
    )
    post_field: Ident = Field(description="the record's data field naming the post (role)")
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
    workflows: list[Ident] | None = Field(
        default=None,
        description="the workflows it guards; default: every loaded workflow in which one "
        "of the posts acts, except the records' own workflow",
    )


class WorkflowPolicy(Model):
    """What a policy file says about one workflow."""

    rework: list[Ident] = Field(
        default_factory=list,
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
        default_factory=list,
        description="data fields whose edit invalidates earlier approvals (re-review)",
    )
    attestations: list[Attestation] = Field(default_factory=list)
    distinct_actors: list[DistinctActors] = Field(default_factory=list)
    required_stages: list[RequiredStages] = Field(default_factory=list)
    requires_record: list[RequiresRecord] = Field(default_factory=list)
    forbid_data: list[ForbidData] = Field(default_factory=list)
    scoping: list[Scoping] = Field(default_factory=list)
    covered_by_records: list[CoveredByRecords] = Field(default_factory=list)
    silence: list[Silence] = Field(default_factory=list)
    unique_start: list[UniqueStart] = Field(default_factory=list)


class PolicyFile(Model):
    """A policy definition file (``kind: policy``)."""

    kind: Literal["policy"]
    id: Ident
    label: Label
    description: str | None = None
    implements: list[RequirementId] = Field(default_factory=list)
    roles: dict[Ident, RoleSpec] = Field(
        default_factory=dict, description="roles with labels and inheritance"
    )
    scoping: list[GlobalScoping] = Field(
        default_factory=list, description="scoping rules over several workflows"
    )
    requires_record: list[GlobalRequiresRecord] = Field(
        default_factory=list, description="records a post's holders need wherever it acts"
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
)


def rules_of(section: WorkflowPolicy) -> Iterator[tuple[str, int, AnyRule]]:
    """Every rule of a workflow section with its kind and index in that kind's list."""
    for kind in RULE_KINDS:
        for i, rule in enumerate(getattr(section, kind)):
            yield kind, i, rule


# -- the checks one file can make alone ------------------------------------------------------


def check_policy(policy: PolicyFile, doc: Located) -> list[Problem]:
    """The problems of one policy file that need no other file, placed with ``doc``."""
    out: list[Problem] = []
    seen: dict[str, Path] = {}

    def rule_id(rule: AnyRule | GlobalRequiresRecord, path: Path) -> None:
        if rule.id in seen:
            first = doc.mark(seen[rule.id])
            out.append(
                doc.problem(
                    (*path, "id"),
                    "E-POLICY-DUPLICATE",
                    f"rule id {rule.id!r} is used twice (first at line {first.line})",
                    "rule ids name refusals in the audit log: give each rule its own",
                )
            )
        else:
            seen[rule.id] = (*path, "id")

    if (
        not policy.roles
        and not policy.scoping
        and not policy.workflows
        and not policy.requires_record
    ):
        out.append(
            doc.problem(
                ("id",),
                "E-POLICY-EMPTY",
                f"policy {policy.id!r} declares no role, no scoping, no record rule and no "
                "workflow rules "
                f"(a truncated or emptied file?) / 策略“{policy.id}”没有任何角色或规则"
                "（文件可能被截断或清空）",
                "a policy file guards something: restore its rules, or remove the file",
                key=True,
            )
        )
    for i, scoping in enumerate(policy.scoping):
        rule_id(scoping, ("scoping", i))
    for i, needs in enumerate(policy.requires_record):
        rule_id(needs, ("requires_record", i))
        out += _expressions(needs, ("requires_record", i), doc)
    for name, role in policy.roles.items():
        if name in role.inherits:
            j = role.inherits.index(name)
            out.append(
                doc.problem(
                    ("roles", name, "inherits", j),
                    "E-POLICY-ROLE-CYCLE",
                    f"role {name!r} inherits itself",
                    "remove it from its own inherits:",
                )
            )
    for wf_id, section in policy.workflows.items():
        base: Path = ("workflows", wf_id)
        for name, step in section.steps.items():
            if step.state is None and step.trigger != START_TRIGGER:
                out.append(
                    doc.problem(
                        (*base, "steps", name),
                        "E-POLICY-STEP",
                        f"step {name!r} names no state",
                        "give state: <state>, or use trigger: start for starting an item",
                        key=True,
                    )
                )
        for kind, i, rule in rules_of(section):
            path: Path = (*base, kind, i)
            rule_id(rule, path)
            out += _step_refs(rule, section, path, doc)
            out += _expressions(rule, path, doc)
            if isinstance(rule, ForbidData) and rule.when is None and rule.expired is None:
                out.append(
                    doc.problem(
                        path,
                        "E-POLICY-RULE",
                        f"forbid_data rule {rule.id!r} has neither when: nor expired:",
                        "say what refuses: when: <condition>, or expired: <date field>",
                    )
                )
            if isinstance(rule, DistinctActors) and rule.pairs is None and len(rule.steps) < 2:
                out.append(
                    doc.problem(
                        (*path, "steps"),
                        "E-POLICY-RULE",
                        f"distinct_actors rule {rule.id!r} names one step and no pairs",
                        "name two or more steps, or a pair [step, step] for repetitions",
                    )
                )
    return out


def _step_names(rule: AnyRule) -> Iterator[tuple[Path, str]]:
    if isinstance(rule, DistinctActors):
        for j, name in enumerate(rule.steps):
            yield ("steps", j), name
        for j, pair in enumerate(rule.pairs or []):
            for k, name in enumerate(pair):
                yield ("pairs", j, k), name
    elif isinstance(rule, RequiredStages):
        for j, name in enumerate(rule.stages):
            yield ("stages", j), name
    elif isinstance(rule, RequiresRecord | ForbidData | Attestation | Silence):
        for j, name in enumerate(rule.steps):
            yield ("steps", j), name


def _step_refs(rule: AnyRule, section: WorkflowPolicy, path: Path, doc: Located) -> list[Problem]:
    out: list[Problem] = []
    known = sorted(section.steps)
    for sub, name in _step_names(rule):
        if name not in section.steps:
            out.append(
                doc.problem(
                    (*path, *sub),
                    "E-POLICY-UNKNOWN-STEP",
                    f"step {name!r} is not declared under this workflow's steps:",
                    f"declared steps: {', '.join(known) or 'none'}",
                )
            )
        elif (
            isinstance(rule, DistinctActors)
            and rule.pairs is not None
            and sub[0] == "pairs"
            and name not in rule.steps
        ):
            out.append(
                doc.problem(
                    (*path, *sub),
                    "E-POLICY-UNKNOWN-STEP",
                    f"pair names step {name!r}, which is not among the rule's steps",
                    f"the rule's steps: {', '.join(rule.steps)}",
                )
            )
    return out


def _expressions(rule: AnyRule | GlobalRequiresRecord, path: Path, doc: Located) -> list[Problem]:
    key = "when" if isinstance(rule, ForbidData) else "where"
    source = getattr(rule, key, None)
    if source is None:
        return []
    where: Path = (*path, key)
    try:
        compile_guard(source)
    except GuardSyntaxError as exc:
        hint = "conditions use the guard language: data.<field>, ==, !=, <, in, and, or, not"
        return [doc.expression_problem(where, "condition", source, exc, hint)]
    return []


def load_policy_doc(doc: Located) -> tuple[PolicyFile | None, list[Problem]]:
    """Validate one located policy document and run the checks it allows alone."""
    if not isinstance(doc.data, dict):
        return None, [doc.problem((), "E-TYPE", "a policy file is a mapping with kind: policy")]
    try:
        policy = PolicyFile.model_validate(doc.data)
    except ValidationError as exc:
        return None, problems_from_validation(exc, doc, PolicyFile, DEFINITION_CODES)
    return policy, check_policy(policy, doc)
