"""What a person reads, in English and Chinese, through a gettext message catalogue.

The code writes each message once, in English, as the *msgid* of :func:`tr` (or of
:func:`N_` where the text is only marked and translated later), with named
``{placeholders}`` filled by keyword arguments; the Chinese lives in the gettext catalogue
``cmc_workflow/locale/zh_CN/LC_MESSAGES/cmc_workflow.po`` (template ``locale/
cmc_workflow.pot``), which Babel extracts and updates (``babel.cfg``; the translator's
workflow is in ``docs/translations.md``). :func:`tr` gives both languages at once, as a
:class:`Text`, because the outputs carry both (``message`` and ``message_zh`` of a
:class:`~cmc_workflow.errors.Problem`, in JSON, SARIF and over HTTP); which one a person
is *shown* is :func:`language`'s choice: ``--lang``, else the locale as gettext reads it
(``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``, the first one set): ``zh*`` gives
Chinese, any other language English, and a locale naming no language (unset, ``C``,
``POSIX``) both, English then Chinese, as before this module.

The catalogue is read on the first :func:`tr`, by the small reader below and not by
Babel's: importing ``babel.messages.pofile`` alone took 40-100 ms (2-core VM), the
reader here reads the whole catalogue in a few milliseconds, and the runtime needs no
Babel (tests/unit/test_i18n.py checks the reader against Babel's on the shipped file).
No compiled ``.mo`` is committed or built.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, NamedTuple

Lang = Literal["en", "zh", "both"]
"""What a person is shown: English, Chinese, or both (English then Chinese)."""

DOMAIN = "cmc_workflow"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
CATALOGUE = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / f"{DOMAIN}.po"

_lock = threading.Lock()
_catalogue: dict[str, str] | None = None
_chosen: Lang | None = None


class Text(NamedTuple):
    """One message in both languages (unpacks as ``english, chinese``)."""

    en: str
    zh: str

    def __str__(self) -> str:
        return self.shown()

    def shown(self, lang: Lang | None = None) -> str:
        """The text a person is shown in ``lang`` (default :func:`language`)."""
        return shown(self.en, self.zh, lang)


def N_(msgid: str) -> str:
    """Mark ``msgid`` for the catalogue without translating it here (a table's text that
    :func:`tr` or :func:`zh` translates where it is used)."""
    return msgid


def zh(msgid: str) -> str:
    """The Chinese of ``msgid`` from the catalogue (``msgid`` itself if untranslated)."""
    return _entries().get(msgid) or msgid


def tr(msgid: str, /, **params: object) -> Text:
    """``msgid`` in English and Chinese, each with ``params`` put in its ``{names}``; a
    parameter that is itself a :class:`Text` gives each language its own words."""
    en = {k: v.en if isinstance(v, Text) else v for k, v in params.items()}
    chinese = {k: v.zh if isinstance(v, Text) else v for k, v in params.items()}
    return Text(msgid.format(**en), zh(msgid).format(**chinese))


def joined(items: Iterable[object], en_sep: str = ", ") -> Text:
    """``items`` listed in both languages: ``a, b`` and ``a、b``."""
    texts = [str(i) for i in items]
    return Text(en_sep.join(texts), _LIST_SEP.join(texts))


_LIST_SEP = "\u3001"  # the enumeration comma of Chinese lists


def joined_or_none(items: Iterable[object]) -> Text:
    """``items`` as :func:`joined` lists them, or "none" in each language when there are
    none (``known roles: none``)."""
    texts = [str(i) for i in items]
    return joined(texts) if texts else tr("none")


def heading(msgid: str, both: Lang = "zh") -> str:
    """A heading or table label (``N_``-marked ``msgid``) in one language: English with
    ``--lang en``, Chinese with ``--lang zh``, and ``both``'s choice when the locale names
    no language (a table has room for one)."""
    return pick(msgid, zh(msgid), both)


def pick(en: str, zh_text: str, both: Lang = "zh") -> str:
    """``en`` or ``zh_text`` (a label written in both, e.g. a workflow's ``label``), as
    :func:`heading` chooses."""
    lang = language()
    chosen = both if lang == "both" else lang
    return zh_text if chosen == "zh" and zh_text else en


def shown(en: str, zh_text: str, lang: Lang | None = None, sep: str = " | ") -> str:
    """What a person reads of a message given as ``en`` and ``zh_text`` (which may be
    empty where none was written): the one of ``lang``, or both joined by ``sep``."""
    lang = lang or language()
    if lang == "en" or not zh_text:
        return en
    if lang == "zh":
        return zh_text
    return en if zh_text == en else f"{en}{sep}{zh_text}"


def set_language(lang: str | None) -> None:
    """Choose the language people are shown (``--lang``); ``None`` goes back to the
    locale's choice."""
    global _chosen
    _chosen = _normal(lang) if lang else None


def language() -> Lang:
    """The language chosen by :func:`set_language`, else by the locale."""
    return _chosen or locale_language(os.environ)


def locale_language(env: os._Environ[str] | dict[str, str]) -> Lang:
    """The language the locale asks for, read as gettext does: the first of
    ``LANGUAGE`` (a colon-separated list), ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` that is
    set. ``zh...`` is Chinese; ``C``/``POSIX`` (or nothing) names no language: both."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            first = value.split(":")[0].split(".")[0].split("@")[0]
            return "both" if first in ("C", "POSIX", "") else _normal(first)
    return "both"


def _normal(lang: str) -> Lang:
    low = lang.lower().replace("-", "_")
    if low.startswith("zh"):
        return "zh"
    return "both" if low == "both" else "en"


def _entries() -> dict[str, str]:
    global _catalogue
    if _catalogue is None:
        with _lock:
            if _catalogue is None:
                _catalogue = read_catalogue(CATALOGUE)
    return _catalogue


def read_catalogue(path: Path) -> dict[str, str]:
    """The translated, non-fuzzy entries of the ``.po`` file at ``path`` (msgid to
    msgstr); a missing file is an empty catalogue (English everywhere)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    out: dict[str, str] = {}
    for block in text.split("\n\n"):
        entry = _entry(block)
        if entry is not None and entry[0] and entry[1]:
            out[entry[0]] = entry[1]
    return out


def _entry(block: str) -> tuple[str, str] | None:
    parts: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in block.splitlines():
        line = raw.strip()
        if line.startswith("#,") and "fuzzy" in line:
            return None
        if line.startswith("#~"):
            return None  # an obsolete entry
        if line.startswith("#") or not line:
            continue
        if line.startswith('"'):
            if current is not None:
                current.append(_unquote(line))
            continue
        keyword, _, rest = line.partition(" ")
        current = parts.setdefault(keyword, [])
        current.append(_unquote(rest))
    if "msgctxt" in parts or "msgid_plural" in parts:
        return None
    return "".join(parts.get("msgid", [])), "".join(parts.get("msgstr", []))


_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _unquote(quoted: str) -> str:
    """The text of one quoted ``.po`` string (its C escapes undone)."""
    body = quoted.strip()[1:-1]
    if "\\" not in body:
        return body
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)
