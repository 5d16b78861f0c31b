"""Commands about policies and the audit log: ``policy check``, ``policy schema``,
``who-can``, ``explain-denial``, ``audit verify`` and ``audit export``.

Exit codes: 0 done (``policy check``: no problem; ``explain-denial``: the actor may fire
the trigger now; ``audit verify``: the log is intact); 1 a definition file has problems
(``file:line:col: CODE message``), or ``audit verify`` found tampering; 2 a usage error,
or ``explain-denial`` explains a refusal; 3 the database failed or needs an upgrade.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click
from sqlalchemy.engine import make_url

from cmc_workflow.cli.items import (
    EXIT_DEFINITION,
    EXIT_REFUSED,
    Settings,
    actor_options,
    db_option,
    emit_json,
    engine_options,
    handled,
    json_option,
    plain,
)
from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.definition.loader import LoadedSet, load_paths, load_workflow_text
from cmc_workflow.definition.models import Workflow
from cmc_workflow.engine import Engine
from cmc_workflow.errors import DefinitionError, GuardRejected, StoreError
from cmc_workflow.extensions import Command
from cmc_workflow.log import configure_logging
from cmc_workflow.model import Actor, Allowed
from cmc_workflow.policy import Masker, PolicySet, build_policy_set, denials
from cmc_workflow.policy.policyset import unscoped
from cmc_workflow.policy.schema import render_policy_schema
from cmc_workflow.store import Store, StoreTx

EXIT_TAMPERED = 1

_workflows_option = click.option(
    "--workflows",
    "workflows_dir",
    default="workflows",
    show_default=True,
    envvar="CMC_WORKFLOWS",
    type=click.Path(exists=True),
    help="Workflow definitions (a folder or a file).",
)
_policies_option = click.option(
    "--policies",
    "policies_dir",
    default="policies",
    show_default=True,
    envvar="CMC_POLICIES",
    type=click.Path(exists=True),
    help="Policy definitions (a folder or a file).",
)


def _load(workflows_dir: str, policies_dir: str) -> tuple[LoadedSet, PolicySet]:
    """Every definition and the policy set; on problems print them and exit 1."""
    loaded = load_paths([workflows_dir, policies_dir])
    if loaded.problems:
        for problem in loaded.problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_DEFINITION)
    policy, problems = build_policy_set(loaded)
    assert not problems  # load_paths ran the same checks
    return loaded, policy


# -- policy check / schema --------------------------------------------------------------------
@click.group("policy")
def policy_group() -> None:
    """Check policy files against the workflows; print their JSON Schema."""


@policy_group.command("check")
@_workflows_option
@_policies_option
@json_option
def check(workflows_dir: str, policies_dir: str, as_json: bool) -> None:
    """Load workflows and policies, check every reference and prove the rules on the
    workflow graphs; print problems as file:line:col: CODE message (exit 1), else a
    summary of what was proven (exit 0)."""
    loaded, policy = _load(workflows_dir, policies_dir)
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
    if as_json:
        emit_json(
            {
                "workflows": sorted(loaded.workflows),
                "policy_files": [doc.file for doc, _ in policy.files],
                "rules": proven,
                "unscoped": notes,
            }
        )
        return
    click.echo(
        f"{len(loaded.workflows)} workflows, {len(policy.files)} policy files, "
        f"{len(proven)} rules: no problem found."
    )
    stages = [p for p in proven if p["kind"] == "required_stages"]
    for p in stages:
        click.echo(f"proven on the graph of {p['workflow']}: {p['en']} ({p['rule']})")
    for note in notes:
        click.echo(f"note: not scoped: {note}")


@policy_group.command("schema")
def schema() -> None:
    """Print the JSON Schema (draft-07) of policy files.

    Regenerate the checked-in copy with:
    cmc-workflow policy schema > schema/policy.schema.json
    """
    click.echo(render_policy_schema(), nl=False)


# -- who-can -----------------------------------------------------------------------------------
def _role_names(policy: PolicySet, roles: frozenset[str] | None, wf: Workflow) -> str:
    if roles is None:
        return "—"
    if not roles:
        return "（无 nobody）"
    out = []
    for role in sorted(roles):
        info = policy.roles.declared.get(role)
        label = (
            info.label.zh if info is not None else (wf.roles[role].zh if role in wf.roles else "")
        )
        out.append(f"{role} {label}".strip())
    return ", ".join(out)


@click.command("who-can")
@click.argument("workflow")
@click.argument("state")
@_workflows_option
@_policies_option
@json_option
def who_can(
    workflow: str, state: str, workflows_dir: str, policies_dir: str, as_json: bool
) -> None:
    """Which roles may fire each trigger of STATE in WORKFLOW once policies apply, and
    under which rules."""
    loaded, policy = _load(workflows_dir, policies_dir)
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


@click.command("explain-denial")
@click.argument("item_id", metavar="ITEM", type=int)
@click.argument("trigger")
@engine_options
@actor_options
def explain_denial(settings: Settings, *, item_id: int, trigger: str, actor: Actor) -> None:
    """Explain whether --actor may fire TRIGGER on ITEM now, and if not, which rules
    refuse it and why (in Chinese and English); also the last refusal the audit log
    recorded for them. Exit 0 when allowed, 2 when refused."""
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
        raise SystemExit(EXIT_REFUSED)


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
        possible = ", ".join(a.trigger for a in entries) or "nothing"
        result.update(
            allowed=False,
            refusals=[
                {
                    "rule": "InvalidTrigger",
                    "en": f"{trigger!r} cannot be fired in state {state!r}; possible: {possible}",
                    "zh": f"状态 {state} 下不能执行 {trigger}；可执行：{possible}",
                }
            ],
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
        click.echo(f"允许 / allowed: {result['trigger']} -> {result['target']}")
        if result.get("form"):
            click.echo(
                f"  the form ({', '.join(result['form'])}) is judged when it is fired "
                "(e.g. review checklists)"
            )
    else:
        click.echo("不允许 / refused:")
        for r in result["refusals"]:
            click.echo(f"  - {r['rule']}")
            if r["zh"]:
                click.echo(f"      {r['zh']}")
            click.echo(f"      {r['en']}")
    last = result.get("last_refusal")
    if last is not None:
        click.echo(
            f"last refusal recorded: {last['at'].isoformat()} {last['rule']}: {last['reason']}"
        )


# -- audit verify / export ---------------------------------------------------------------------
@contextmanager
def _store(db: str) -> Iterator[Store]:
    """The store at ``db`` (an existing database: a missing SQLite file is an error)."""
    try:
        parsed = make_url(db)
        if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
            raise StoreError(f"no database file {parsed.database!r}")
    except ValueError as exc:
        raise StoreError(f"not a database URL: {db!r}") from exc
    store = Store.open(db)
    try:
        yield store
    finally:
        store.close()


@click.group("audit")
def audit_group() -> None:
    """Verify and export the hash-chained audit log."""


@audit_group.command("verify")
@db_option
@json_option
def verify(db: str, as_json: bool) -> None:
    """Walk every hash chain of the audit log and of the items' history at --db, and
    compare each chain's end with its anchor; name every edited, deleted or inserted row
    (in Chinese and English). Reads only. Exit 0 when intact, 1 when anything was found."""
    configure_logging(level="warning")
    # one snapshot, so that runners committing while the chains are walked cannot look
    # like tampering (an anchor read before a command, its chain after it)
    with handled(as_json), _store(db) as store, store.snapshot() as tx:
        result = tx.verify_audit()
    if as_json:
        emit_json(
            {
                "ok": result.ok,
                "records": result.records,
                "chains": result.chains,
                "history_rows": result.history_rows,
                "items": result.items,
                "findings": [
                    {
                        "kind": f.kind,
                        "table": f.table,
                        "row_id": f.row_id,
                        "audit_id": f.audit_id,
                        "chain": f.chain,
                        "chain_seq": f.chain_seq,
                        "missing": list(f.missing) if f.missing is not None else None,
                        "message": f.message,
                        "message_zh": f.message_zh,
                    }
                    for f in result.findings
                ],
                "heads": {c: {"seq": s, "hash": h} for c, (s, h) in sorted(result.heads.items())},
            }
        )
    else:
        for finding in result.findings:
            click.echo(f"{finding} [{finding.table}]")
            click.echo(f"    {finding.zh}")
        verdict = "intact" if result.ok else f"{len(result.findings)} finding(s)"
        verdict_zh = "完好" if result.ok else f"发现 {len(result.findings)} 处问题"
        click.echo(f"{result.history_rows} history rows of {result.items} items")
        click.echo(f"{result.records} records in {result.chains} chains: {verdict}")
        click.echo(
            f"{result.chains} 条审计链共 {result.records} 条记录，{result.items} 个事项共 "
            f"{result.history_rows} 条历史记录：{verdict_zh}"
        )
    if not result.ok:
        raise SystemExit(EXIT_TAMPERED)


def _masker(tx: StoreTx, extra: Sequence[Workflow]) -> Masker:
    """A masker for the personal fields of every stored version and of ``extra``."""
    workflows = list(extra)
    for _workflow, file, text in tx.definition_sources():
        try:
            workflows.append(load_workflow_text(text, file).definition)
        except DefinitionError:  # an old version that no longer loads: skip its fields
            continue
    return Masker.for_workflows(workflows)


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def export_lines(tx: StoreTx, out: IO[str], masker: Masker) -> int:
    """Write every audit record as a JSON line with personal data masked; returns how many."""
    count = 0
    for chunk in _chunks(tx.audit_records(), 500):
        ids = sorted({r["item_id"] for r in chunk if r["item_id"] is not None})
        data = tx.item_data(ids)
        forms = tx.item_forms(ids)
        for record in chunk:
            item_id = record["item_id"]
            held = [data[item_id][1]] if item_id in data else []
            # the values it holds now and every value it was given (a changed phone number
            # is still quoted by the records written before the change)
            known = [v for d in [*held, *forms.get(item_id, [])] for v in masker.personal_values(d)]
            masked = {
                **record,
                "reason": masker.value(record["reason"], known),
                "detail": masker.value(record["detail"], known),
            }
            out.write(json.dumps(plain(masked), ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    return count


@audit_group.command("export")
@db_option
@click.option(
    "--workflows",
    "workflows_dir",
    default=None,
    envvar="CMC_WORKFLOWS",
    type=click.Path(exists=True),
    help="Also mask the personal fields these definitions declare (stored versions always).",
)
@click.option(
    "--out",
    "out_path",
    default="-",
    show_default=True,
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    help="The JSON-lines file to write ('-': standard output).",
)
def export(db: str, workflows_dir: str | None, out_path: str) -> None:
    """Write the audit log at --db as JSON lines, one record per line, with the personal
    fields declared in the workflows (``personal: true``) masked (SEC-2, SEC-3). The
    hashes are those of the stored records; ``audit verify`` checks them."""
    configure_logging(level="warning")
    extra: list[Workflow] = []
    if workflows_dir is not None:
        loaded = load_paths([workflows_dir])
        extra = [lw.definition for lw in loaded.workflows.values()]
    with handled(False), _store(db) as store, store.read() as tx:
        masker = _masker(tx, extra)
        if out_path == "-":
            count = export_lines(tx, sys.stdout, masker)
        else:
            with open(out_path, "w", encoding="utf-8") as out:
                count = export_lines(tx, out, masker)
    click.echo(f"exported {count} audit records", err=True)


COMMANDS: list[click.Command] = [policy_group, who_can, explain_denial, audit_group]
"""The policy and audit commands, registered by :mod:`cmc_workflow.cli`."""
