"""A policy file on its own: the checks one file allows alone (duplicate rule ids, step
references, expressions), and :func:`load_policy_doc`, the loader of the ``policy`` kind in
:data:`cmc_workflow.language.KINDS`. What needs every file at once is checked by
:mod:`cmc_workflow.policy.checks`.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import ValidationError

from cmc_workflow.definition.guards import GuardSyntaxError, compile_condition, compile_guard
from cmc_workflow.definition.loader import DEFINITION_CODES
from cmc_workflow.errors import Problem
from cmc_workflow.i18n import Text, joined, tr
from cmc_workflow.located import Located, Path
from cmc_workflow.policy.models import (
    START_TRIGGER,
    AnyRule,
    Attestation,
    DistinctActors,
    ForbidData,
    GlobalRequiresRecord,
    PolicyFile,
    RequiredStages,
    RequiresRecord,
    Silence,
    WorkflowPolicy,
    rules_of,
)
from cmc_workflow.problems import problems_from_validation
from cmc_workflow.requirements import bundled_should_parts, rule_level


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
                    tr(
                        "rule id {id} is used twice (first at line {line})",
                        id=repr(rule.id),
                        line=first.line,
                    ),
                    tr("rule ids name refusals in the audit log: give each rule its own"),
                )
            )
        else:
            seen[rule.id] = (*path, "id")
        out.extend(_level_problems(rule, path, doc))

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
                tr(
                    "policy {id} declares no role, no scoping, no record rule and no workflow "
                    "rules (a truncated or emptied file?)",
                    id=Text(repr(policy.id), policy.id),
                ),
                tr("a policy file guards something: restore its rules, or remove the file"),
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
                    tr("role {name} inherits itself", name=repr(name)),
                    tr("remove it from its own inherits:"),
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
                        tr("step {name} names no state", name=repr(name)),
                        tr("give state: <state>, or use trigger: start for starting an item"),
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
                        tr(
                            "forbid_data rule {id} has neither when: nor expired:", id=repr(rule.id)
                        ),
                        tr("say what refuses: when: <condition>, or expired: <date field>"),
                    )
                )
            if isinstance(rule, DistinctActors) and rule.pairs is None and len(rule.steps) < 2:
                out.append(
                    doc.problem(
                        (*path, "steps"),
                        "E-POLICY-RULE",
                        tr(
                            "distinct_actors rule {id} names one step and no pairs",
                            id=repr(rule.id),
                        ),
                        tr("name two or more steps, or a pair [step, step] for repetitions"),
                    )
                )
    return out


def _level_problems(
    rule: AnyRule | GlobalRequiresRecord, path: Path, doc: Located
) -> list[Problem]:
    """A must is never lowered: ``level: should`` on a rule implementing a *must* id that
    states no *should* part (INS-5's screenshots, 宜, are one), and ``enforce: warn`` on a
    rule that is a *must*, are errors."""
    mixed = bundled_should_parts()
    musts = [i for i in rule.implements if rule_level([i]) == "must" and i not in mixed]
    out: list[Problem] = []
    if rule.level == "should" and musts:
        out.append(
            doc.problem(
                (*path, "level"),
                "E-POLICY-LEVEL",
                tr(
                    "rule {id} implements must requirement(s) {ids} and so cannot be level: should",
                    id=Text(repr(rule.id), rule.id),
                    ids=joined(musts),
                ),
                tr("remove level:, or cite only should ids, or ids with a should part"),
            )
        )
    level = rule.level or rule_level(rule.implements)
    if rule.enforce == "warn" and level == "must":
        out.append(
            doc.problem(
                (*path, "enforce"),
                "E-POLICY-LEVEL",
                tr(
                    "rule {id} is a must and always refuses: enforce: warn is only for should "
                    "rules",
                    id=Text(repr(rule.id), rule.id),
                ),
                tr("remove enforce:, or make the rule implement only should ids"),
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
                    tr("step {name} is not declared under this workflow's steps:", name=repr(name)),
                    tr("declared steps: {steps}", steps=joined(known) if known else tr("none")),
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
                    tr(
                        "pair names step {name}, which is not among the rule's steps",
                        name=repr(name),
                    ),
                    tr("the rule's steps: {steps}", steps=joined(rule.steps)),
                )
            )
    return out


def _expressions(rule: AnyRule | GlobalRequiresRecord, path: Path, doc: Located) -> list[Problem]:
    keys = ("when",) if isinstance(rule, ForbidData) else ("where", "when")
    out: list[Problem] = []
    for key in keys:
        source = getattr(rule, key, None)
        if source is None:
            continue
        where: Path = (*path, key)
        try:
            compile_condition(source) if isinstance(rule, ForbidData) else compile_guard(source)
        except GuardSyntaxError as exc:
            hint = tr(
                "conditions use the guard language: data.<field>, ==, !=, <, in, and, or, not"
            )
            out.append(doc.expression_problem(where, tr("condition"), source, exc, hint))
    return out


def load_policy_doc(doc: Located) -> tuple[PolicyFile | None, list[Problem]]:
    """Validate one located policy document and run the checks it allows alone."""
    if not isinstance(doc.data, dict):
        return None, [doc.problem((), "E-TYPE", tr("a policy file is a mapping with kind: policy"))]
    try:
        policy = PolicyFile.model_validate(doc.data)
    except ValidationError as exc:
        return None, problems_from_validation(exc, doc, PolicyFile, DEFINITION_CODES)
    return policy, check_policy(policy, doc)
