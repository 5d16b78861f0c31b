"""Commands about policies: ``policy check``, ``policy schema``, ``who-can`` and
``explain-denial`` (the audit log's commands are :mod:`cmc_workflow.cli.audit`).

Exit codes: 0 done (``policy check``: no problem; ``explain-denial``: the actor may fire
the trigger now); 1 a definition file has problems (``file:line:col: CODE message``);
2 a usage error, or ``explain-denial`` explains a refusal; 3 the database failed or
needs an upgrade.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from cmc_workflow.cli.exits import Exit
from cmc_workflow.cli.findings import chosen, format_option, problem_json, report
from cmc_workflow.cli.help import Command as HelpCommand
from cmc_workflow.cli.help import Group
from cmc_workflow.cli.options import (
    Settings,
    actor_options,
    engine_options,
    json_option,
    need,
    policies_option,
    workflows_option,
)
from cmc_workflow.cli.output import emit_json
from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.definition.loader import LoadedSet, load_workflow_text
from cmc_workflow.definition.models import Workflow
from cmc_workflow.engine import Engine
from cmc_workflow.errors import GuardRejected
from cmc_workflow.extensions import Command
from cmc_workflow.i18n import N_, heading, joined, shown, tr
from cmc_workflow.language import load_paths
from cmc_workflow.model import Actor, Allowed
from cmc_workflow.policy import PolicySet, build_policy_set
from cmc_workflow.policy.extension import denials
from cmc_workflow.policy.policyset import unscoped
from cmc_workflow.policy.schema import render_policy_schema


def _load(
    workflows: Sequence[str], policies: Sequence[str], command: str, fmt: str, strict: bool
) -> tuple[LoadedSet, PolicySet]:
    """Every definition and the policy set. On an error, print the problems in ``fmt``
    (a JSON or SARIF document on stdout, text on stderr) and exit 1."""
    loaded = load_paths(
        [*need(workflows, "--workflows", "workflows"), *need(policies, "--policies", "policies")]
    )
    if loaded.problems:
        problems = [*loaded.problems, *loaded.warnings]
        code = report(command, problems, fmt=fmt, strict=strict, text_err=True)
        sys.exit(Exit(code))
    policy, problems = build_policy_set(loaded)
    assert not problems  # load_paths ran the same checks
    return loaded, policy


# -- policy check / schema --------------------------------------------------------------------
@click.group(
    "policy",
    cls=Group,
    help=N_("Check policy files against the workflows; print their JSON Schema."),
)
def policy_group() -> None:
    pass


@policy_group.command(
    "check",
    help=N_(
        "Load workflows and policies, check every reference and prove the rules on the "
        "workflow graphs; print problems as file:line:col: CODE message (exit 1), else "
        "a summary of what was proven (exit 0).\n\n"
        "--json (or --format json) prints one JSON document on stdout, problems or not; "
        "--format sarif a SARIF 2.1.0 log of the problems. Warnings (W- codes) fail the "
        "check only with --strict."
    ),
)
@workflows_option
@policies_option
@json_option
@format_option
def check(
    workflows: list[str], policies: list[str], as_json: bool, fmt: str | None, strict: bool
) -> None:
    fmt = chosen(fmt, as_json)
    loaded, policy = _load(workflows, policies, "policy check", fmt, strict)
    compiled = {wf_id: CompiledWorkflow(lw) for wf_id, lw in loaded.workflows.items()}
    proven = [
        {
            "workflow": wf_id,
            "rule": rule.id,
            "kind": rule.kind,
            "en": rule.describe()[0],
            "zh": rule.describe()[1],
        }
        for wf_id in sorted(policy.workflows)
        for rule in policy.rules_for(wf_id)
    ]
    notes = unscoped(policy, compiled)
    if fmt != "text":
        extra = {
            "workflows": sorted(loaded.workflows),
            "policy_files": [doc.file for doc, _ in policy.files],
            "rules": proven,
            "unscoped": notes,
        }
        code = report("policy check", loaded.warnings, fmt=fmt, strict=strict, extra=extra)
        sys.exit(Exit(code))
    code = report("policy check", loaded.warnings, fmt=fmt, strict=strict, text_err=True)
    click.echo(
        f"{len(loaded.workflows)} workflows, {len(policy.files)} policy files, "
        f"{len(proven)} rules: no problem found."
    )
    stages = [p for p in proven if p["kind"] == "required_stages"]
    for p in stages:
        click.echo(f"proven on the graph of {p['workflow']}: {p['en']} ({p['rule']})")
    for note in notes:
        click.echo(f"note: not scoped: {note}")
    sys.exit(Exit(code))


@policy_group.command(
    "schema",
    help=N_(
        "Print the JSON Schema (draft-07) of policy files.\n\n"
        "Regenerate the checked-in copy with: cmc-workflow policy schema > "
        "schema/policy.schema.json"
    ),
)
def schema() -> None:
    click.echo(render_policy_schema(), nl=False)


# -- who-can -----------------------------------------------------------------------------------
def _role_names(policy: PolicySet, roles: frozenset[str] | None, wf: Workflow) -> str:
    if roles is None:
        return "—"
    if not roles:
        return heading(N_("(nobody)"))
    out = []
    for role in sorted(roles):
        info = policy.roles.declared.get(role)
        label = (
            info.label.zh if info is not None else (wf.roles[role].zh if role in wf.roles else "")
        )
        out.append(f"{role} {label}".strip())
    return ", ".join(out)


@click.command(
    "who-can",
    cls=HelpCommand,
    help=N_(
        "Which roles may fire each trigger of STATE in WORKFLOW once policies apply, "
        "and under which rules.\n\n"
        "--json (or --format json) prints one JSON document on stdout, also when a file "
        "has problems (then exit 1); --format sarif prints the files' problems as SARIF "
        "2.1.0."
    ),
)
@click.argument("workflow")
@click.argument("state")
@workflows_option
@policies_option
@json_option
@format_option
def who_can(
    workflow: str,
    state: str,
    workflows: list[str],
    policies: list[str],
    as_json: bool,
    fmt: str | None,
    strict: bool,
) -> None:
    fmt = chosen(fmt, as_json)
    as_json = fmt == "json"
    loaded, policy = _load(workflows, policies, "who-can", fmt, strict)
    if fmt == "sarif":
        sys.exit(Exit(report("who-can", loaded.warnings, fmt=fmt, strict=strict)))
    if fmt == "text":
        report("who-can", loaded.warnings, fmt=fmt, strict=strict, text_err=True)
    if workflow not in loaded.workflows:
        raise click.BadParameter(
            f"no workflow {workflow!r} (loaded: {', '.join(sorted(loaded.workflows))})",
            param_hint="WORKFLOW",
        )
    wf = CompiledWorkflow(loaded.workflows[workflow])
    definition = wf.definition
    if state not in definition.states:
        raise click.BadParameter(
            f"{workflow!r} has no state {state!r} (states: {', '.join(definition.states)})",
            param_hint="STATE",
        )
    spec = definition.states[state]
    entries = policy.who_can(wf, state)
    if as_json:
        emit_json(
            {
                "command": "who-can",
                "ok": True,
                "problems": [problem_json(p) for p in loaded.warnings],
                "workflow": workflow,
                "state": state,
                "type": spec.type,
                "triggers": [
                    {
                        "trigger": e.trigger,
                        "target": e.target,
                        "workflow_roles": sorted(e.workflow_roles),
                        "policy_roles": None if e.policy_roles is None else sorted(e.policy_roles),
                        "may_fire": sorted(e.may_fire),
                        "rules": [
                            {"rule": r[0], "kind": r[1], "en": r[2], "zh": r[3]} for r in e.rules
                        ],
                    }
                    for e in entries
                ],
            }
        )
        return
    click.echo(f"{definition.label.zh} ({workflow}) · {spec.label.zh} / {spec.label.en} ({state})")
    if spec.type != "userTask":
        click.echo(f"{spec.type}: the engine moves items on here; no person fires anything.")
        return
    for e in entries:
        label = f"  {e.label.zh} / {e.label.en}" if e.label is not None else ""
        click.echo(f"\n{e.trigger} -> {e.target}{label}")
        click.echo(f"  workflow roles:  {_role_names(policy, e.workflow_roles, definition)}")
        if e.policy_roles is not None:
            click.echo(f"  policy allows:   {_role_names(policy, e.policy_roles, definition)}")
        click.echo(
            f"  may fire (with inherited roles): {_role_names(policy, e.may_fire, definition)}"
        )
        for rule_id, kind, en, zh in e.rules:
            click.echo(f"  rule {rule_id} ({kind}): {zh} / {en}")


# -- explain-denial ----------------------------------------------------------------------------
def _compiled_for(engine: Engine, tx: Any, definition_id: int, workflow: str) -> CompiledWorkflow:
    """The compiled version an item runs on (the current one, or its stored text)."""
    row = tx.definition(definition_id)
    current = engine.workflow(workflow)
    if row is None or row.content_hash == current.content_hash:
        return current
    return CompiledWorkflow(load_workflow_text(row.source_text, row.source_file))


def _probe(engine: Engine, item_id: int, trigger: str, actor: Actor) -> list[tuple[str, str, str]]:
    """Every policy refusal of ``trigger`` for ``actor`` now, in both languages."""
    for extension in engine.extensions:
        actor = extension.resolve(actor)
    with engine.store.read() as tx:
        row = tx.item(item_id)
        if row is None:
            return []
        wf = _compiled_for(engine, tx, row.definition_id, row.workflow_id)
        edges = [e for e in wf.edges(row.state) if e.trigger == trigger]
        if not edges:
            return []
        scope = {
            "data": dict(row.data),
            "form": {},
            "actor": {"id": actor.id, "roles": sorted(actor.roles), **actor.attributes},
        }
        try:
            edge = wf.take(row.state, trigger, scope)
        except GuardRejected:
            edge = edges[0]
        command = Command(
            "fire",
            actor,
            wf,
            row,
            trigger,
            edge,
            {},
            dict(row.data),
            edge.target,
            engine.clock(),
            probe=True,
        )
        return denials(engine.extensions, command, tx)


@click.command(
    "explain-denial",
    cls=HelpCommand,
    help=N_(
        "Explain whether --actor may fire TRIGGER on ITEM now, and if not, which rules "
        "refuse it and why (in Chinese and English); also the last refusal the audit "
        "log recorded for them. Exit 0 when allowed, 2 when refused."
    ),
)
@click.argument("item_id", metavar="ITEM", type=int)
@click.argument("trigger")
@engine_options
@actor_options
def explain_denial(settings: Settings, *, item_id: int, trigger: str, actor: Actor) -> None:
    with settings.open_engine() as engine:
        item = engine.get(item_id)
        entries = engine.allowed(item_id, actor)
        entry = next((a for a in entries if a.trigger == trigger), None)
        policy_reasons = _probe(engine, item_id, trigger, actor)
        last = [
            a
            for a in engine.audit_trail(item_id)
            if a["outcome"] == "refused" and a["actor"] == actor.id and a["trigger"] == trigger
        ]
    result = _explanation(item.workflow, item.state, trigger, actor, entries, entry, policy_reasons)
    if last:
        result["last_refusal"] = {
            "at": last[-1]["at"],
            "rule": last[-1]["rule"],
            "reason": last[-1]["reason"],
        }
    if settings.as_json:
        emit_json(result)
    else:
        _print_explanation(result, item_id)
    if not result["allowed"]:
        raise SystemExit(Exit.USAGE)


def _explanation(
    workflow: str,
    state: str,
    trigger: str,
    actor: Actor,
    entries: Sequence[Allowed],
    entry: Allowed | None,
    policy_reasons: Sequence[tuple[str, str, str]],
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "workflow": workflow,
        "state": state,
        "trigger": trigger,
        "actor": actor.id,
        "roles": sorted(actor.roles),
    }
    if entry is None:
        possible = joined(a.trigger for a in entries) if entries else tr("nothing")
        refusal = tr(
            "{trigger!r} cannot be fired in state {state!r}; possible: {possible}",
            trigger=trigger,
            state=state,
            possible=possible,
        )
        result.update(
            allowed=False,
            refusals=[{"rule": "InvalidTrigger", "en": refusal.en, "zh": refusal.zh}],
        )
        return result
    zh = {rule: (en, zh_text) for rule, en, zh_text in policy_reasons}
    refusals = []
    for rule, reason in zip(entry.rules, entry.reasons, strict=True):
        en, zh_text = zh.get(rule, (reason, ""))
        refusals.append({"rule": rule, "en": en, "zh": zh_text})
    result.update(allowed=entry.allowed, target=entry.target, refusals=refusals)
    if entry.form:
        result["form"] = list(entry.form)
    return result


def _print_explanation(result: dict[str, Any], item_id: int) -> None:
    click.echo(
        f"item {item_id} ({result['workflow']}, state {result['state']}) · trigger "
        f"{result['trigger']} · actor {result['actor']} [{', '.join(result['roles'])}]"
    )
    if result["allowed"]:
        click.echo(
            tr("allowed: {trigger} -> {target}", trigger=result["trigger"], target=result["target"])
        )
        if result.get("form"):
            click.echo(
                f"  the form ({', '.join(result['form'])}) is judged when it is fired "
                "(e.g. review checklists)"
            )
    else:
        click.echo(tr("refused:"))
        for r in result["refusals"]:
            click.echo(f"  - {r['rule']}")
            click.echo("      " + shown(r["en"], r["zh"], sep="\n      "))
    last = result.get("last_refusal")
    if last is not None:
        click.echo(
            f"last refusal recorded: {last['at'].isoformat()} {last['rule']}: {last['reason']}"
        )


COMMANDS: list[click.Command] = [policy_group, who_can, explain_denial]
"""The policy commands, registered by :mod:`cmc_workflow.cli`."""
