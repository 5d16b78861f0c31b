"""API tokens: ``cmc-workflow token create|list|revoke`` and the checks behind the HTTP
API's sign-in — the secret shown once, only its SHA-256 stored, every way a token can be
wrong told apart (the HTTP tests audit and answer them)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from cmc_workflow.api.tokens import check_token, issue_token, list_tokens
from cmc_workflow.store import Store
from tests.helpers.cli import run_cli

NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def test_the_cli_creates_lists_and_revokes_tokens(db_url: str) -> None:
    made = run_cli(
        "token", "create", "--db", db_url, "--system", "library-erp", "--label", "ERP", "--json"
    )
    assert made.exit_code == 0, made.stderr
    token = json.loads(made.stdout)
    assert token["system"] == "library-erp"
    assert token["token"].startswith(f"cmcw_{token['key']}_")
    listed = run_cli("token", "list", "--db", db_url, "--json")
    (row,) = json.loads(listed.stdout)
    assert (row["key"], row["label"], row["revoked_at"]) == (token["key"], "ERP", None)
    assert token["token"].split("_", 2)[2] not in listed.stdout
    table = run_cli("token", "list", "--db", db_url, "--system", "library-erp")
    assert token["key"] in table.stdout
    assert run_cli("token", "list", "--db", db_url, "--system", "cms").stdout.strip() == "（无）"
    other = run_cli("token", "revoke", "--db", db_url, "--system", "cms", token["key"])
    assert other.exit_code == 2
    done = run_cli("token", "revoke", "--db", db_url, token["key"])
    assert done.exit_code == 0, done.stderr
    again = run_cli("token", "revoke", "--db", db_url, token["key"])
    assert again.exit_code == 2
    assert "没有可吊销的令牌" in again.stderr
    (revoked,) = json.loads(run_cli("token", "list", "--db", db_url, "--json").stdout)
    assert revoked["revoked_at"] is not None
    bad = run_cli("token", "create", "--db", db_url, "--system", "Library ERP")
    assert bad.exit_code == 2


def test_only_the_hash_of_the_secret_is_stored(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    try:
        issued = issue_token(store, "erp", label="", created_by="t", now=NOW)
        secret = base64.urlsafe_b64decode(issued.text.split("_", 2)[2] + "=")
        assert len(secret) == 32
        (row,) = list_tokens(store)
        assert row.secret_hash == hashlib.sha256(secret).hexdigest()
        with store.read() as tx:
            dumped = repr(tx.tokens())
        assert issued.text.split("_", 2)[2] not in dumped
    finally:
        store.close()
    raw = Path(sqlite_url.removeprefix("sqlite:///")).read_bytes()
    assert issued.text.split("_", 2)[2].encode() not in raw


@pytest.mark.parametrize(
    ("presented", "rule"),
    [
        (None, "token_missing"),
        ("", "token_missing"),
        ("cmcw_short", "token_malformed"),
        ("CMCW_0123456789abcdef_" + "A" * 43, "token_malformed"),
        ("cmcw_0123456789abcdef_" + "A" * 42, "token_malformed"),
        ("cmcw_0123456789abcdef_" + "A" * 43, "token_unknown"),
    ],
)
def test_each_way_a_token_is_wrong_has_its_rule(
    sqlite_url: str, presented: str | None, rule: str
) -> None:
    store = Store.open(sqlite_url)
    try:
        assert check_token(store, presented, NOW).rule == rule
    finally:
        store.close()


def test_a_right_key_with_a_wrong_secret_is_unknown(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    try:
        issued = issue_token(store, "erp", label="", created_by="t", now=NOW)
        good = check_token(store, issued.text, NOW)
        assert good.row is not None
        assert good.row.system == "erp"
        forged = f"cmcw_{issued.key}_{'B' * 43}"
        assert check_token(store, forged, NOW).rule == "token_unknown"
    finally:
        store.close()
