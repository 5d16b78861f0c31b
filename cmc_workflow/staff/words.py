"""The words of the rosters HR keeps: the column headings, the scope keys, the education
levels and the date and year signs people write in a roster cell, in Chinese and
English. They are data, not messages: a roster is read by matching its cells against
them, and the export (:func:`cmc_workflow.staff.roster.write_csv`) writes the Chinese
ones back so that the file imports again; translating them would break both. The
messages about a roster are in the catalogue (:mod:`cmc_workflow.i18n`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

HEADINGS: Mapping[str, tuple[str, ...]] = {
    "name": ("姓名", "name"),
    "employee_no": ("工号", "employee_no", "employee no", "employee number"),
    "person_id": ("人员编号", "person_id", "person id", "actor", "账号"),
    "post": ("岗位", "post", "posts"),
    "role": ("角色", "role"),
    "scope": ("范围", "scope"),
    "education": ("学历", "education"),
    "experience_years": ("工作年限", "experience_years", "years", "experience"),
    "email": ("邮箱", "email", "e-mail"),
    "mobile": ("手机", "mobile", "手机号", "phone"),
    "wecom": ("企业微信", "wecom"),
    "dingtalk": ("钉钉", "dingtalk"),
    "joined_on": ("入职日期", "joined_on", "start", "starts_on"),
    "ends_on": ("离岗日期", "ends_on", "end", "left_on"),
}
"""Each field and the headings that name it (first: the Chinese one the export writes)."""

SCOPE_KEYS: Mapping[str, str] = {
    "渠道": "channels",
    "频道": "channels",
    "账号": "channels",
    "channels": "channels",
    "channel": "channels",
    "应用": "applications",
    "applications": "applications",
    "application": "applications",
    "分馆": "branch",
    "branch": "branch",
    "内容类型": "content_types",
    "content_types": "content_types",
    "content_type": "content_types",
    "审核环节": "review_stages",
    "review_stages": "review_stages",
    "review_stage": "review_stages",
}
"""The words a 范围 (scope) cell may name a part of a scope by, and the key each means."""

SCOPE_LABELS: Mapping[str, str] = {
    "channels": "渠道",
    "applications": "应用",
    "branch": "分馆",
    "content_types": "内容类型",
    "review_stages": "审核环节",
}
"""The word the export writes for each key of a scope (and the first one read back)."""

EDUCATION_ZH: Mapping[str, str] = {
    "secondary": "高中/中专",
    "associate": "大专",
    "bachelor": "本科",
    "master": "硕士",
    "doctorate": "博士",
}
"""Each education level as HR names it in Chinese."""

EDUCATION_WORDS: Mapping[str, str] = {
    **{v: k for k, v in EDUCATION_ZH.items()},
    "高中": "secondary",
    "中专": "secondary",
    "中职": "secondary",
    "专科": "associate",
    "大学本科": "bachelor",
    "学士": "bachelor",
    "研究生": "master",
    "硕士研究生": "master",
    "博士研究生": "doctorate",
    "college": "associate",
    "associate's": "associate",
    "bachelor's": "bachelor",
    "master's": "master",
    "phd": "doctorate",
    "doctor": "doctorate",
}
"""The other words a roster's 学历 cell may use for a level."""

YEARS_SIGN = "年"
"""The sign a 工作年限 cell may end with (``5年``)."""

DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?")
"""A date as a roster cell writes it: ``2025-03-01``, ``2025/3/1``, ``2025年3月1日``."""
