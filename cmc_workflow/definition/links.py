"""Checks of the links between workflows: ``starts:``, ``collects:``, ``children_closed``.

Within one file (:func:`check_links`): the expressions of ``starts:`` compile and the
``count`` of ``collects:`` is an integer data field. Across the loaded set
(:func:`check_link_set`): the workflows named exist, a child's data names its fields and
gives every required one, and a gathering names states, a trigger and a link field that
the gathered workflow has.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping

from cmc_workflow.definition.guards import GuardSyntaxError, compile_expression
from cmc_workflow.definition.loaded import LoadedWorkflow
from cmc_workflow.definition.models import Transition, Workflow
from cmc_workflow.errors import Problem
from cmc_workflow.i18n import N_, tr
from cmc_workflow.located import Located, Path, load_located

_HINT = N_("write form.<field>, data.<field>, item.id, each.<key>, or a quoted literal: \"'x'\"")


def _linking(wf: Workflow) -> Iterator[tuple[Transition, Path]]:
    for name, state in wf.states.items():
        for i, t in enumerate(state.transitions):
            if t.starts or t.collects is not None:
                yield t, ("states", name, "transitions", i)


def check_links(wf: Workflow, doc: Located) -> list[Problem]:
    """The problems of ``wf``'s links that one file shows."""
    out: list[Problem] = []
    for t, path in _linking(wf):
        for k, child in enumerate(t.starts):
            base: Path = (*path, "starts", k)
            exprs: list[tuple[Path, str]] = [((*base, "data", f), e) for f, e in child.data.items()]
            if child.for_each is not None:
                exprs.append(((*base, "for_each"), child.for_each))
            for where, source in exprs:
                try:
                    compiled = compile_expression(source)
                except GuardSyntaxError as exc:
                    what = tr("expression")
                    out.append(doc.expression_problem(where, what, source, exc, tr(_HINT)))
                    continue
                if child.for_each is None and _reads_each(compiled.source):
                    out.append(
                        doc.problem(
                            where,
                            "E-STARTS-EACH",
                            tr(
                                "expression {source} reads 'each', but this entry has no for_each:",
                                source=repr(source),
                            ),
                            tr("add for_each: <a list expression>, or read data./form. instead"),
                        )
                    )
        spec = t.collects
        if spec is not None and spec.count is not None:
            field = wf.data.get(spec.count)
            if field is None or field.type != "integer":
                out.append(
                    doc.problem(
                        (*path, "collects", "count"),
                        "E-COLLECTS-COUNT",
                        tr(
                            "count: {count} must be an integer field declared under data:",
                            count=repr(spec.count),
                        ),
                        tr(
                            "declare {count}: {{type: integer, required: false}} under data:",
                            count=spec.count,
                        ),
                    )
                )
    return out


def _reads_each(source: str) -> bool:
    tree = ast.parse(source.strip(), mode="eval")
    return any(isinstance(n, ast.Name) and n.id == "each" for n in ast.walk(tree))


def check_link_set(
    workflows: Mapping[str, LoadedWorkflow], located: Mapping[str, Located] | None = None
) -> list[Problem]:
    """The problems of every workflow's links against the other loaded workflows
    (``located``: the workflows' located documents, parsed again when not given)."""
    out: list[Problem] = []
    for loaded in workflows.values():
        wf = loaded.definition
        links = list(_linking(wf))
        if not links:
            continue
        doc = (located or {}).get(wf.id) or load_located(loaded.source, loaded.file)[0]
        for t, path in links:
            for k, child in enumerate(t.starts):
                out += _child_problems(
                    child.workflow, child.data, (*path, "starts", k), doc, workflows
                )
            if t.collects is not None:
                out += _collect_problems(t, (*path, "collects"), doc, workflows)
    return out


def _child_problems(
    target: str,
    data: Mapping[str, str],
    base: Path,
    doc: Located,
    workflows: Mapping[str, LoadedWorkflow],
) -> list[Problem]:
    other = workflows.get(target)
    if other is None:
        return [
            doc.problem(
                (*base, "workflow"),
                "E-LINK-WORKFLOW",
                tr("workflow {target} is not loaded", target=repr(target)),
                tr("loaded workflows: {names}", names=", ".join(sorted(workflows))),
            )
        ]
    spec = other.definition.data
    out = [
        doc.problem(
            (*base, "data", name),
            "E-STARTS-FIELD",
            tr("{target} has no data field {name}", target=target, name=repr(name)),
            tr(
                "its data fields: {fields}",
                fields=", ".join(sorted(spec)) or "none",
            ),
            key=True,
        )
        for name in data
        if name not in spec
    ]
    missing = sorted(n for n, f in spec.items() if f.required and n not in data)
    if missing:
        out.append(
            doc.problem(
                (*base, "data") if data else base,
                "E-STARTS-FIELD",
                tr(
                    "{target} requires the data field(s) {names}, which this entry does not give",
                    target=target,
                    names=", ".join(missing),
                ),
                tr("map each required field to an expression, e.g. title: form.title"),
                key=True,
            )
        )
    return out


def _collect_problems(
    t: Transition, base: Path, doc: Located, workflows: Mapping[str, LoadedWorkflow]
) -> list[Problem]:
    spec = t.collects
    assert spec is not None
    other = workflows.get(spec.workflow)
    if other is None:
        return [
            doc.problem(
                (*base, "workflow"),
                "E-LINK-WORKFLOW",
                tr("workflow {workflow} is not loaded", workflow=repr(spec.workflow)),
                tr("loaded workflows: {names}", names=", ".join(sorted(workflows))),
            )
        ]
    states = other.definition.states
    out: list[Problem] = []
    for i, name in enumerate(spec.states):
        state = states.get(name)
        if state is None:
            out.append(
                doc.problem(
                    (*base, "states", i),
                    "E-UNKNOWN-STATE",
                    tr("{workflow} has no state {name}", workflow=spec.workflow, name=repr(name)),
                    tr("its states: {names}", names=", ".join(sorted(states))),
                )
            )
            continue
        ways = [x for x in state.transitions if x.trigger == spec.trigger]
        if not ways:
            out.append(
                doc.problem(
                    (*base, "trigger"),
                    "E-COLLECTS-TRIGGER",
                    tr(
                        "{workflow} cannot fire {trigger} in state {name}",
                        workflow=spec.workflow,
                        trigger=repr(spec.trigger),
                        name=repr(name),
                    ),
                    tr("name a trigger of every state gathered from"),
                )
            )
            continue
        for way in ways:
            if spec.link is not None and spec.link not in way.form:
                out.append(
                    doc.problem(
                        (*base, "link"),
                        "E-COLLECTS-LINK",
                        tr(
                            "{workflow}'s {trigger} in {name} has no form field {link} to receive "
                            "this item's id",
                            workflow=spec.workflow,
                            trigger=repr(spec.trigger),
                            name=repr(name),
                            link=repr(spec.link),
                        ),
                        tr(
                            "declare {link}: {{type: integer}} in that transition's form",
                            link=spec.link,
                        ),
                    )
                )
            others = sorted(f for f, s in way.form.items() if s.required and f != spec.link)
            if others:
                out.append(
                    doc.problem(
                        (*base, "trigger"),
                        "E-COLLECTS-TRIGGER",
                        tr(
                            "{workflow}'s {trigger} in {name} requires the form field(s) {names}, "
                            "which a gathering cannot fill",
                            workflow=spec.workflow,
                            trigger=repr(spec.trigger),
                            name=repr(name),
                            names=", ".join(others),
                        ),
                        tr("make them optional, or gather with a trigger without a form"),
                    )
                )
    return out
