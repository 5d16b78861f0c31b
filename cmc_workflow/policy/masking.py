"""Personal data (SEC-3): which fields are personal, and masking them in logs and exports.

A workflow declares personal fields with ``personal: true`` (under ``data:`` or in a
transition's form): a reader's phone number, a staff member's ID number. Values of those
fields never leave the system in clear through ``cmc-workflow audit export`` or through
logs configured with :meth:`Masker.processor`; they are shortened to a recognisable stub
(``13*******00``), in the spirit of GB/T 35273 de-identification; a message about a
value (a form error quoting it) is masked whole.

A value can hide in three places, and each is handled: a mapping key named like a
personal field (``{"phone": ...}``), a message that quotes a field (``phone: expected a
number, got '1380013'`` — the engine's form errors look like that), and the plain text of
a value known from the item's data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from cmc_workflow.definition.models import Workflow

MASK = "***"


def personal_fields(workflow: Workflow) -> frozenset[str]:
    """The fields ``workflow`` declares personal, in its data and in every form."""
    names = {name for name, spec in workflow.data.items() if spec.personal}
    for state in workflow.states.values():
        for t in state.transitions:
            names |= {name for name, spec in t.form.items() if spec.personal}
    return frozenset(names)


def mask_value(value: Any) -> Any:
    """A stub of ``value`` that keeps at most a quarter of each end: ``13*******00``."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, list | tuple):
        return [mask_value(v) for v in value]
    if isinstance(value, Mapping):
        return {k: mask_value(v) for k, v in value.items()}
    text = str(value)
    keep = min(3, len(text) // 4)
    if keep == 0:
        return "*" * max(len(text), 3)
    tail = min(4, keep + (len(text) >= 16))
    return text[:keep] + "*" * (len(text) - keep - tail) + text[-tail:]


class Masker:
    """Masks the personal fields ``fields`` (and known personal ``values``) wherever they
    appear in a record, a mapping or a log event."""

    def __init__(self, fields: Iterable[str]) -> None:
        self.fields = frozenset(fields)
        names = "|".join(re.escape(f) for f in sorted(self.fields, key=len, reverse=True))
        self._quoted = (
            # the Chinese of a form error quotes with a full-width colon and semicolon
            re.compile(rf"\b({names})(\s*[:=\uff1a]\s*)([^;\uff1b\n]*)") if names else None
        )

    @classmethod
    def for_workflows(cls, workflows: Iterable[Workflow]) -> Masker:
        """A masker for every personal field of ``workflows``."""
        fields: set[str] = set()
        for wf in workflows:
            fields |= personal_fields(wf)
        return cls(fields)

    def text(self, text: str, values: Iterable[str] = ()) -> str:
        """``text`` with quoted personal fields and the given personal values masked."""
        if self._quoted is not None:
            text = self._quoted.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
        for value in sorted(set(values), key=len, reverse=True):
            if len(value) >= 3:
                text = text.replace(value, str(mask_value(value)))
        return text

    def value(self, value: Any, values: Iterable[str] = ()) -> Any:
        """``value`` with personal parts masked, walking mappings and lists."""
        known = tuple(values)
        if isinstance(value, str):
            return self.text(value, known)
        if isinstance(value, Mapping):
            return {
                (self.text(k, known) if isinstance(k, str) else k): (
                    self._personal(v) if k in self.fields else self.value(v, known)
                )
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.value(v, known) for v in value]
        return value

    @staticmethod
    def _personal(value: Any) -> Any:
        """A value under a personal key: a stub, or the mask when it is a message about
        the value (text with spaces, e.g. a form error quoting it)."""
        if isinstance(value, str) and " " in value.strip():
            return MASK
        return mask_value(value)

    def personal_values(self, data: Mapping[str, Any]) -> list[str]:
        """The text of every personal value in an item's ``data``."""
        found: list[str] = []
        for name in self.fields & set(data):
            raw = data[name]
            for v in raw if isinstance(raw, list) else [raw]:
                if v is not None and not isinstance(v, bool):
                    found.append(str(v))
        return found

    def processor(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """A structlog processor: put it before the renderer in ``structlog.configure``."""
        for key in list(event_dict):
            value = event_dict[key]
            if key in self.fields:
                event_dict[key] = self._personal(value)
            elif isinstance(value, str | Mapping | list | tuple):
                event_dict[key] = self.value(value)
        return event_dict
