"""What the console says, in Chinese (the default) and English: one table, looked up by
key (the templates call ``t("key")``). A missing key is a test failure
(``tests/console/test_console_pages.py`` renders every page in both languages)."""

from __future__ import annotations

from typing import Literal

__all__ = ["LANGS", "TEXTS", "Lang", "text"]

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

TEXTS: dict[str, tuple[str, str]] = {
    "product": ("工作流控制台", "Workflow console"),
    "switch_lang": ("English", "中文"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "person": ("人员编号", "Person id"),
    "password": ("密码", "Password"),
    "signed_in_as": ("当前用户：", "Signed in as "),
    "roles": ("岗位角色", "Roles"),
    "tasks": ("我的任务", "My tasks"),
    "mine": ("我经办的任务", "Tasks of mine"),
    "queue": ("本岗位待认领", "My roles' queue"),
    "search": ("查找", "Search"),
    "dashboard": ("看板", "Dashboard"),
    "compliance": ("合规矩阵", "Compliance matrix"),
    "none": ("暂无", "None"),
    "id": ("编号", "Id"),
    "title": ("标题", "Title"),
    "workflow": ("流程", "Workflow"),
    "state": ("状态", "State"),
    "updated": ("更新时间", "Updated"),
    "created": ("创建时间", "Created"),
    "any": ("全部", "Any"),
    "overdue_only": ("只看已超期", "Overdue only"),
    "open_only": ("只看未办结", "Open only"),
    "results": ("查找结果", "Results"),
    "next_page": ("下一页", "Next page"),
    "item": ("事项", "Item"),
    "data": ("事项内容", "Data"),
    "timeline": ("办理经过", "Timeline"),
    "diagram": ("流程图（当前状态已标出）", "Diagram (the current state is marked)"),
    "clocks": ("时限", "SLA clocks"),
    "actions": ("现在可以办理", "What you may do now"),
    "not_now": ("现在不能办理", "Not open to you now"),
    "submit": ("提交", "Submit"),
    "claim": ("认领", "Claim"),
    "unclaim": ("放回队列", "Put back in the queue"),
    "in_queue": (
        "此任务在本岗位队列中，认领后由你办理",
        "In your role's queue: claim it to make it yours",
    ),
    "held_by_you": ("此任务由你办理", "This task is yours"),
    "try_anyway": ("仍要提交（由规则判定）", "Send it anyway (the rules decide)"),
    "done": ("已办理", "Done"),
    "refused": ("未获准", "Refused"),
    "rule": ("规则", "Rule"),
    "at": ("时间", "At"),
    "actor": ("经办人", "By"),
    "step": ("操作", "Step"),
    "form": ("填写内容", "Form"),
    "due": ("到期", "Due"),
    "status": ("状况", "Status"),
    "started": ("起算", "Started"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "checklist_note": (
        "审核清单：逐项确认后勾选（PUB-5）",
        "Review checklist: tick each item once checked (PUB-5)",
    ),
    "list_hint": ("多项用逗号分隔", "separate several with commas"),
    "sla_by_month": ("每月时限达成与超期（按流程）", "SLA met and breached per month and workflow"),
    "open_by_state": ("未办结事项（按状态）", "Open items per state"),
    "overdue_by_person": ("超期工作（按人员）", "Overdue work per person"),
    "publications": ("各渠道发布量", "Publications per channel"),
    "met": ("按时", "met"),
    "breached": ("超期", "breached"),
    "no_data": ("暂无数据", "No data yet"),
    "requirement": ("要求", "Requirement"),
    "level": ("级别", "Level"),
    "carried_out": ("落实方式", "How carried out"),
    "tests": ("验证测试", "Tests"),
    "gaps": ("尚未落实", "Gaps"),
    "not_found": ("找不到该事项", "Item not found"),
    "session_expired": ("登录已失效，请重新登录", "Your session ended: sign in again"),
    "csrf_failed": (
        "表单已失效（CSRF 校验未通过），请刷新页面后重试",
        "The form expired (CSRF check failed): reload the page and try again",
    ),
    "too_many": ("登录失败次数过多，请稍后再试", "Too many failed sign-ins: try again later"),
    "conflict": (
        "该事项刚被他人改动，请查看最新状态后再办理",
        "Someone changed this item just now: look at it again before you act",
    ),
    "input_invalid": ("填写内容不符合要求", "The form is not filled in as required"),
    "footer": (
        "所有办理均经同一引擎与规则判定，并记入审计。",
        "Every action goes through the same engine and policies, and is audited.",
    ),
}


def text(key: str, lang: Lang) -> str:
    """The text of ``key`` in ``lang``."""
    zh, en = TEXTS[key]
    return zh if lang == "zh" else en
