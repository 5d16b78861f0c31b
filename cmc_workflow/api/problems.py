"""Errors as RFC 9457 problem documents (``application/problem+json``), in Chinese or
English.

Every document carries ``type`` (``urn:cmc-workflow:problem:<code>``), ``title``,
``status``, ``detail`` in the language the caller asked for (``Accept-Language``: Chinese
by default, English when ``en`` comes first), and always both languages in ``message``
(``{"zh": ..., "en": ...}``). ``code`` is the engine's code (the refusing rule: a policy
rule's id, ``input_invalid``, ``NotPermitted``, ...) and the same in both languages;
``errors`` lists bad fields; ``item_id``, ``trigger`` and ``state`` say what was refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cmc_workflow.errors import (
    CalendarError,
    CmcWorkflowError,
    ConflictError,
    DatabaseReadOnly,
    EngineError,
    FormInvalid,
    GuardRejected,
    HandlerFailed,
    IdentityRefused,
    InputInvalid,
    InvalidTrigger,
    ItemNotFound,
    NotPermitted,
    PolicyDenied,
    StoreError,
    WorkflowNotFound,
)

__all__ = ["MEDIA_TYPE", "Problem", "language", "problem_of"]

MEDIA_TYPE = "application/problem+json"

# the HTTP status and the Chinese title of each engine error, most specific first
_KINDS: tuple[tuple[type[CmcWorkflowError], int, str, str], ...] = (
    (ItemNotFound, 404, "找不到事项", "Item not found"),
    (WorkflowNotFound, 404, "找不到流程", "Workflow not found"),
    (InputInvalid, 422, "输入无效", "Input invalid"),
    (FormInvalid, 422, "表单有误", "Form invalid"),
    (IdentityRefused, 403, "操作人身份不被接受", "Identity refused"),
    (NotPermitted, 403, "无权执行该操作", "Not permitted"),
    (PolicyDenied, 403, "规则拒绝了该操作", "Refused by a rule"),
    (ConflictError, 409, "事项已被他人先行修改", "Conflict"),
    (InvalidTrigger, 409, "当前状态下不能执行该操作", "Trigger not possible in this state"),
    (GuardRejected, 409, "该操作的条件当前不满足", "Condition does not hold"),
    (HandlerFailed, 502, "服务任务处理失败", "Handler failed"),
    (DatabaseReadOnly, 503, "数据库为只读", "Database read-only"),
    (StoreError, 503, "数据库暂不可用", "Database unavailable"),
    (CalendarError, 422, "日历无法回答该问题", "Calendar question cannot be answered"),
    (EngineError, 400, "命令未能执行", "Command not carried out"),
)

# a Chinese explanation where the engine wrote none
_ZH_DETAIL: Mapping[type[CmcWorkflowError], str] = {
    ItemNotFound: "找不到该事项：请检查事项编号",
    WorkflowNotFound: "找不到该流程：请检查流程标识",
    NotPermitted: "操作人不具备执行该操作所需的角色",
    ConflictError: "事项已被他人先行修改：请刷新后重试",
    InvalidTrigger: "该操作在事项的当前状态下不可执行",
    GuardRejected: "该操作的条件当前不满足",
    HandlerFailed: "服务任务处理失败，转换已生效，将稍后重试",
    StoreError: "数据库暂时无法完成请求，请稍后重试",
    CalendarError: "工作日日历无法回答该问题",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem document before it is written in a language."""

    status: int
    code: str
    title_zh: str
    title_en: str
    detail_zh: str
    detail_en: str
    errors: Sequence[Mapping[str, Any]] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def document(self, lang: str, instance: str | None = None) -> dict[str, Any]:
        """The JSON document in ``lang`` (``zh`` or ``en``)."""
        zh = lang == "zh"
        body: dict[str, Any] = {
            "type": f"urn:cmc-workflow:problem:{self.code}",
            "title": self.title_zh if zh else self.title_en,
            "status": self.status,
            "detail": (self.detail_zh or self.detail_en) if zh else self.detail_en,
            "code": self.code,
            "message": {"zh": self.detail_zh or self.detail_en, "en": self.detail_en},
        }
        if instance is not None:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [dict(e) for e in self.errors]
        body.update(self.extra)
        return body


def language(accept: str | None) -> str:
    """``en`` when the caller prefers English (``Accept-Language`` weights honoured),
    else ``zh``."""
    best, weight = "zh", -1.0
    for part in (accept or "").split(","):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        if not tag:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        lang = "en" if tag.startswith("en") else "zh" if tag.startswith("zh") else None
        if lang is not None and q > weight:
            best, weight = lang, q
    return best


def problem_of(exc: CmcWorkflowError) -> Problem:
    """The problem document of an engine error."""
    status, title_zh, title_en = 500, "内部错误", "Internal error"
    for kind, code_status, zh, en in _KINDS:
        if isinstance(exc, kind):
            status, title_zh, title_en = code_status, zh, en
            break
    detail_en = str(exc)
    detail_zh = ""
    code = type(exc).__name__
    extra: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    if isinstance(exc, EngineError):
        code = exc.code
        detail_zh = exc.reason_zh
        if isinstance(exc, PolicyDenied | IdentityRefused):
            detail_en = exc.reason_en
        for name in ("item_id", "trigger", "state"):
            value = getattr(exc, name)
            if value is not None:
                extra[name] = int(value) if name == "item_id" and value.isdigit() else value
        extra["rule"] = exc.rule
        if isinstance(exc, FormInvalid):
            errors = [
                {"field": e.field, "message": e.message, "message_zh": e.message_zh or e.message}
                for e in exc.errors
            ]
            if not detail_zh:
                detail_zh = "表单有误：" + "；".join(
                    f"{e.field}：{e.message_zh or e.message}" for e in exc.errors
                )
    elif isinstance(exc, DatabaseReadOnly):
        code, detail_en, detail_zh = exc.code, exc.reason_en, exc.reason_zh
    if not detail_zh:
        for kind, text in _ZH_DETAIL.items():
            if isinstance(exc, kind):
                detail_zh = f"{text}（{detail_en}）"
                break
    return Problem(status, code, title_zh, title_en, detail_zh, detail_en, errors, extra)
