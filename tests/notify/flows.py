"""The workflow and the notifications file the notification tests run."""

from __future__ import annotations

from typing import Any

TASK = """\
id: task
label: {zh: 任务, en: Task}
roles:
  lead: {zh: 组长, en: Lead}
  editor: {zh: 编辑, en: Editor}
data:
  assignees: {type: list, required: false, label: {zh: 承办人, en: Assignees}}
start: {state: new, roles: [lead]}
states:
  new:
    type: userTask
    label: {zh: 待派发, en: New}
    transitions:
      - trigger: assign
        target: assigned
        roles: [lead]
        form:
          assignees: {type: list, min: 1}
  assigned:
    type: userTask
    label: {zh: 已派发, en: Assigned}
    assignee: assignees
    deadline:
      within: 2 working days
      steps:
        - {at: 50%, action: warn, to: editor}
        - {at: 100%, action: breach, to: editor}
    transitions:
      - {trigger: done, target: finished, roles: [editor]}
  finished:
    type: endEvent
    label: {zh: 完成, en: Done}
"""


def notifications(smtp_port: int, hook_url: str, **extra: Any) -> dict[str, Any]:
    """A notifications file (as data): wang prefers mail and the webhook; li has none."""
    return {
        "kind": "notifications",
        "transports": {
            "mail": {
                "type": "smtp",
                "host": "127.0.0.1",
                "port": smtp_port,
                "starttls": False,
                "user": "cmc",
                "password_env": "CMC_TEST_SMTP_PASSWORD",
                "sender": "CMC 工作流 <cmc@lib.example.cn>",
                "timeout": 10,
            },
            "hook": {
                "type": "webhook",
                "url": hook_url,
                "secret_env": "CMC_TEST_HOOK_SECRET",
            },
        },
        "default_transports": ["mail"],
        "people": {
            "wang": {"transports": ["mail", "hook"], "email": "wang@lib.example.cn"},
            "li": {"email": "li@lib.example.cn", "language": "en"},
        },
        "roles": {"lead": ["zhao"], "editor": ["wang", "li"]},
        "retry_seconds": 60,
        "max_attempts": 3,
        **extra,
    }


SECRETS = {"CMC_TEST_SMTP_PASSWORD": "s3cret-pw", "CMC_TEST_HOOK_SECRET": "hook-secret"}
