"""``cmc-workflow audit``: verify and export the hash-chained audit log.

``audit verify`` walks every hash chain and exits 0 when the log is intact, 1 when it
found tampering (each finding named, in Chinese and English); ``audit export`` writes the
log as JSON lines with personal fields masked. Both read only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

import click

from cmc_workflow.cli.exits import Exit, handled
from cmc_workflow.cli.help import Group
from cmc_workflow.cli.options import db_option, json_option, workflows_option
from cmc_workflow.cli.output import emit_json, plain
from cmc_workflow.definition.loader import load_workflow_text
from cmc_workflow.definition.models import Workflow
from cmc_workflow.errors import DefinitionError
from cmc_workflow.i18n import N_, shown, tr
from cmc_workflow.language import load_paths
from cmc_workflow.policy import Masker
from cmc_workflow.runner.assemble import existing_store
from cmc_workflow.store import StoreTx


@click.group("audit", cls=Group, help=N_("Verify and export the hash-chained audit log."))
def audit_group() -> None:
    pass


@audit_group.command(
    "verify",
    help=N_(
        "Walk every hash chain of the audit log and of the items' history at --db, and "
        "compare each chain's end with its anchor; name every edited, deleted or "
        "inserted row (in Chinese and English). Reads only. Exit 0 when intact, 1 when "
        "anything was found."
    ),
)
@db_option
@json_option
def verify(db: str, as_json: bool) -> None:
    # one snapshot, so that runners committing while the chains are walked cannot look
    # like tampering (an anchor read before a command, its chain after it)
    with handled(as_json), existing_store(db) as store, store.snapshot() as tx:
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
        verdict = (
            tr("intact") if result.ok else tr("{count} finding(s)", count=len(result.findings))
        )
        summary = tr(
            "{history} history rows of {items} items\n{records} records in {chains} chains: "
            "{verdict}",
            history=result.history_rows,
            items=result.items,
            records=result.records,
            chains=result.chains,
            verdict=verdict,
        )
        click.echo(shown(*summary, sep="\n"))
    if not result.ok:
        raise SystemExit(Exit.PROBLEMS)


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


@audit_group.command(
    "export",
    help=N_(
        "Write the audit log at --db as JSON lines, one record per line, with the "
        "personal fields declared in the workflows (``personal: true``) masked (SEC-2, "
        "SEC-3). The hashes are those of the stored records; ``audit verify`` checks "
        "them."
    ),
)
@db_option
@workflows_option
@click.option(
    "--out",
    "out_path",
    default="-",
    show_default=True,
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    help=N_("The JSON-lines file to write ('-': standard output)."),
)
def export(db: str, workflows: list[str], out_path: str) -> None:
    extra: list[Workflow] = []
    if workflows:  # also the personal fields these declare (stored versions always)
        loaded = load_paths(workflows)
        extra = [lw.definition for lw in loaded.workflows.values()]
    with handled(False), existing_store(db) as store, store.read() as tx:
        masker = _masker(tx, extra)
        if out_path == "-":
            count = export_lines(tx, sys.stdout, masker)
        else:
            with open(out_path, "w", encoding="utf-8") as out:
                count = export_lines(tx, out, masker)
    click.echo(f"exported {count} audit records", err=True)


COMMANDS: list[click.Command] = [audit_group]
