"""The messages people read, in Chinese (default) and English. A body carries the item,
the workflow, the state, the deadline and the reason — never a person's contact values or
the item's data (SEC-3: nothing personal in a body that does not need it). The words are
written in English here and translated in the message catalogue (:mod:`cmc_workflow.i18n`),
like every other message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cmc_workflow.i18n import N_, Text, tr
from cmc_workflow.notify.transports import Message

EVENTS: Mapping[str, str] = {
    "task": N_("New task"),
    "warn": N_("Deadline warning"),
    "breach": N_("Deadline breached"),
    "escalate": N_("Escalated"),
    "fault": N_("Fault reported (act at once)"),
    "notify": N_("Notice"),
    "test": N_("Test message"),
}
"""The heading of each event's message (a msgid: its Chinese is in the catalogue)."""


def _in(text: Text, lang: str) -> str:
    return text.en if lang == "en" else text.zh


def _line(facts: Mapping[str, Any], lang: str) -> str:
    event = tr(EVENTS.get(str(facts.get("event")), EVENTS["notify"]))
    item = facts.get("item_id")
    where = f"{facts.get('workflow', '')} #{item} · {facts.get('state', '')}"
    due = facts.get("due_at")
    if due:
        return _in(tr("{event}: {where} — due {due}", event=event, where=where, due=due), lang)
    return _in(tr("{event}: {where}", event=event, where=where), lang)


def render(facts: Mapping[str, Any], lang: str, key: str) -> Message:
    """One notice's message in ``lang`` (``zh`` or ``en``), the other language below."""
    other = "en" if lang == "zh" else "zh"
    first, second = _line(facts, lang), _line(facts, other)
    reason = facts.get("reason")
    text = f"{first}\n{second}" + (f"\n\n{reason}" if reason else "")
    return Message(
        subject=first,
        text=text + "\n\n— cmc-workflow",
        markdown=f"**{first}**\n\n{second}" + (f"\n\n> {reason}" if reason else ""),
        facts=dict(facts),
        key=key,
    )


def render_digest(facts: Sequence[Mapping[str, Any]], lang: str, key: str) -> Message:
    """One message for several SLA warnings of one person (the digest)."""
    count = len(facts)
    heading = tr("{count} deadline warnings", count=count)
    subject, other = _in(heading, lang), _in(heading, "en" if lang == "zh" else "zh")
    lines = [_line(f, lang) for f in facts]
    return Message(
        subject=subject,
        text="\n".join([f"{subject} / {other}", "", *lines, "", "— cmc-workflow"]),
        markdown="\n".join([f"**{subject}** / {other}", "", *(f"- {x}" for x in lines)]),
        facts={"event": "digest", "count": count, "notices": [dict(f) for f in facts]},
        key=key,
    )
