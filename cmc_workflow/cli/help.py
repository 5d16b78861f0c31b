"""``--help`` and click's own messages in the language people read (issue 17).

Every help text of the command line is written once, in English, marked with ``N_()``
(``@click.command(cls=Command, help=N_("..."))``, ``click.option(..., help=N_("..."))``);
the Chinese is in the catalogue like every other message. Nothing is translated when a
command is declared: :class:`Command` and :class:`Group` translate when help is
rendered, so the language chosen for this run (``--lang``, before or after the command,
``CMC_LANG``, the locale) applies. Click's own words (``Usage:``, ``Options``, ``Show
this message and exit.``, ``No such option ...``) are click's gettext msgids, marked
again here in :data:`CLICK_TEXTS` so that our catalogue gives them Chinese: the
:class:`HelpFormatter` translates headings and the usage prefix, :class:`Command`
the ``[default: ...]`` of an option, and :func:`translated_errors` wraps a click error
so that it is shown with its Chinese (:class:`TranslatedError`). Click's own source
and gettext domain are left alone.

Help is Chinese when the language is ``zh`` and English otherwise: a locale that names
no language (``C``, ``POSIX``, unset) gives both languages for messages, but a help page
with each line twice is unreadable, so there help stays English (docs/cli.md).
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import click

from cmc_workflow.exits import Exit
from cmc_workflow.i18n import N_, language, zh

CLICK_TEXTS = (
    N_("Usage:"),
    N_("Options"),
    N_("Commands"),
    N_("Positional arguments"),
    N_("Show this message and exit."),
    N_("Show the version and exit."),
    N_("{prog}, version {version}"),
    N_("Aborted!"),
    N_("default: {default}"),
    N_("env var: {var}"),
    N_("required"),
    N_("(dynamic)"),
    N_("Error: {message}"),
    N_("Try '{command} {option}' for help."),
    N_("Invalid value: {message}"),
    N_("Invalid value for {param_hint}: {message}"),
    N_("Missing argument"),
    N_("Missing option"),
    N_("Missing parameter"),
    N_("Missing command."),
    N_("No such option {name!r}."),
    N_("No such command {name!r}."),
    N_("Did you mean {possibility}?"),
    N_("(Did you mean one of: {possibilities}?)"),
    N_("Got unexpected extra argument ({args})"),
    N_("Got unexpected extra arguments ({args})"),
    N_("Option {name!r} requires an argument."),
    N_("Option {name!r} requires {nargs} arguments."),
    N_("Option {name!r} does not take a value."),
    N_("Argument {name!r} takes {nargs} values."),
    N_("{value!r} is not {choice}."),
    N_("{value!r} is not one of {choices}."),
    N_("Choose from:\n\t{choices}"),
    N_("{value!r} is not a valid {number_type}."),
    N_("{value} is not in the range {range}."),
    N_("{value!r} is not a valid boolean. Recognized values: {states}"),
    N_("{value!r} does not match the format {format}."),
    N_("{value!r} does not match the formats {formats}."),
    N_("{name} {filename!r} does not exist."),
    N_("{name} {filename!r} is a file."),
    N_("{name} {filename!r} is a directory."),
    N_("{name} {filename!r} is not readable."),
    N_("{name} {filename!r} is not writable."),
    N_("Could not open file {filename!r}: {message}"),
    N_("file"),
    N_("directory"),
    N_("path"),
    N_("integer"),
    N_("float"),
)
"""Click's gettext msgids (click 8.2-8.5) that a person of this command line can meet,
word for word, so that the catalogue holds their Chinese."""

_NESTED = frozenset({"message", "name", "default", "number_type"})
"""The fields of a click text that are themselves click texts (translated in turn)."""


def _pattern(msgid: str) -> re.Pattern[str]:
    parts = []
    for literal, field, _spec, _conversion in string.Formatter().parse(msgid):
        parts.append(re.escape(literal))
        if field:
            parts.append(f"(?P<{field}>.*?)")
    return re.compile("".join(parts), re.S)


@functools.cache
def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    """Click's texts as patterns, the most literal first (``is not one of`` before ``is
    not``); made on the first use, not at import (6 ms every command would pay)."""
    return sorted(
        ((msgid, _pattern(msgid)) for msgid in CLICK_TEXTS),
        key=lambda entry: -len(re.sub(r"\{[^}]*\}", "", entry[0])),
    )


def chinese() -> bool:
    """Whether help and click's words are shown in Chinese (only for ``zh``, see the
    module doc)."""
    return language() == "zh"


def click_text(text: str) -> str:
    """``text``, a message click made from one of :data:`CLICK_TEXTS`, in Chinese when
    :func:`chinese` (its values kept, those that are click texts translated in turn);
    any other text as it is."""
    if not chinese():
        return text
    for msgid, pattern in _patterns():
        found = pattern.fullmatch(text)
        if found is not None:
            values = {k: click_text(v) if k in _NESTED else v for k, v in found.groupdict().items()}
            return zh(msgid).format(**values)
    return text


# -- wrapping Chinese ---------------------------------------------------------------------
_WIDE = r"\u2e80-\u9fff\u3000-\u303f\uff00-\uffef"  # re reads the escapes
_OPENING = "（《「『“"
_CLOSING = "，。；：、！？）》」』”…"
_TOKEN = rf"[{_OPENING}]*(?:[{_WIDE}]|[^\s{_WIDE}]+)[{_CLOSING}]*|\s+"
"""A unit that is never broken: one Chinese character or one Latin word, with the
punctuation that may not begin a line (closing) or end one (opening); compiled by
:mod:`re` on first use (its cache keeps it)."""


def columns(text: str) -> int:
    """Columns ``text`` takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def wrap(text: str, width: int, indent: str = "", subsequent: str | None = None) -> list[str]:
    """``text`` (one paragraph) in lines of at most ``width`` columns: Latin words break at
    spaces, Chinese between any two characters (never before closing punctuation nor
    after opening punctuation)."""
    rest = indent if subsequent is None else subsequent
    lines: list[str] = []
    line, used, space, fresh = indent, columns(indent), False, True
    for token in re.findall(_TOKEN, text):
        if token.isspace():
            space = True
            continue
        sep = " " if space and not fresh else ""
        size = columns(token)
        if not fresh and used + len(sep) + size > width:
            lines.append(line)
            line, used, sep = rest, columns(rest), ""
        line += sep + token
        used += len(sep) + size
        space, fresh = False, False
    lines.append(line)
    return lines


class HelpFormatter(click.HelpFormatter):
    """Click's formatter, with click's headings and usage prefix in Chinese and Chinese
    text wrapped by the columns it takes, when :func:`chinese`."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        if prefix is None and chinese():
            prefix = zh("Usage:") + " "
        super().write_usage(prog, args, prefix)

    def write_heading(self, heading: str) -> None:
        if not chinese():
            super().write_heading(heading)
            return
        self.write(f"{'':>{self.current_indent}}{click_text(heading)}：\n")

    def write_text(self, text: str) -> None:
        if not chinese():
            super().write_text(text)
            return
        indent = " " * self.current_indent
        width = max(self.width - self.current_indent, 11) + self.current_indent
        paragraphs = ["\n".join(wrap(p, width, indent)) for p in re.split(r"\n\s*\n", text)]
        self.write("\n\n".join(paragraphs) + "\n")

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        if not chinese():
            super().write_dl(rows, col_max, col_spacing)
            return
        rows = list(rows)
        first_col = min(max((columns(r[0]) for r in rows), default=0), col_max) + col_spacing
        pad = " " * (first_col + self.current_indent)
        for first, second in rows:
            self.write(f"{'':>{self.current_indent}}{first}")
            if not second:
                self.write("\n")
                continue
            if columns(first) <= first_col - col_spacing:
                self.write(" " * (first_col - columns(first)))
            else:
                self.write("\n" + pad)
            text_width = max(self.width - first_col - 2, 10)
            lines = [ln for p in second.split("\n\n") for ln in wrap(p, text_width)]
            self.write(lines[0] + "\n")
            for line in lines[1:]:
                self.write(f"{pad}{line}\n")


class Context(click.Context):
    """A click context whose help is made by :class:`HelpFormatter`."""

    formatter_class = HelpFormatter


def _record(param: click.Parameter, ctx: click.Context) -> tuple[str, str] | None:
    """``param``'s line in the help, its help and click's ``[default: ...]`` translated."""
    record = param.get_help_record(ctx)
    if record is None:
        return None
    names, text = record
    own = getattr(param, "help", None) or ""
    head, rest = (zh(own), text[len(own) :]) if own and text.startswith(own) else ("", text)
    extra = re.fullmatch(r"(\s*)\[(.*)\]", rest, re.S)
    if extra is not None:
        items = "；".join(click_text(item) for item in extra.group(2).split("; "))
        rest = f"{extra.group(1)}[{items}]"
    return names, head + rest


def short_help(command: click.Command, limit: int) -> str:
    """The first clause of ``command``'s Chinese help (up to its first ``。；：``), cut
    to ``limit`` columns."""
    if command.short_help:
        return zh(command.short_help)
    text = zh(command.help or "").split("\n\n")[0]
    first = re.split(r"[。；：！？]|(?<=[.:;]) ", text, maxsplit=1)[0].rstrip("。.")
    if columns(first) <= limit:
        return first
    while columns(first) > limit - 1:
        first = first[:-1]
    return first + "…"


class _Translated(click.Command):
    """What :class:`Command` and :class:`Group` add to click's: the help texts through
    the catalogue when :func:`chinese`."""

    context_class = Context

    def get_short_help_str(self, limit: int = 45) -> str:
        if not chinese():
            return super().get_short_help_str(limit)
        return short_help(self, limit)

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if not chinese() or not self.help:
            super().format_help_text(ctx, formatter)
            return
        formatter.write_paragraph()
        with formatter.indentation():
            formatter.write_text(zh(self.help))

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if not chinese():
            super().format_options(ctx, formatter)
            return
        rows = [
            record
            for p in self.get_params(ctx)
            if not isinstance(p, click.Argument) and (record := _record(p, ctx)) is not None
        ]
        if rows:
            with formatter.section(N_("Options")):
                formatter.write_dl(rows)
        if isinstance(self, click.Group):
            self.format_commands(ctx, formatter)  # as click.Group.format_options does

    def format_arguments(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        arguments = [p for p in self.get_params(ctx) if isinstance(p, click.Argument)]
        if not chinese() or not any(a.help for a in arguments):
            super().format_arguments(ctx, formatter)
            return
        rows = [r for a in arguments if (r := _record(a, ctx)) is not None]
        with formatter.section(N_("Positional arguments")):
            formatter.write_dl(rows)


class Command(_Translated):
    """A command whose help is shown in the language chosen for the run."""


class Group(_Translated, click.Group):
    """A group whose help (and its commands' list) is shown in the language chosen for
    the run; its commands and groups are of this module's classes."""

    command_class = Command
    group_class = type


# -- errors --------------------------------------------------------------------------------
def _missing(exc: click.MissingParameter) -> str:
    """Click's ``Missing argument 'X'.`` in Chinese (it is put together from pieces)."""
    hint: Any = exc.param_hint
    if hint is None and exc.param is not None:
        hint = exc.param.get_error_hint(exc.ctx) if exc.ctx is not None else None
    if hint is not None and not isinstance(hint, str):
        hint = " / ".join(repr(h) for h in hint)
    kind = exc.param_type or (exc.param.param_type_name if exc.param is not None else "")
    known = {"argument": "Missing argument", "option": "Missing option"}
    missing = zh(known.get(kind, "Missing parameter"))
    detail = exc.message
    if exc.param is not None and exc.ctx is not None:
        extra = exc.param.type.get_missing_message(param=exc.param, ctx=exc.ctx)
        detail = f"{detail}。{extra}" if detail and extra else detail or extra or ""
    text = f"{missing} {hint}。" if hint else f"{missing}。"
    return text + (click_text(detail) if detail else "")


def error_message(exc: click.ClickException) -> str:
    """What click says of ``exc`` (without ``Error:``), in Chinese when :func:`chinese`."""
    if not chinese():
        return exc.format_message()
    if isinstance(exc, click.MissingParameter):
        return _missing(exc)
    if isinstance(exc, click.NoSuchOption | click.exceptions.NoSuchCommand) and exc.possibilities:
        found = ", ".join(repr(p) for p in sorted(exc.possibilities))
        many = len(exc.possibilities) > 1
        msgid = "(Did you mean one of: {possibilities}?)" if many else "Did you mean {possibility}?"
        return click_text(exc.message) + zh(msgid).format(possibility=found, possibilities=found)
    return click_text(exc.format_message())


class TranslatedError(click.ClickException):
    """A click error shown in Chinese: the usage line, the ``Try ... --help`` hint and
    the message, as click shows them (:meth:`click.UsageError.show`)."""

    def __init__(self, original: click.ClickException) -> None:
        super().__init__(original.message)
        self.original = original

    def format_message(self) -> str:
        return error_message(self.original)

    def show(self, file: IO[Any] | None = None) -> None:
        ctx = getattr(self.original, "ctx", None)
        if isinstance(self.original, click.UsageError) and ctx is not None:
            hint = ""
            if ctx.command.get_help_option(ctx) is not None:
                option = max(ctx.command.get_help_option_names(ctx), key=len)
                hint = zh("Try '{command} {option}' for help.").format(
                    command=ctx.command_path, option=option
                )
                hint += "\n"
            click.echo(f"{ctx.get_usage()}\n{hint}", file=file, err=file is None, color=ctx.color)
        message = zh("Error: {message}").format(message=self.format_message())
        click.echo(message, file=file, err=file is None)


class TranslatedUsageError(TranslatedError):
    """A :class:`click.UsageError` shown in Chinese (exit status 2, as click's)."""

    exit_code = 2


@contextmanager
def translated_errors() -> Iterator[None]:
    """Click errors raised inside, as :class:`TranslatedError` when :func:`chinese` (the
    top group parses and invokes inside it). A prompt given up (Ctrl-C, end of input,
    :class:`click.Abort`) ends as click ends it, status 1 after ``Aborted!``, but with
    the words in Chinese."""
    try:
        yield
    except click.ClickException as exc:
        if not chinese() or isinstance(exc, TranslatedError):
            raise
        usage = isinstance(exc, click.UsageError)
        raise (TranslatedUsageError if usage else TranslatedError)(exc) from exc
    except (click.Abort, EOFError, KeyboardInterrupt):
        if not chinese():
            raise
        click.echo(zh("Aborted!"), err=True)
        raise click.exceptions.Exit(Exit.PROBLEMS) from None  # 1, as click's own


def version_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--version``, as click's own (eager, exits), its line in Chinese when
    :func:`chinese`: ``cmc-workflow，版本 0.1.0``."""

    def show(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if not value or ctx.resilient_parsing:
            return
        from importlib import metadata  # only here: every other run would pay its import

        msgid = "{prog}, version {version}"
        line = zh(msgid) if chinese() else msgid
        prog = ctx.find_root().info_name or "cmc-workflow"
        click.echo(line.format(prog=prog, version=metadata.version("cmc-workflow")))
        ctx.exit(Exit.OK)

    return click.option(
        "--version",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=show,
        help=N_("Show the version and exit."),
    )


def asked_language(args: list[str], environ: dict[str, str] | Any) -> str | None:
    """The ``--lang`` of a command line (anywhere before ``--``), else ``CMC_LANG``: known
    before click parses, so that ``--help`` and the errors of parsing use it."""
    value: str | None = None
    for n, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--lang" and n + 1 < len(args):
            value = args[n + 1]
        elif arg.startswith("--lang="):
            value = arg.partition("=")[2]
    value = value or environ.get("CMC_LANG")
    return value if value and value.lower() in ("zh", "en") else None
