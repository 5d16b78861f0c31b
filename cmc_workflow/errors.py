"""The one exception tree of cmc-workflow.

Every exception the library raises on purpose derives from :class:`CmcWorkflowError`.
Foreign exceptions (SQLAlchemy, psycopg, PyYAML) are translated at the boundary that
meets them and chained with ``raise ... from exc``.

::

    CmcWorkflowError
    ├── DefinitionError            a definition file cannot be used (carries Problems)
    │   └── MissingHandlerError    a serviceTask's handler is not registered
    ├── EngineError                a command could not be carried out
    │   ├── ItemNotFound           no item with that id
    │   ├── WorkflowNotFound       no loaded workflow with that id
    │   ├── InvalidTrigger         the trigger does not exist in the item's current state
    │   ├── GuardRejected          the transition's guard is false for this item and form
    │   ├── FormInvalid            the submitted form data breaks the transition's form
    │   │   └── InputInvalid       a command's own input (ids, data) cannot be taken at all
    │   ├── IdentityRefused        the actor's id or roles cannot name a caller
    │   ├── NotPermitted           the actor holds none of the roles the transition allows
    │   │   └── TaskRefused        a task operation (claim, delegate, ...) broke a rule
    │   ├── PolicyDenied           a policy rule refused the command (names the rule)
    │   ├── ConflictError          another command moved the item first (retryable)
    │   └── HandlerFailed          a serviceTask handler raised (the transition stands)
    ├── RegisterRefused            a staff-register change breaks a rule (STF-1, STF-2)
    │   └── RosterInvalid          a roster file has bad rows (each by row and column)
    ├── StoreError                 the database failed or holds something unexpected
    │   ├── SchemaOutOfDate        the database needs ``cmc-workflow db upgrade``
    │   ├── SchemaTooNew           a newer release migrated the database (E-DB-TOO-NEW)
    │   └── DatabaseReadOnly       a write to a database opened read-only (E-DB-READ-ONLY)
    ├── BackupError                a backup cannot be taken, read or restored (E-BACKUP-*)
    └── CalendarError              a working-day calendar file or question cannot be answered
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cmc_workflow.i18n import Lang, Text, language, shown, tr, zh


class CmcWorkflowError(Exception):
    """Root of every exception raised by cmc-workflow.

    Made with one :func:`~cmc_workflow.i18n.tr` text, the message is its English and
    ``reason_zh`` its Chinese (empty for a plain English message)."""

    reason_zh: str = ""

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], Text):
            self.reason_zh = args[0].zh
            args = (args[0].en,)
        super().__init__(*args)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a definition file, at a place.

    ``code`` is stable (``E-UNREACHABLE-STATE``) and documented in
    ``docs/workflow-language.md``; ``line`` and ``column`` are 1-based. ``message_zh`` and
    ``hint_zh`` say the same in Chinese where a problem has been translated; the code is
    the same in both languages. ``severity`` is ``"error"`` (the file cannot be used) or
    ``"warning"`` (a ``W-`` code: probably a slip, the file is used as written; it fails a
    check only under ``--strict``).
    """

    file: str
    line: int
    column: int
    code: str
    message: str
    hint: str = ""
    message_zh: str = ""
    hint_zh: str = ""
    severity: str = "error"

    @property
    def is_error(self) -> bool:
        """Whether the problem makes the file unusable (not a warning)."""
        return self.severity != "warning"

    def __str__(self) -> str:
        return self.text()

    def text(self, lang: Lang | None = None) -> str:
        """``file:line:column: CODE message (hint: ...)`` in ``lang`` (default: the
        language people are shown, :func:`cmc_workflow.i18n.language`); a problem with
        no Chinese reads in English."""
        lang = lang or language()
        head = f"{self.file}:{self.line}:{self.column}: {self.code} "
        english = self.message + (f" (hint: {self.hint})" if self.hint else "")
        if not self.message_zh or lang == "en":
            return head + english
        chinese = self.message_zh
        if self.hint_zh:
            chinese += zh("(hint: {hint})").format(hint=self.hint_zh)
        return head + (chinese if lang == "zh" else f"{english} | {chinese}")

    @classmethod
    def of(
        cls,
        file: str,
        line: int,
        column: int,
        code: str,
        message: Text | str,
        hint: Text | str = "",
        *,
        severity: str = "error",
    ) -> Problem:
        """A problem whose message and hint are :func:`~cmc_workflow.i18n.tr` texts (both
        languages) or plain English."""
        en, chinese = _pair(message)
        hint_en, hint_zh = _pair(hint)
        return cls(file, line, column, code, en, hint_en, chinese, hint_zh, severity)


def _pair(text: Text | str) -> tuple[str, str]:
    return (text.en, text.zh) if isinstance(text, Text) else (text, "")


class DefinitionError(CmcWorkflowError):
    """A definition file has problems; ``problems`` lists all of them, in file order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(
            sorted(problems, key=lambda p: (p.file, p.line, p.column, p.code))
        )
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid definition")

    @property
    def codes(self) -> list[str]:
        """The problem codes, in report order (handy in tests)."""
        return [p.code for p in self.problems]


class MissingHandlerError(DefinitionError):
    """A serviceTask names a handler that is not registered with the engine."""


class EngineError(CmcWorkflowError):
    """A command was not carried out. Nothing was written except the audit record.

    ``rule`` names the rule that refused it (a policy rule's id, or one of the engine's
    own: ``repeated_command``, ``input_invalid``, ``actor_id_invalid``, ...); by default
    the exception's class name (``NotPermitted``). ``reason_zh`` is the Chinese explanation
    where the refusal has one (the message is the English one).
    """

    def __init__(
        self,
        message: Text | str,
        *,
        item_id: str | None = None,
        trigger: str | None = None,
        state: str | None = None,
        rule: str | None = None,
        reason_zh: str = "",
    ) -> None:
        if isinstance(message, Text):  # tr(...): both languages at once
            reason_zh = reason_zh or message.zh
        super().__init__(message.en if isinstance(message, Text) else message)
        self.item_id = item_id
        self.trigger = trigger
        self.state = state
        self.rule: str = rule if rule is not None else type(self).__name__
        self.reason_zh = reason_zh

    @property
    def code(self) -> str:
        """The refusing rule, the same in every language (the class name by default)."""
        return self.rule

    def refusal(self, lang: Lang | None = None) -> str:
        """``refused (rule): ...`` as a person reads it in ``lang`` (default: the
        language people are shown): the Chinese reason where there is one."""
        english = tr("refused ({rule}): {reason}", rule=self.code, reason=str(self)).en
        if not self.reason_zh:
            return english
        chinese = tr("refused ({rule}): {reason}", rule=self.code, reason=self.reason_zh).zh
        return shown(english, chinese, lang, sep="\n")


class ItemNotFound(EngineError):
    """No item has that id."""


class WorkflowNotFound(EngineError):
    """No loaded workflow has that id (or that version)."""


class InvalidTrigger(EngineError):
    """The trigger is not defined for the item's current state."""


class GuardRejected(EngineError):
    """The guard of every transition with that trigger is false for this item."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad field of a submitted form."""

    field: str
    message: str
    message_zh: str = ""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class FormInvalid(EngineError):
    """The submitted form breaks the transition's form; ``errors`` names each bad field."""

    def __init__(
        self,
        errors: Sequence[FieldError],
        *,
        item_id: str | None = None,
        trigger: str | None = None,
        state: str | None = None,
    ) -> None:
        self.errors = tuple(errors)
        detail = Text(
            "; ".join(str(e) for e in self.errors),
            "\uff1b".join(
                tr("{field}: {message}", field=e.field, message=e.message_zh or e.message).zh
                for e in self.errors
            ),
        )
        super().__init__(
            tr("form of {trigger} is invalid: {errors}", trigger=repr(trigger), errors=detail),
            item_id=item_id,
            trigger=trigger,
            state=state,
        )


class InputInvalid(FormInvalid):
    """A command's own input cannot be taken: an id of the wrong type or size, data that is
    not a mapping, text with NUL or a lone surrogate, a number that is not finite.
    ``errors`` names each bad field (``workflow``, ``trigger``, ``item_id``, ``data.x``);
    the rule is ``input_invalid``."""

    def __init__(
        self,
        errors: Sequence[FieldError],
        *,
        item_id: str | None = None,
        trigger: str | None = None,
        state: str | None = None,
    ) -> None:
        super().__init__(errors, item_id=item_id, trigger=trigger, state=state)
        reason = tr(
            "the command's input is invalid: {errors}",
            errors=Text(
                "; ".join(str(e) for e in errors),
                "\uff1b".join(
                    tr("{field}: {message}", field=e.field, message=e.message_zh or e.message).zh
                    for e in errors
                ),
            ),
        )
        self.args = (reason.en,)
        self.rule = "input_invalid"
        self.reason_zh = reason.zh


class IdentityRefused(EngineError):
    """The actor cannot be taken as a caller: an id that is not text, empty, unreadable
    (control or zero-width characters), too long, or reserved to the engine (the id
    ``system``, the role ``system``). ``rule`` says which (``actor_id_invalid``,
    ``actor_id_reserved``, ``role_reserved``, ``role_invalid``)."""

    def __init__(self, rule: str, reason_en: str, reason_zh: str) -> None:
        super().__init__(f"refused by rule {rule!r}: {reason_en}", rule=rule, reason_zh=reason_zh)
        self.reason_en = reason_en


class NotPermitted(EngineError):
    """The actor holds none of the roles allowed to fire this transition."""


class TaskRefused(NotPermitted):
    """A task operation (claim, unclaim, delegate, hand back, reassign) broke a rule:
    ``rule`` names it (``task_claimed``, ``task_role_not_held``, ... in
    :mod:`cmc_workflow.engine.tasks`); ``reason_zh`` says it in Chinese."""


class PolicyDenied(EngineError):
    """A policy rule refused the command.

    ``rule`` is the rule's id as written in ``policies/``; ``reason_zh`` and
    ``reason_en`` are readable explanations.
    """

    def __init__(
        self,
        rule: str,
        reason_en: Text | str,
        reason_zh: str = "",
        *,
        item_id: str | None = None,
        trigger: str | None = None,
        state: str | None = None,
    ) -> None:
        if isinstance(reason_en, Text):  # tr(...): both languages at once
            reason_zh = reason_zh or reason_en.zh
        reason_en = reason_en.en if isinstance(reason_en, Text) else reason_en
        super().__init__(
            f"refused by rule {rule!r}: {reason_en}",
            item_id=item_id,
            trigger=trigger,
            state=state,
            rule=rule,
            reason_zh=reason_zh,
        )
        self.reason_en = reason_en


class ConflictError(EngineError):
    """Another command changed the item first; reload and try again."""

    retryable = True


class HandlerFailed(EngineError):
    """A serviceTask handler raised; the accepted transition stands and delivery is retried."""


class RegisterRefused(CmcWorkflowError):
    """A change of the staff register is refused (nothing was written): a person filed
    twice, an unknown post, an address that does not parse, a qualification a post asks
    for (STF-2). ``rule`` is the stable code (``E-STAFF-...``), the same in both
    languages; ``reason_en`` and ``reason_zh`` say what is wrong and how to fix it."""

    def __init__(self, rule: str, reason_en: str, reason_zh: str) -> None:
        self.rule = rule
        self.reason_en = reason_en
        self.reason_zh = reason_zh
        super().__init__(f"{rule} {reason_en} | {reason_zh}")


class RosterInvalid(RegisterRefused):
    """A roster (CSV or XLSX) has bad rows: ``problems`` lists every one, with the file,
    the row (``line``, 1 = the heading row) and the column; nothing was imported."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            "E-STAFF-ROSTER",
            *tr(
                "the roster has {count} problem(s); nothing was imported",
                count=len(self.problems),
            ),
        )
        self.args = ("\n".join(str(p) for p in self.problems),)


class StoreError(CmcWorkflowError):
    """The database failed, or holds something the engine cannot use (worded in both
    languages when made with a :func:`~cmc_workflow.i18n.tr` text)."""


class SchemaOutOfDate(StoreError):
    """The database schema is older than this version of cmc-workflow expects."""


class SchemaTooNew(StoreError):
    """The database was migrated by a newer release: its schema revision is unknown here.

    Nothing is written and no migration runs (Alembic cannot go from an unknown revision).
    ``code`` is ``E-DB-TOO-NEW`` in both languages; ``reason_en`` and ``reason_zh`` say
    what to do.
    """

    code = "E-DB-TOO-NEW"

    def __init__(self, revision: str, head: str) -> None:
        self.revision = revision
        self.head = head
        self.reason_en, self.reason_zh = tr(
            "the database is at schema revision {revision}, which this release of "
            "cmc-workflow does not know (its newest is {head}): a newer release migrated "
            "it. Use that release (or newer), or restore a backup made before the upgrade",
            revision=repr(revision),
            head=repr(head),
        )
        super().__init__(f"{self.code} {self.reason_en} | {self.reason_zh}")


class DatabaseReadOnly(StoreError):
    """A command tried to write a database that was opened read-only (a SQLite file, or
    its folder, this process may not write). Reading commands work; nothing was written.
    ``code`` is ``E-DB-READ-ONLY`` in both languages."""

    code = "E-DB-READ-ONLY"

    def __init__(self, detail: str = "") -> None:
        self.reason_en, self.reason_zh = tr(
            "the database is open read-only (this process may not write the file or its "
            "folder): only reading commands such as show, history and audit verify work"
        )
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{self.code} {self.reason_en}{extra} | {self.reason_zh}")


class BackupError(CmcWorkflowError):
    """A backup could not be taken, read, verified or restored (``cmc_workflow.backup``).

    ``code`` names what went wrong, the same in both languages (``E-BACKUP-TOOL-MISSING``:
    no ``pg_dump``; ``E-BACKUP-TARGET-NOT-EMPTY``: a restore refused; ... listed in
    ``docs/how-to-backup.md``); ``where`` is the file, folder or program concerned;
    ``reason_en`` and ``reason_zh`` say what happened and what to do.
    """

    def __init__(self, code: str, where: str, reason_en: str, reason_zh: str) -> None:
        self.code = code
        self.where = where
        self.reason_en = reason_en
        self.reason_zh = reason_zh
        super().__init__(f"{where}: {code} {reason_en} | {reason_zh}")


class CalendarError(CmcWorkflowError):
    """A calendar file is invalid or a calendar question cannot be answered (worded in both
    languages when made with a :func:`~cmc_workflow.i18n.tr` text)."""
