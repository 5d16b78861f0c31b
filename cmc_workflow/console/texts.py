"""What the console says, in Chinese (the default) and English: one table of English
texts, looked up by key (the templates call ``t("key")``), whose Chinese is in the message
catalogue (:mod:`cmc_workflow.i18n`). A missing key is a test failure
(``tests/console/test_console_pages.py`` renders every page in both languages)."""

from __future__ import annotations

from typing import Literal

from cmc_workflow.i18n import N_, zh

__all__ = ["LANGS", "TEXTS", "Lang", "text", "text_of"]

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

TEXTS: dict[str, str] = {
    "product": N_("Workflow console"),
    "sign_in": N_("Sign in"),
    "sign_out": N_("Sign out"),
    "person": N_("Person id"),
    "password": N_("Password"),
    "signed_in_as": N_("Signed in as "),
    "tasks": N_("My tasks"),
    "mine": N_("Tasks of mine"),
    "queue": N_("My roles' queue"),
    "search": N_("Search"),
    "dashboard": N_("Dashboard"),
    "compliance": N_("Compliance matrix"),
    "none": N_("None"),
    "id": N_("Id"),
    "title": N_("Title"),
    "workflow": N_("Workflow"),
    "state": N_("State"),
    "updated": N_("Updated"),
    "created": N_("Created"),
    "any": N_("Any"),
    "overdue_only": N_("Overdue only"),
    "open_only": N_("Open only"),
    "created_from": N_("Created from"),
    "created_until": N_("Created until"),
    "day_hint": N_("whole days, both included"),
    "results": N_("Results"),
    "next_page": N_("Next page"),
    "item": N_("Item"),
    "data": N_("Data"),
    "timeline": N_("Timeline"),
    "diagram": N_("Diagram (the current state is marked)"),
    "clocks": N_("SLA clocks"),
    "actions": N_("What you may do now"),
    "not_now": N_("Not open to you now"),
    "submit": N_("Submit"),
    "claim": N_("Claim"),
    "unclaim": N_("Put back in the queue"),
    "delegate": N_("Delegate"),
    "delegate_to": N_("Delegate to a colleague of the same role (they may hand it back)"),
    "hand_back": N_("Hand back"),
    "delegated_by": N_("Delegated to you by"),
    "reassign": N_("Reassign"),
    "reassign_to": N_("As a lead of this workflow, give the task to"),
    "held_now": N_("Held now by"),
    "in_the_queue": N_("nobody: it is in the queue"),
    "choose_person": N_("Person"),
    "in_queue": N_("In your role's queue: claim it to make it yours"),
    "held_by_you": N_("This task is yours"),
    "try_anyway": N_("Send it anyway (the rules decide)"),
    "done": N_("Done"),
    "refused": N_("Refused"),
    "rule": N_("Rule"),
    "at": N_("At"),
    "actor": N_("By"),
    "due": N_("Due"),
    "status": N_("Status"),
    "started": N_("Counted from"),
    "yes": N_("yes"),
    "no": N_("no"),
    "checklist_note": N_("Review checklist: tick each item once checked (PUB-5)"),
    "list_hint": N_("separate several with commas"),
    "sla_by_month": N_("SLA met and breached per month and workflow"),
    "open_by_state": N_("Open items per state"),
    "overdue_by_person": N_("Overdue work per person"),
    "publications": N_("Publications per channel"),
    "met": N_("on time"),
    "breached": N_("late"),
    "no_data": N_("No data yet"),
    "requirement": N_("Requirement"),
    "requirements_met": N_("Requirements met"),
    "level": N_("Level"),
    "carried_out": N_("How carried out"),
    "tests": N_("Tests"),
    "gaps": N_("Gaps"),
    "not_found": N_("Item not found"),
    "csrf_failed": N_("The form expired (CSRF check failed): reload the page and try again"),
    "too_many": N_("Too many failed sign-ins: try again later"),
    "footer": N_("Every action goes through the same engine and policies, and is audited."),
}
"""Each key's English (a msgid of the catalogue)."""

_OWN_NAME: dict[Lang, str] = {"zh": N_("Chinese"), "en": N_("English")}
"""Each language's name, shown in that language by the language switch."""


def text(key: str, lang: Lang) -> str:
    """The text of ``key`` in ``lang``; ``switch_lang`` names the other language in its
    own words (``English`` on a Chinese page, ``中文`` on an English one)."""
    if key == "switch_lang":
        other: Lang = "en" if lang == "zh" else "zh"
        return text_of(_OWN_NAME[other], other)
    return text_of(TEXTS[key], lang)


def text_of(msgid: str, lang: Lang) -> str:
    """The catalogue's ``msgid`` in ``lang``."""
    return zh(msgid) if lang == "zh" else msgid
