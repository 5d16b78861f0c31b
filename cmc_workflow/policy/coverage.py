"""Fail closed: a guarded effect runs only where a policy guards it.

A workflow declares the *guarded effects* it carries out (``effects:`` on a state, or on
a handler: every serviceTask running it has them). Loading fails when

* a state with a guarded effect has no ``required_stages`` rule entering it
  (``E-POLICY-UNGUARDED-EFFECT``) — also when no policy file is loaded at all, or the
  policy names other workflows only;
* the workflow declares (``implements:``) a requirement that the effect needs a policy
  for, and no rule of the kind the requirement needs carries it out
  (``E-POLICY-REQUIREMENT-UNENFORCED``), e.g. PUB-5 needs a ``required_stages`` rule on
  the publication and the review checklist (``attestations``) and the four eyes
  (``distinct_actors``); EMG-2 needs the approval pinned to its role by ``permissions:``.

So a truncated or emptied policy file is a load error, never a silent relaxation: the
rules the effects need are gone, and a file (or a workflow section) with no rule at all
is refused by :func:`cmc_workflow.policy.load.check_policy` (``E-POLICY-EMPTY``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from cmc_workflow.definition.loader import LoadedSet, LoadedWorkflow
from cmc_workflow.definition.models import GuardedEffect
from cmc_workflow.errors import Problem
from cmc_workflow.i18n import N_, Text, tr
from cmc_workflow.located import Located, Path
from cmc_workflow.policy.models import PolicyFile, RequiredStages, WorkflowPolicy, rules_of


@dataclass(frozen=True, slots=True)
class Need:
    """A rule a guarded effect needs when the workflow declares ``requirement``.

    ``kind`` is the rule list it must be in; for ``required_stages`` the rule must enter
    the effect's state, and ``pinned`` asks that its last stage (the decision that puts
    the effect in motion) is pinned to its roles by ``permissions:``.
    """

    requirement: str
    kind: str
    pinned: bool = False


EFFECT_LABELS: Mapping[str, str] = {
    "publication": N_("publication"),
    "account_release": N_("release to the self-media accounts"),
    "plan_in_force": N_("putting an emergency plan in force"),
}
"""What each guarded effect does, in words (msgids: ``tr()`` gives both languages)."""

EFFECT_NEEDS: Mapping[GuardedEffect, tuple[Need, ...]] = {
    # PUB-5 review stages with the checklist and four eyes; PUB-6 the sign-off (SM 5.3.3.1)
    "publication": (
        Need("PUB-5", "required_stages"),
        Need("PUB-5", "attestations"),
        Need("PUB-5", "distinct_actors"),
        Need("PUB-6", "required_stages", pinned=True),
        # ACC-2: a self-media channel goes out only through a qualified account of its own
        Need("ACC-2", "covered_by_records"),
    ),
    # the same piece, released by hand: reviewed, signed off, to qualified accounts (ACC-2)
    "account_release": (
        Need("PUB-5", "required_stages"),
        Need("PUB-6", "required_stages", pinned=True),
        Need("ACC-2", "requires_record"),
    ),
    # EMG-2: approved by the authority (pinned) before it is put in force
    "plan_in_force": (Need("EMG-2", "required_stages", pinned=True),),
}
"""What each guarded effect needs from the policies, per requirement id (every id listed
is a *must* of REQUIREMENTS.md). A need applies when the workflow declares the id in
``implements:``; whatever the workflow declares, the effect's state needs a
``required_stages`` rule entering it."""


def handler_effects(workflows: Iterable[LoadedWorkflow]) -> dict[str, set[GuardedEffect]]:
    """The guarded effects of each handler name, united over every loaded workflow that
    declares the handler: a handler is one piece of the embedding system's code, so a
    workflow that runs ``publish_to_channels`` publishes, whether or not its own
    ``handlers:`` entry repeats ``effects: [publication]``."""
    found: dict[str, set[GuardedEffect]] = {}
    for loaded in workflows:
        for name, handler in loaded.definition.handlers.items():
            found.setdefault(name, set()).update(handler.effects)
    return found


def effects_of(
    loaded: LoadedWorkflow, handlers: Mapping[str, set[GuardedEffect]] | None = None
) -> Iterator[tuple[str, GuardedEffect, Path]]:
    """Every (state, effect, place) of a workflow: the state's own ``effects:`` and those
    of the handler its serviceTask runs (its own declaration, and ``handlers``: what other
    loaded workflows declare of the same handler name)."""
    wf = loaded.definition
    for name, state in wf.states.items():
        for j, effect in enumerate(state.effects):
            yield name, effect, ("states", name, "effects", j)
        if state.handler is None:
            continue
        own = wf.handlers.get(state.handler)
        effects = set(own.effects) if own is not None else set()
        effects |= (handlers or {}).get(state.handler, set())
        for effect in sorted(effects):
            yield name, effect, ("states", name, "handler")


def coverage_problems(
    loaded: LoadedSet,
    files: Sequence[tuple[Located, PolicyFile]],
    doc_of: Callable[[LoadedWorkflow], Located],
) -> list[Problem]:
    """The guarded effects of ``loaded``'s workflows that the policy ``files`` leave
    unguarded, placed in the workflow files."""
    problems: list[Problem] = []
    shared = handler_effects(loaded.workflows.values())
    for wf_id, wf_loaded in sorted(loaded.workflows.items()):
        found = list(effects_of(wf_loaded, shared))
        if not found:
            continue
        sections = [s for _doc, p in files for w, s in p.workflows.items() if w == wf_id]
        doc = doc_of(wf_loaded)
        declared = wf_loaded.definition.implements
        for state, effect, path in found:
            guards = [
                (section, rule)
                for section in sections
                for rule in section.required_stages
                if rule.enter == state
            ]
            if not guards:
                problems.append(
                    doc.problem(
                        path,
                        "E-POLICY-UNGUARDED-EFFECT",
                        tr(
                            "state {state} of {workflow} carries out the guarded effect "
                            "{effect} ({label}), but no policy guards it: no required_stages "
                            "rule enters {state}",
                            state=Text(repr(state), state),
                            workflow=repr(wf_id),
                            effect=repr(effect),
                            label=tr(EFFECT_LABELS[effect]),
                        ),
                        tr(
                            "load the policy that guards {workflow} (e.g. policies/), with a "
                            "required_stages rule whose enter: is {state}",
                            workflow=repr(wf_id),
                            state=repr(state),
                        ),
                    )
                )
                continue  # the requirements below all wait on that guard
            for need in EFFECT_NEEDS[effect]:
                if need.requirement not in declared:
                    continue
                if _met(need, state, sections, guards):
                    continue
                j = declared.index(need.requirement)
                what = _needed(need, state)
                problems.append(
                    doc.problem(
                        ("implements", j),
                        "E-POLICY-REQUIREMENT-UNENFORCED",
                        tr(
                            "{workflow} implements {requirement}, which its {effect} "
                            "({label}) in state {state} carries out only under a policy, but "
                            "no policy has {needed} that implements {requirement}",
                            workflow=repr(wf_id),
                            requirement=need.requirement,
                            effect=repr(effect),
                            label=tr(EFFECT_LABELS[effect]),
                            state=repr(state),
                            needed=what,
                        ),
                        tr(
                            "add {needed} with implements: [{requirement}] to the policy of "
                            "{workflow}, or stop declaring {requirement}",
                            needed=what,
                            requirement=need.requirement,
                            workflow=repr(wf_id),
                        ),
                    )
                )
    return problems


def _met(
    need: Need,
    state: str,
    sections: Sequence[WorkflowPolicy],
    guards: Sequence[tuple[WorkflowPolicy, RequiredStages]],
) -> bool:
    if need.kind == "required_stages":
        for section, rule in guards:
            stages = rule.stages
            if need.requirement not in rule.implements:
                continue
            if not need.pinned:
                return True
            last = section.steps.get(stages[-1]) if stages else None
            if (
                last is not None
                and last.state is not None
                and section.permissions.get(last.state, {}).get(last.trigger)
            ):
                return True
        return False
    return any(
        kind == need.kind and need.requirement in rule.implements
        for section in sections
        for kind, _i, rule in rules_of(section)
    )


def _needed(need: Need, state: str) -> Text:
    """What ``need`` asks for, in English and Chinese."""
    if need.kind == "required_stages":
        return tr(
            "a required_stages rule entering {state}{pinned}",
            state=Text(repr(state), state),
            pinned=tr(" whose last stage is pinned by permissions:")
            if need.pinned
            else Text("", ""),
        )
    return tr("a rule under {kind}:", kind=need.kind)
