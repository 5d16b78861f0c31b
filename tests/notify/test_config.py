"""The ``kind: notifications`` file: bad input gets located errors in both languages —
an address that fails to parse, an unknown transport, a missing environment secret, a
second notifications file — and quiet hours move a notice, but never a breach or a fault."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from cmc_workflow.errors import DefinitionError
from cmc_workflow.language import load_paths
from cmc_workflow.notify.config import NotificationsFile, parsed_email
from cmc_workflow.notify.extension import Notifications
from tests.helpers.chinese import assert_reads_in_chinese
from tests.notify.flows import SECRETS, notifications

GOOD = notifications(2525, "http://127.0.0.1:9/hook")


def write(folder: Path, text: str, name: str = "notifications.yaml") -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads_as_its_kind(tmp_path: Path) -> None:
    write(tmp_path, yaml.safe_dump(GOOD, allow_unicode=True))
    loaded = load_paths([tmp_path])
    assert loaded.problems == []
    [(_, config)] = loaded.others["notifications"]
    assert isinstance(config, NotificationsFile)
    assert config.language == "zh"


def test_an_unknown_transport_and_a_bad_address_are_placed(tmp_path: Path) -> None:
    text = """\
kind: notifications
transports:
  mail: {type: smtp, host: 127.0.0.1, sender: 'CMC <cmc@lib.example.cn>'}
default_transports: [mail, sms]
people:
  wang: {transports: [wechat], email: 'wang at lib'}
"""
    path = write(tmp_path, text)
    problems = load_paths([tmp_path]).problems
    found = {(p.code, p.line, p.column) for p in problems}
    assert ("E-NOTIFY-TRANSPORT", 4, 28) in found
    assert ("E-NOTIFY-TRANSPORT", 6, 23) in found
    assert ("E-NOTIFY-ADDRESS", 6, 39) in found
    assert all(p.file == str(path) for p in problems)
    assert_reads_in_chinese(problems)
    transport = next(p for p in problems if p.code == "E-NOTIFY-TRANSPORT")
    assert "sms" in transport.message
    assert "known transports: mail" in transport.hint
    assert "未知的发送方式" in transport.message_zh
    address = next(p for p in problems if p.code == "E-NOTIFY-ADDRESS")
    assert "不是电子邮件地址" in address.message_zh


def test_an_unknown_transport_type_and_a_secret_in_the_file_are_refused(tmp_path: Path) -> None:
    text = """\
kind: notifications
transports:
  mail: {type: smtp, host: 127.0.0.1, sender: cmc@lib.example.cn, password: hunter2}
  sms: {type: sms, url: 'https://sms.example.cn'}
"""
    write(tmp_path, text)
    problems = load_paths([tmp_path]).problems
    assert problems
    assert {p.line for p in problems} <= {3, 4}
    assert any(p.line == 3 for p in problems)  # password: is no key: secrets come from env
    assert any(p.line == 4 for p in problems)
    assert_reads_in_chinese(problems)


def test_a_missing_environment_secret_is_a_located_error(tmp_path: Path) -> None:
    path = write(tmp_path, yaml.safe_dump(GOOD, allow_unicode=True, sort_keys=False))
    loaded = load_paths([tmp_path])
    [(doc, config)] = loaded.others["notifications"]
    with pytest.raises(DefinitionError) as caught:
        Notifications.from_file(config, doc, {"CMC_TEST_SMTP_PASSWORD": "x"})
    [problem] = caught.value.problems
    assert problem.code == "E-NOTIFY-SECRET"
    assert problem.file == str(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert "secret_env: CMC_TEST_HOOK_SECRET" in lines[problem.line - 1]
    assert "CMC_TEST_HOOK_SECRET" in problem.message
    assert "未设置" in problem.message_zh
    assert_reads_in_chinese([problem])
    assert "x" not in problem.message.split()  # no secret value in the message
    Notifications.from_file(config, doc, SECRETS)  # with both set it binds


def test_a_second_notifications_file_is_refused(tmp_path: Path) -> None:
    write(tmp_path, yaml.safe_dump(GOOD), "a.yaml")
    write(tmp_path, yaml.safe_dump(GOOD), "b.yaml")
    problems = load_paths([tmp_path]).problems
    assert [p.code for p in problems] == ["E-NOTIFY-DUPLICATE"]
    assert problems[0].file.endswith("b.yaml")
    assert_reads_in_chinese(problems)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("wang@lib.example.cn", "wang@lib.example.cn"),
        ("王芳 <wang@lib.example.cn>", "wang@lib.example.cn"),
        ("wang at lib", None),
        ("wang@lib", None),
        ("a@b.cn, c@d.cn", None),
        ("", None),
    ],
)
def test_addresses_parse_as_one_mailbox(text: str, address: str | None) -> None:
    assert parsed_email(text) == address


SHANGHAI_2300 = dt.datetime(2025, 9, 26, 15, 0, tzinfo=dt.UTC)


def test_quiet_hours_move_a_task_to_their_end_but_not_a_breach_or_a_fault() -> None:
    config = NotificationsFile.model_validate(
        {**GOOD, "quiet_hours": {"start": "22:00", "end": "07:30"}}
    )
    end = dt.datetime(2025, 9, 26, 23, 30, tzinfo=dt.UTC)  # 07:30 in Shanghai next day
    assert config.quiet_until(SHANGHAI_2300, "task") == end
    assert config.quiet_until(SHANGHAI_2300, "warn") == end
    assert config.quiet_until(SHANGHAI_2300, "breach") == SHANGHAI_2300
    assert config.quiet_until(SHANGHAI_2300, "fault") == SHANGHAI_2300
    after_midnight = SHANGHAI_2300 + dt.timedelta(hours=3)  # 02:00
    assert config.quiet_until(after_midnight, "task") == end
    noon = SHANGHAI_2300 - dt.timedelta(hours=11)
    assert config.quiet_until(noon, "task") == noon
