"""Form fields: each well formed, and each fitting the data field it fills."""

from __future__ import annotations

from cmc_workflow.definition.checks.structure import transition_paths
from cmc_workflow.definition.models import FieldSpec, Workflow
from cmc_workflow.errors import Problem
from cmc_workflow.i18n import tr
from cmc_workflow.located import Located, Path


def _field_problems(spec: FieldSpec, path: Path, doc: Located) -> list[Problem]:
    if spec.type == "choice" and not spec.choices:
        return [
            doc.problem(
                path,
                "E-FIELD-CHOICES",
                tr("a choice field needs choices:"),
                tr("list the allowed values"),
                key=True,
            )
        ]
    if spec.choices is not None and spec.type not in ("choice", "list"):
        return [
            doc.problem(
                (*path, "choices"),
                "E-FIELD-CHOICES",
                tr("choices: applies to choice and list fields, not {type}", type=spec.type),
                tr("remove choices:, or make the field a choice or a list"),
                key=True,
            )
        ]
    return []


_SAME_KIND = {"text": "string"}


def _fits(form: FieldSpec, data: FieldSpec) -> bool:
    """Whether every value the form field accepts is also valid for the data field."""
    if _SAME_KIND.get(form.type, form.type) != _SAME_KIND.get(data.type, data.type):
        return False
    return data.choices is None or set(form.choices or ()) <= set(data.choices)


def form_problems(wf: Workflow, doc: Located) -> list[Problem]:
    out: list[Problem] = []
    for field, spec in wf.data.items():
        out += _field_problems(spec, ("data", field), doc)
    for _name, state, i, path in transition_paths(wf):
        for field, spec in state.transitions[i].form.items():
            out += _field_problems(spec, (*path, "form", field), doc)
            kept = wf.data.get(field)
            if kept is not None and not _fits(spec, kept):
                out.append(
                    doc.problem(
                        (*path, "form", field),
                        "E-FORM-DATA-CLASH",
                        tr(
                            "form field {field} is also a data field, of another type or choices "
                            "({type} here, {type2} under data:): a submitted value is merged into "
                            "the data and would never be valid for both",
                            field=repr(field),
                            type=spec.type,
                            type2=kept.type,
                        ),
                        tr(
                            "rename the form field (e.g. {field}_note), or give it the data "
                            "field's type and choices",
                            field=field,
                        ),
                        key=True,
                    )
                )
    return out
