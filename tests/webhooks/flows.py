"""The workflows the webhook tests run: an article with a reviewed state under a
deadline (a warning without ``to:``: one timer per waiting role, one event), and a memo
(for the workflow filter)."""

from __future__ import annotations

from pathlib import Path

ARTICLE = """\
id: article
label: {zh: 稿件, en: Article}
roles:
  editor: {zh: 编辑, en: Editor}
  reviewer: {zh: 审核人, en: Reviewer}
data:
  title: {type: string, required: false}
start: {state: draft, roles: [editor]}
states:
  draft:
    type: userTask
    label: {zh: 撰稿, en: Draft}
    transitions:
      - {trigger: submit, target: review, roles: [editor]}
  review:
    type: userTask
    label: {zh: 审核, en: Review}
    deadline:
      within: 2 working days
      steps:
        - {at: 50%, action: warn}
    transitions:
      - {trigger: approve, target: done, roles: [reviewer]}
      - {trigger: reject, target: draft, roles: [reviewer, editor]}
  done:
    type: endEvent
    label: {zh: 完成, en: Done}
"""

MEMO = """\
id: memo
label: {zh: 便笺, en: Memo}
roles:
  editor: {zh: 编辑, en: Editor}
start: {state: open, roles: [editor]}
states:
  open:
    type: userTask
    label: {zh: 待办, en: Open}
    transitions:
      - {trigger: close, target: closed, roles: [editor]}
  closed:
    type: endEvent
    label: {zh: 已结, en: Closed}
"""


def workflows(folder: Path) -> Path:
    """The test workflows, written under ``folder / "workflows"``."""
    home = folder / "workflows"
    home.mkdir(parents=True, exist_ok=True)
    (home / "article.yaml").write_text(ARTICLE, encoding="utf-8")
    (home / "memo.yaml").write_text(MEMO, encoding="utf-8")
    return home
