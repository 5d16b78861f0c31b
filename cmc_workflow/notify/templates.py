"""The messages people read, in Chinese (default) and English. A body carries the item,
the workflow, the state, the deadline and the reason — never a person's contact values or
the item's data (SEC-3: nothing personal in a body that does not need it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cmc_workflow.notify.transports import Message

EVENTS: Mapping[str, tuple[str, str]] = {
    "task": ("新待办", "New task"),
    "warn": ("时限预警", "Deadline warning"),
    "breach": ("已超时", "Deadline breached"),
    "escalate": ("超时升级", "Escalated"),
    "fault": ("故障报告（立即处理）", "Fault reported (act at once)"),
    "notify": ("通知", "Notice"),
    "test": ("测试消息", "Test message"),
}


def _line(facts: Mapping[str, Any], lang: str) -> str:
    zh, en = EVENTS.get(str(facts.get("event")), EVENTS["notify"])
    item = facts.get("item_id")
    where = f"{facts.get('workflow', '')} #{item} · {facts.get('state', '')}"
    due = facts.get("due_at")
    if lang == "en":
        text = f"{en}: {where}"
        return text + (f" — due {due}" if due else "")
    text = f"{zh}：{where}"
    return text + (f"，期限 {due}" if due else "")


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
    subject = f"{count} 项时限预警" if lang == "zh" else f"{count} deadline warnings"
    other = f"{count} deadline warnings" if lang == "zh" else f"{count} 项时限预警"
    lines = [_line(f, lang) for f in facts]
    return Message(
        subject=subject,
        text="\n".join([f"{subject} / {other}", "", *lines, "", "— cmc-workflow"]),
        markdown="\n".join([f"**{subject}** / {other}", "", *(f"- {x}" for x in lines)]),
        facts={"event": "digest", "count": count, "notices": [dict(f) for f in facts]},
        key=key,
    )
