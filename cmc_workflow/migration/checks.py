"""The policies against one version of a workflow: the same checks and static proof that
``Engine.open`` runs on the loaded files (:data:`cmc_workflow.language.KINDS`), with the
workflow replaced by the version items would move onto."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cmc_workflow.definition.links import check_link_set
from cmc_workflow.definition.loader import LoadedSet, LoadedWorkflow
from cmc_workflow.errors import Problem
from cmc_workflow.language import KINDS, load_paths
from cmc_workflow.located import load_located
from cmc_workflow.policy.checks import build_policy_set

Definitions = Sequence[str | Path] | LoadedSet
"""Where the other definitions come from: paths to load, or a set already loaded (an
engine's own: :func:`engine_definitions`)."""


def loaded_with(definitions: Definitions, version: LoadedWorkflow) -> LoadedSet:
    """The definitions with ``version`` in place of its workflow's file, and every problem
    between them (links, schedules, policies and their proof)."""
    if isinstance(definitions, LoadedSet):
        loaded = LoadedSet(
            dict(definitions.workflows),
            {kind: list(found) for kind, found in definitions.others.items()},
            [],
            dict(definitions.located),
        )
        for wf_id, workflow in loaded.workflows.items():
            if wf_id not in loaded.located:  # the places problems are reported at
                loaded.located[wf_id] = load_located(workflow.source, workflow.file)[0]
    else:
        loaded = load_paths(list(definitions), across=False)
    if loaded.problems:
        return loaded
    doc, problems = load_located(version.source, version.file)
    loaded.workflows[version.definition.id] = version
    loaded.located[version.definition.id] = doc
    loaded.problems += problems
    if not loaded.problems:
        loaded.problems += check_link_set(loaded.workflows, loaded.located)
    if not loaded.problems:
        for kind in KINDS.values():
            if kind.check_set is not None:
                loaded.problems += kind.check_set(loaded)
    return loaded


def proof_problems(definitions: Definitions, version: LoadedWorkflow) -> list[Problem]:
    """What the policy files (and the other definitions) find wrong with ``version``."""
    return loaded_with(definitions, version).problems


def rules_with(
    definitions: Definitions, version: LoadedWorkflow
) -> tuple[dict[str, str], list[Problem]]:
    """The policy rules applying to ``version`` (id -> kind and what it demands), and the
    problems the policies have with it."""
    loaded = loaded_with(definitions, version)
    if loaded.problems:
        return {}, loaded.problems
    policy_set, problems = build_policy_set(loaded)
    rules = {}
    for rule in policy_set.rules_for(version.definition.id):
        try:
            en, _zh = rule.describe()
        except NotImplementedError:  # a rule without a description: its kind says enough
            en = ""
        rules[rule.id] = f"{rule.kind}: {en}" if en else rule.kind
    return rules, problems
