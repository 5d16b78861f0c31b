"""The ``kind: notifications`` file: transports, who gets what by which transport, quiet
hours and the digest. Pure: pydantic models and their located checks (no I/O, no store).

Secrets never stand in the file: a transport names the environment variable that holds
its password or signing secret (``password_env``, ``secret_env``); the runtime edge reads
them (:func:`cmc_workflow.notify.extension.bind_secrets`) and a missing one is a located
error (``E-NOTIFY-SECRET``).
"""

from __future__ import annotations

import datetime as dt
from email.errors import HeaderParseError
from email.headerregistry import Address
from typing import Annotated, Literal

from pydantic import Field, ValidationError

from cmc_workflow.definition.loader import DEFINITION_CODES
from cmc_workflow.definition.models import Ident, Model
from cmc_workflow.errors import Problem
from cmc_workflow.i18n import joined, tr
from cmc_workflow.located import Located
from cmc_workflow.problems import problems_from_validation

URGENT = frozenset({"breach", "fault"})
"""Events sent at once, whatever the quiet hours (FLT-1 "at once"; a breach is past due)."""

Clock = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class Smtp(Model):
    """E-mail over SMTP, with STARTTLS and authentication."""

    type: Literal["smtp"]
    host: str
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    user: str | None = None
    password_env: str | None = Field(None, description="the variable holding the password")
    sender: str = Field(
        description="From: address, e.g. 'CMC Workflow <cmc@lib.example.cn>' (the name may "
        "be in Chinese)"
    )
    timeout: float = Field(20, gt=0)


class Webhook(Model):
    """A signed generic webhook: JSON body, ``X-CMC-Signature: sha256=<hex HMAC>``."""

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    secret_env: str = Field(description="the variable holding the HMAC-SHA256 secret")
    timeout: float = Field(10, gt=0)


class WeCom(Model):
    """A WeCom (企业微信) group robot; its ``key`` is a secret: ``key_env`` names it."""

    type: Literal["wecom"]
    url: str = Field("https://qyapi.weixin.qq.com/cgi-bin/webhook/send", pattern=r"^https?://")
    key_env: str
    timeout: float = Field(10, gt=0)


class DingTalk(Model):
    """A DingTalk (钉钉) group robot with signed URLs (加签)."""

    type: Literal["dingtalk"]
    url: str = Field("https://oapi.dingtalk.com/robot/send", pattern=r"^https?://")
    token_env: str = Field(description="the variable holding the robot's access_token")
    secret_env: str = Field(description="the variable holding the robot's SEC... secret")
    timeout: float = Field(10, gt=0)


Transport = Smtp | Webhook | WeCom | DingTalk
"""A transport, chosen by its ``type`` (a plain union: draft-07 has no discriminator)."""


class PersonSettings(Model):
    """One person's channel preference (by register person id) and fallback addresses."""

    transports: list[Ident] = Field(default_factory=list, description="in order of preference")
    email: str | None = Field(None, description="used when the register has none")
    language: Literal["zh", "en"] | None = None


class QuietHours(Model):
    """No messages between ``start`` and ``end`` (local time) except breaches and faults."""

    start: Clock
    end: Clock
    timezone: str = "Asia/Shanghai"


class NotificationsFile(Model):
    """A ``kind: notifications`` file."""

    kind: Literal["notifications"]
    description: str | None = None
    language: Literal["zh", "en"] = "zh"
    transports: dict[Ident, Transport]
    default_transports: list[Ident] = Field(
        default_factory=list, description="for people without a preference"
    )
    people: dict[str, PersonSettings] = Field(default_factory=dict)
    roles: dict[Ident, list[str]] = Field(
        default_factory=dict, description="role -> person ids, used without a staff register"
    )
    quiet_hours: QuietHours | None = None
    digest_minutes: int = Field(0, ge=0, le=1440, description="collect SLA warnings (0: off)")
    max_attempts: int = Field(5, ge=1, le=100, description="then the notice is a dead letter")
    retry_seconds: float = Field(30, ge=0, description="first retry; doubles each attempt")

    def quiet_until(self, now: dt.datetime, event: str) -> dt.datetime:
        """When a notice of ``event`` may go out: ``now``, or the end of the quiet hours."""
        quiet = self.quiet_hours
        if quiet is None or event in URGENT:
            return now
        import zoneinfo

        local = now.astimezone(zoneinfo.ZoneInfo(quiet.timezone))
        start = dt.time.fromisoformat(quiet.start)
        end = dt.time.fromisoformat(quiet.end)
        t = local.time()
        inside = (start <= t < end) if start <= end else (t >= start or t < end)
        if not inside:
            return now
        day = local.date() if t < end else local.date() + dt.timedelta(days=1)
        return dt.datetime.combine(day, end, tzinfo=local.tzinfo).astimezone(dt.UTC)


def parsed_email(text: str) -> str | None:
    """The address of ``text`` when it is one mailbox (``a@b.cn`` or ``Name <a@b.cn>``)."""
    from email.headerregistry import HeaderRegistry

    try:
        header = HeaderRegistry()("to", text)
        mailboxes = getattr(header, "addresses", ())
    except (HeaderParseError, IndexError, ValueError):
        return None
    if len(mailboxes) != 1 or getattr(header, "defects", None):
        return None
    address: Address = next(iter(mailboxes))
    if not address.username or "." not in address.domain:
        return None
    return address.addr_spec


def load_notifications_doc(doc: Located) -> tuple[NotificationsFile | None, list[Problem]]:
    """Validate one located ``kind: notifications`` document (the loader of its kind)."""
    try:
        model = NotificationsFile.model_validate(doc.data)
    except ValidationError as exc:
        return None, problems_from_validation(exc, doc, NotificationsFile, DEFINITION_CODES)
    problems: list[Problem] = []
    known = set(model.transports)
    hint = tr("known transports: {names}", names=joined(sorted(known)) if known else tr("none"))

    def unknown(path: tuple[str | int, ...], name: str) -> None:
        if name not in known:
            message = tr("unknown transport {name}", name=repr(name))
            problems.append(doc.problem(path, "E-NOTIFY-TRANSPORT", message, hint))

    for i, name in enumerate(model.default_transports):
        unknown(("default_transports", i), name)
    for person, settings in model.people.items():
        for i, name in enumerate(settings.transports):
            unknown(("people", person, "transports", i), name)
        if settings.email is not None and parsed_email(settings.email) is None:
            problems.append(
                doc.problem(
                    ("people", person, "email"),
                    "E-NOTIFY-ADDRESS",
                    tr("{address} is not an e-mail address", address=repr(settings.email)),
                    tr("write one mailbox, e.g. wang@lib.example.cn"),
                )
            )
    for name, transport in model.transports.items():
        if isinstance(transport, Smtp) and parsed_email(transport.sender) is None:
            problems.append(
                doc.problem(
                    ("transports", name, "sender"),
                    "E-NOTIFY-ADDRESS",
                    tr("{address} is not an e-mail address", address=repr(transport.sender)),
                    tr("e.g. sender: 'CMC Workflow <cmc@lib.example.cn>'"),
                )
            )
    if model.quiet_hours is not None:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(model.quiet_hours.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problems.append(
                doc.problem(
                    ("quiet_hours", "timezone"),
                    "E-BAD-VALUE",
                    tr("unknown timezone {timezone}", timezone=repr(model.quiet_hours.timezone)),
                )
            )
    return (None if problems else model), problems
