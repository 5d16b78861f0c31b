"""The one translator from pydantic's validation errors to located problems.

Every file kind (workflow, policy, schedules, calendar) validates its located document
(:mod:`cmc_workflow.located`) with a pydantic model and hands the errors here, with the
:class:`Codes` of its kind. A value that YAML 1.1 would read as a boolean or a number and
that the model refuses as text is reported with its YAML trap code (``E-YAML-BOOL``,
``E-YAML-OCTAL``, ``E-YAML-SEXAGESIMAL``) and a hint, whatever the kind.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from cmc_workflow.errors import Problem
from cmc_workflow.i18n import N_, Text, joined, tr, zh
from cmc_workflow.located import Located

_TYPE_ERRORS = {
    "string_type": N_("text"),
    "int_type": N_("a whole number"),
    "float_type": N_("a number"),
    "bool_type": N_("true or false"),
    "list_type": N_("a list"),
    "dict_type": N_("a mapping"),
    "model_type": N_("a mapping"),
    "dataclass_type": N_("a mapping"),
}
"""What a field of each pydantic type error expects, in English (msgids: the catalogue has
the Chinese)."""


def _kind(value: Any) -> Text:
    """What ``value`` is, in both languages."""
    if isinstance(value, bool):
        return tr("a boolean")
    if isinstance(value, int | float):
        return tr("a number")
    if isinstance(value, str):
        return tr("text")
    if isinstance(value, list):
        return tr("a list")
    if isinstance(value, dict):
        return tr("a mapping")
    return Text(type(value).__name__, type(value).__name__)


def _type_hint(root: type[BaseModel], loc: tuple[Any, ...], kind: str, value: Any) -> Text:
    """A hint that would fix a value of the wrong type, in English and Chinese.

    A text where a group of keys belongs (``label: 制作中``, ``deadline: 2 working days``)
    is shown rewritten as that group; a number where a percentage belongs (``at: 50``)
    as ``'50%'``; a number or boolean where text belongs, quoted."""
    key = str(loc[-1]) if loc else "the file"
    if kind in ("model_type", "dict_type", "dataclass_type") and not isinstance(value, dict | list):
        model = _model_at(root, loc)
        if model is not None:
            required = [n for n, f in model.model_fields.items() if f.is_required()]
            names = [f.alias or n for n, f in model.model_fields.items()]
            first, *others = required or names[:1]
            rest = "".join(f", {o}: ..." for o in others)
            example = f"{key}: {{{first}: {value}{rest}}}"
            return tr(
                "{key} is a group of keys ({names}), not one text: write {example}",
                key=key,
                names=joined(names[:6]),
                example=example,
            )
    if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
        pattern = _pattern_at(root, loc)
        if pattern is not None and "%" in pattern:
            return tr("write a percentage in quotes: {key}: '{value}%'", key=key, value=value)
        return tr("quote it if you mean text: {key}: '{value}'", key=key, value=value)
    if kind == "string_type" and isinstance(value, bool):
        return tr(
            "YAML read this as true/false: quote it if you mean the word ({key}: '...')", key=key
        )
    if kind == "list_type" and not isinstance(value, list | dict):
        return tr(
            "write a list: {key}: [{value}] (entries separated by half-width commas)",
            key=key,
            value=value,
        )
    return tr("quote text that YAML would read as a number or boolean")


def _pattern_at(root: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    """The ``pattern`` constraint of the text field at ``loc``, if it has one."""
    model = _model_at(root, loc[:-1]) if loc else None
    info = model.model_fields.get(str(loc[-1])) if model is not None else None
    if info is None:
        return None
    found = re.search(r"pattern='([^']*)'", repr(info.annotation)) or re.search(
        r"pattern='([^']*)'", repr(info.metadata)
    )
    return found.group(1) if found else None


@dataclass(frozen=True, slots=True)
class Codes:
    """The codes (and a few hints) one kind of file gives to what its model refuses."""

    unknown_key: str = "E-UNKNOWN-KEY"
    missing_key: str = "E-MISSING-KEY"
    type: str = "E-TYPE"
    value: str = "E-BAD-VALUE"
    invalid: str = "E-INVALID"
    bad_key: str = "E-BAD-ID"
    empty: str = "E-INVALID"
    """For a list with fewer entries than it needs (none)."""
    patterns: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """The code and hint of a string that does not match a pattern, by pattern."""
    fields: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """The code and hint of any refused value of a field, by field name (e.g. dates)."""
    merge_misspelt: bool = True
    """Whether a misspelt key ('lable') is reported once, as unknown with its "did you
    mean", rather than also as the real key ('label') missing."""


def problems_from_validation(
    exc: ValidationError, doc: Located, root: type[BaseModel], codes: Codes | None = None
) -> list[Problem]:
    """Translate pydantic's errors on ``doc`` (validated as ``root``) into located problems."""
    codes = codes or Codes()
    out: list[Problem] = []
    errors = exc.errors(include_url=False)
    misspelt = {
        (*tuple(err["loc"])[:-1], guess)
        for err in errors
        if codes.merge_misspelt
        and err["type"] == "extra_forbidden"
        and (guess := _suggestion(root, tuple(err["loc"]))) is not None
    }
    for err in errors:
        loc = tuple(err["loc"])
        kind = err["type"]
        if kind == "missing" and loc in misspelt:
            continue
        if kind == "too_short" and err["input"] and _explained(loc, errors):
            continue  # the list has entries, each invalid: their own problems say why
        problem = _problem(err, loc, kind, doc, root, codes)
        out.append(problem)
    return out


def _explained(loc: tuple[Any, ...], errors: list[Any]) -> bool:
    return any(len(e["loc"]) > len(loc) and tuple(e["loc"])[: len(loc)] == loc for e in errors)


def _problem(
    err: Any, loc: tuple[Any, ...], kind: str, doc: Located, root: type[BaseModel], codes: Codes
) -> Problem:
    if kind == "extra_forbidden" and loc in doc.ambiguous_keys:
        key = str(loc[-1])
        return doc.problem(
            loc,
            "E-YAML-BOOL",
            tr("key {key} would be read as a boolean by YAML 1.1 tools", key=repr(key)),
            tr("quote it ('{key}') or use the right key", key=key),
            key=True,
        )
    if kind != "missing" and loc in doc.ambiguous:
        return _trap(doc, loc, doc.ambiguous[loc], str(err["input"]))
    if loc and loc[-1] == "[key]":
        # a mapping key itself is wrong (e.g. a state named 'Review'): place it at the key
        return _bad_key(loc[:-1], err, doc, codes)
    if kind == "extra_forbidden":
        return _unknown_key(root, loc, doc, codes)
    if kind == "missing":
        message = tr("required key {key} is missing", key=repr(loc[-1]))
        hint = tr("add '{key}:' to {where}", key=loc[-1], where=_where(loc[:-1]))
        return doc.problem(loc[:-1], codes.missing_key, message, hint, key=True)
    named = codes.fields.get(str(loc[-1])) if loc else None
    if named is not None:
        where = ".".join(str(p) for p in loc)
        message = tr("{where}: {why}", where=where, why=pydantic_text(err))
        return doc.problem(loc, named[0], message, tr(named[1]))
    if kind == "bad_duration":
        return doc.problem(loc, "E-BAD-DURATION", pydantic_text(err))
    ctx = err.get("ctx", {})
    if kind == "string_pattern_mismatch":
        code, text = codes.patterns.get(str(ctx.get("pattern", "")), (codes.value, ""))
        message = tr(
            "{value} does not match {pattern}",
            value=_short(err["input"]),
            pattern=ctx.get("pattern"),
        )
        return doc.problem(loc, code, message, tr(text) if text else "")
    if kind in ("literal_error", "enum"):
        message = tr(
            "{value} is not allowed here; expected {expected}",
            value=_short(err["input"]),
            expected=ctx.get("expected", ""),
        )
        return doc.problem(loc, codes.value, message)
    if kind == "too_short" and isinstance(err["input"], list | tuple | dict):
        hint = tr("give at least one entry")
        message = tr("{where}: {why}", where=_where(loc), why=pydantic_text(err))
        return doc.problem(loc, codes.empty, message, hint)
    if kind in ("string_too_long", "string_too_short", "greater_than_equal"):
        message = tr("{value}: {why}", value=_short(err["input"]), why=pydantic_text(err))
        return doc.problem(loc, codes.value, message)
    if kind in _TYPE_ERRORS:
        value = _short(err["input"])
        english = f"expected {_TYPE_ERRORS[kind]}, got {type(err['input']).__name__} {value}"
        chinese = tr(
            "expected {expected}, got {kind} {value}",
            expected=Text(_TYPE_ERRORS[kind], zh(_TYPE_ERRORS[kind])),
            kind=_kind(err["input"]),
            value=value,
        ).zh
        hint = _type_hint(root, loc, kind, err["input"])
        return doc.problem(loc, codes.type, Text(english, chinese), hint)
    return doc.problem(loc, codes.invalid, pydantic_text(err))


def _where(loc: tuple[Any, ...]) -> str | Text:
    """The dotted path of ``loc``, or "the file" in each language for the top level."""
    return ".".join(str(p) for p in loc) or tr("the file")


def _message(err: Any) -> str:
    return str(err["msg"]).removeprefix("Value error, ")


def pydantic_text(err: Any) -> Text:
    """What pydantic's error ``err`` says, in English and Chinese: by its ``type`` and
    ``ctx`` (pydantic's own words are English only, and are kept as the English); a type
    not listed keeps pydantic's English, introduced in Chinese."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "bad_duration":
        return tr(
            "{value} is not a duration like {examples} (a positive whole number and a unit)",
            value=ctx.get("value", _short(err["input"])),
            examples=tr(
                "'2 working days', '4 working hours', '3 days', '12 hours', '30 minutes', "
                "'2 weeks' or '6 months'"
            ),
        )
    if kind == "date_and_time":
        return tr("expected a date (YYYY-MM-DD), not a date and time")
    if kind == "not_a_real_date":
        return tr("{value} is not a real date", value=ctx.get("value", ""))
    if kind == "date_format":
        return tr("expected a date written YYYY-MM-DD, got {value}", value=ctx.get("value", ""))
    own = _pydantic_own(kind, ctx, err)
    return Text(_message(err), own.zh)  # pydantic's English as it wrote it


def _pydantic_own(kind: str, ctx: Mapping[str, Any], err: Any) -> Text:
    """Pydantic's own error types, said again in both languages (the Chinese is used)."""
    if kind == "greater_than_equal":
        return tr("Input should be greater than or equal to {ge}", ge=ctx.get("ge"))
    if kind == "greater_than":
        return tr("Input should be greater than {gt}", gt=ctx.get("gt"))
    if kind == "less_than_equal":
        return tr("Input should be less than or equal to {le}", le=ctx.get("le"))
    if kind == "less_than":
        return tr("Input should be less than {lt}", lt=ctx.get("lt"))
    if kind == "string_too_short":
        return tr(
            "String should have at least {min_length} characters",
            min_length=ctx.get("min_length"),
        )
    if kind == "string_too_long":
        return tr(
            "String should have at most {max_length} characters",
            max_length=ctx.get("max_length"),
        )
    if kind == "too_short":
        return tr(
            "should have at least {min_length} entries, not {actual}",
            min_length=ctx.get("min_length"),
            actual=ctx.get("actual_length"),
        )
    if kind == "too_long":
        return tr(
            "should have at most {max_length} entries, not {actual}",
            max_length=ctx.get("max_length"),
            actual=ctx.get("actual_length"),
        )
    if kind in ("int_parsing", "int_from_float"):
        return tr("Input should be a whole number")
    if kind == "bool_parsing":
        return tr("Input should be true or false")
    if kind in ("date_parsing", "date_from_datetime_parsing", "date_type"):
        return tr("Input should be a date written YYYY-MM-DD")
    if kind in ("datetime_parsing", "datetime_type", "datetime_from_date_parsing"):
        return tr("Input should be a date and time, e.g. 2025-03-01T09:00:00+08:00")
    if kind == "time_parsing":
        return tr("Input should be a time of day, e.g. 09:30")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return tr("this entry has no known kind: {message}", message=_message(err))
    return tr("the value is refused: {message}", message=_message(err))


def _trap(doc: Located, loc: tuple[Any, ...], code: str, text: str) -> Problem:
    """The problem of an ambiguous plain scalar (kept as text) that the model refused."""
    if code == "E-YAML-BOOL":
        message = tr(
            "{value} is a boolean in YAML 1.1 but text in YAML 1.2 (read here as text)",
            value=repr(text),
        )
        hint = tr("write true/false, or quote it ('{text}') if you mean the word", text=text)
    elif code == "E-YAML-OCTAL":
        message = tr(
            "{value} is an octal number in YAML 1.1 but decimal in YAML 1.2 (read here as text)",
            value=repr(text),
        )
        hint = tr("drop the leading zero, or quote it ('{text}') if you mean a code", text=text)
    else:
        message = tr(
            "{value} is a base-60 number in YAML 1.1 (read here as text)", value=repr(text)
        )
        hint = tr("quote it ('{text}') if you mean a time of day, or write a duration", text=text)
    return doc.problem(loc, code, message, hint)


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters so one bad value cannot flood a report."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bad_key(path: tuple[Any, ...], err: Any, doc: Located, codes: Codes) -> Problem:
    if err["type"] == "string_pattern_mismatch":
        pattern = str(err.get("ctx", {}).get("pattern", ""))
        code, hint_text = codes.patterns.get(pattern, (codes.value, ""))
        hint: Text | str = tr(hint_text) if hint_text else ""
        message: Text | str = tr("{value} is not a valid name here", value=_short(err["input"]))
    elif err["type"] == "string_too_long":
        code, hint = codes.bad_key, tr("ids are at most 64 characters")
        message = tr("{value} is too long for a name", value=_short(err["input"]))
    else:
        why = pydantic_text(err)
        code, hint, message = (
            codes.bad_key,
            "",
            tr("{value}: {why}", value=_short(err["input"]), why=why),
        )
    return doc.problem(path, code, message, hint, key=True)


def _suggestion(root: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    """The known key closest to the unknown key at ``loc``, if one is close."""
    model = _model_at(root, loc[:-1])
    if model is None:
        return None
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return close[0] if close else None


def _unknown_key(
    root: type[BaseModel], loc: tuple[Any, ...], doc: Located, codes: Codes
) -> Problem:
    key = str(loc[-1])
    hint: Text | str = ""
    model = _model_at(root, loc[:-1])
    if model is not None:
        close = _suggestion(root, loc)
        known = ", ".join(model.model_fields)
        hint = (
            tr("did you mean {key}?", key=repr(close))
            if close
            else tr("known keys: {keys}", keys=known)
        )
    return doc.problem(
        loc, codes.unknown_key, tr("unknown key {key}", key=repr(key)), hint, key=True
    )


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class whose fields apply at ``loc``, found by walking the annotations."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return None
            current = info.annotation
        elif typing.get_origin(current) in (list, dict, tuple):
            args = typing.get_args(current)  # list[X], tuple[X, ...], dict[K, X]
            current = args[-1] if typing.get_origin(current) is dict else args[0]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` down to the interesting type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0]
        else:
            return annotation
