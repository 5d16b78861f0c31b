"""``cmc-workflow webhook add|list|deliveries|remove`` in-process (:func:`run_cli`) on a
SQLite file: the secret printed once and never listed, bad input refused naming the
field in both languages with nothing stored, removal."""

from __future__ import annotations

from pathlib import Path

from cmc_workflow.exits import Exit
from tests.helpers.cli import run_cli


def test_add_list_remove(sqlite_url: str, tmp_path: Path) -> None:
    added = run_cli(
        "webhook", "add", "--db", sqlite_url, "--url", "https://erp.example/hook",
        "--event", "sla.breach", "--workflow", "article", "--label", "ERP",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    secret = added.stdout.strip()
    assert secret.startswith("whsec_")
    assert "仅显示这一次" in added.stderr
    assert "CMC_WEBHOOK_KEY" in added.stderr  # stored as is: said so
    listed = run_cli("webhook", "list", "--db", sqlite_url, "--json")
    (row,) = listed.json()
    assert row["events"] == ["sla.breach"]
    assert row["workflows"] == ["article"]
    assert secret not in listed.stdout
    shown = run_cli("webhook", "deliveries", "--db", sqlite_url, str(row["id"]), "--json")
    assert shown.json() == []
    removed = run_cli("webhook", "remove", "--db", sqlite_url, str(row["id"]))
    assert removed.exit_code == 0
    assert "已删除" in removed.stdout
    again = run_cli("webhook", "remove", "--db", sqlite_url, str(row["id"]))
    assert again.exit_code == Exit.USAGE
    assert "没有编号为" in again.stderr
    assert run_cli("webhook", "list", "--db", sqlite_url, "--json").json() == []


def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(sqlite_url: str) -> None:
    for url in ("ftp://erp.example/hook", "http://erp.example/hook", "not a url"):
        refused = run_cli("webhook", "add", "--db", sqlite_url, "--url", url)
        assert refused.exit_code != 0
        assert "url" in refused.stderr
        assert "https" in refused.stderr
    unknown = run_cli(
        "webhook", "add", "--db", sqlite_url, "--url", "https://a.example/h", "--event", "x"
    )
    assert unknown.exit_code == Exit.USAGE
    assert run_cli("webhook", "list", "--db", sqlite_url, "--json").json() == []
