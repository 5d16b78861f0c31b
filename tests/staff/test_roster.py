"""Rosters the way HR keeps them (STF-1): CSV in UTF-8 with or without a BOM, GBK
recognised and refused with the fix, XLSX; every bad row by row and column, nothing
imported while one remains; the export reads back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from cmc_workflow import Actor
from cmc_workflow.errors import RosterInvalid
from cmc_workflow.staff import roster
from cmc_workflow.staff.catalogue import bundled
from cmc_workflow.staff.register import Register
from cmc_workflow.store import MemoryStore
from tests.helpers.chinese import assert_reads_in_chinese

TODAY = dt.date(2025, 9, 26)
HEADINGS = "姓名,工号,岗位,角色,范围,学历,工作年限,邮箱,手机,企业微信,钉钉,入职日期,离岗日期"
GOOD = (
    f"{HEADINGS}\n"
    '王芳,E001,运营管理岗,ops_manager,"渠道:wechat,weibo;分馆:总馆",本科,5,wang@example.org,'
    "138 0013 8000,wangfang,,2024-03-01,\n"
    "李雷,E002,运营助理岗、编辑,,wechat,大专,2年,,13900139000,,lilei,2025/1/2,2025年12月31日\n"
)


def parsed(path: Path) -> list[roster.Row]:
    return roster.parse(path, bundled(), today=TODAY)


@pytest.mark.req("STF-1")
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_a_csv_roster_in_chinese_headings_reads_people_and_posts(
    tmp_path: Path, encoding: str
) -> None:
    file = tmp_path / "roster.csv"
    file.write_text(GOOD, encoding=encoding)
    (wang, wang_posts), (li, li_posts) = parsed(file)
    assert (wang.name, wang.employee_no, wang.mobile, wang.education) == (
        "王芳",
        "E001",
        "138 0013 8000",
        "bachelor",
    )
    assert [(p.post, p.scope, p.starts_on) for p in wang_posts] == [
        ("ops_manager", {"channels": ["wechat", "weibo"], "branch": "总馆"}, dt.date(2024, 3, 1))
    ]
    assert li.experience_years == 2
    assert [(p.post, p.ends_on) for p in li_posts] == [
        ("ops_assistant", dt.date(2025, 12, 31)),
        ("editor", dt.date(2025, 12, 31)),
    ]


def test_english_headings_and_an_xlsx_workbook_read_the_same(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Name", "Employee_No", "Post", "Education", "Years", "Mobile", "Start", "部门"])
    sheet.append(
        [
            "王芳",
            1001,
            "Operations manager",
            "Bachelor",
            5,
            13800138000,
            dt.datetime(2024, 3, 1),
            "x",
        ]
    )
    file = tmp_path / "roster.xlsx"
    book.save(file)
    ((wang, posts),) = parsed(file)
    assert (wang.employee_no, wang.mobile, wang.education) == ("1001", "13800138000", "bachelor")
    assert [(p.post, p.starts_on) for p in posts] == [("ops_manager", dt.date(2024, 3, 1))]


def test_a_gbk_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    file = tmp_path / "roster.csv"
    file.write_bytes(GOOD.encode("gbk"))
    with pytest.raises(RosterInvalid) as invalid:
        parsed(file)
    (problem,) = invalid.value.problems
    assert problem.code == "E-STAFF-ENCODING"
    assert "GBK" in problem.message
    assert "CSV UTF-8" in problem.hint
    assert "UTF-8" in problem.hint_zh


def test_every_bad_row_is_named_by_row_and_column_and_nothing_is_imported(tmp_path: Path) -> None:
    store = MemoryStore()
    register = Register(store)
    register.add(Actor("hr1"), roster.PersonEntry("赵六", "E009"))
    file = tmp_path / "roster.csv"
    file.write_text(
        "姓名,工号,岗位,学历,工作年限,邮箱,手机\n"
        ",E001,编辑,本科,3,,\n"  # no name
        "王芳,E002,编辑,本科,3,,\n"
        "王芳二,E002,编辑,本科,3,,\n"  # the same person twice
        "赵六,E009,编辑,本科,3,,\n"  # already in the register
        "孙七,E004,主编,本科,3,,\n"  # no such post
        "周八,E005,编辑,本科,3,zhou@,12345\n"  # two bad addresses
        "吴九,E006,编辑,本科,三年,,\n",  # years not a number
        encoding="utf-8",
    )
    with pytest.raises(RosterInvalid) as invalid:
        roster.parse(
            file, register.catalogue, [p.person_id for p in register.people()], today=TODAY
        )
    found = [(p.line, p.column, p.code) for p in invalid.value.problems]
    assert found == [
        (2, 1, "E-STAFF-NAME"),
        (4, 2, "E-STAFF-DUPLICATE"),
        (5, 2, "E-STAFF-DUPLICATE"),
        (6, 3, "E-STAFF-POST"),
        (7, 6, "E-STAFF-ADDRESS"),
        (7, 7, "E-STAFF-ADDRESS"),
        (8, 5, "E-STAFF-YEARS"),
    ]
    assert all(p.file == str(file) for p in invalid.value.problems)
    assert_reads_in_chinese(invalid.value.problems)
    assert "is on row 3 already" in invalid.value.problems[1].message
    assert [p.person_id for p in register.people()] == ["e009"]


def test_a_roster_without_a_name_column_or_empty_is_refused(tmp_path: Path) -> None:
    for text, code in (("工号,岗位\nE1,编辑\n", "E-STAFF-HEADING"), ("\n\n", "E-STAFF-EMPTY")):
        file = tmp_path / "r.csv"
        file.write_text(text, encoding="utf-8")
        with pytest.raises(RosterInvalid) as invalid:
            parsed(file)
        assert invalid.value.problems[0].code == code


def test_the_export_masks_addresses_and_reads_back(tmp_path: Path) -> None:
    register = Register(MemoryStore())
    file = tmp_path / "roster.csv"
    file.write_text(GOOD, encoding="utf-8")
    register.import_people(Actor("hr1"), parsed(file))
    masked = roster.write_csv(register.people())
    assert masked.startswith("\ufeff姓名,工号,人员编号,岗位")
    assert "13800138000" not in masked
    assert "13*******00" in masked
    clear = tmp_path / "export.csv"
    clear.write_text(roster.write_csv(register.people(), reveal=True), encoding="utf-8")
    again = Register(MemoryStore())
    again.import_people(Actor("hr1"), parsed(clear))
    assert [p.view(reveal=True) | {"posts": None} for p in again.people()] == [
        p.view(reveal=True) | {"posts": None} for p in register.people()
    ]


def test_each_bad_cell_reads_in_the_chosen_language_under_its_own_heading(
    tmp_path: Path,
) -> None:
    # the heading is the roster's own (Chinese here), in both languages; the rest follows
    # the language: a text shown with --lang en/zh, both in JSON (message, message_zh)
    file = tmp_path / "roster.csv"
    file.write_text(
        "姓名,工号,学历,工作年限,范围\n王芳,E001,幼儿园,三年,foo:bar\n", encoding="utf-8"
    )
    with pytest.raises(RosterInvalid) as invalid:
        parsed(file)
    education, years, scope = invalid.value.problems
    assert education.text("zh") == (
        f"{file}:2:3: E-STAFF-EDUCATION 学历：'幼儿园' 不是学历（大专、本科、硕士……）"
    )
    assert education.text("en") == (
        f"{file}:2:3: E-STAFF-EDUCATION 学历: '幼儿园' is not an education level "
        "(大专, 本科, 硕士...)"
    )
    assert years.text("zh") == f"{file}:2:4: E-STAFF-YEARS 工作年限：'三年' 不是年数"
    assert scope.message_zh == "范围：'foo' 不是范围（渠道、应用、分馆、内容类型或审核环节）"
    assert scope.message == (
        "范围: 'foo' is not a scope (渠道/channels, 应用/applications, 分馆/branch, "
        "内容类型/content_types, 审核环节/review_stages)"
    )
