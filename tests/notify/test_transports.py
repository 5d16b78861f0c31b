"""Each transport against a real server on loopback: the SMTP server (aiosmtpd, AUTH),
and an HTTP server checking the documented JSON shapes of the signed webhook, the WeCom
group robot and the DingTalk group robot (its signed URL)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import ssl
import urllib.parse
from pathlib import Path

import pytest

from cmc_workflow.notify.config import DingTalk, Smtp, Webhook, WeCom
from cmc_workflow.notify.templates import render
from cmc_workflow.notify.transports import (
    DingTalkSender,
    Message,
    SendFailed,
    SmtpSender,
    WebhookSender,
    WeComSender,
    dingtalk_sign,
)
from tests.notify.servers import (
    PASSWORD,
    USER,
    Hook,
    Mailbox,
    free_port,
    http_server,
    self_signed,
    smtp_server,
)

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")

FACTS = {"event": "warn", "workflow": "consult", "item_id": 7, "state": "open", "due_at": None}


def message() -> Message:
    return render(FACTS, "zh", "timer:3:warn:ops_assistant:wang:hook")


def smtp(port: int, **changes: object) -> Smtp:
    values: dict[str, object] = {
        "type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "starttls": False,
        "user": USER,
        "sender": "CMC 工作流 <cmc@lib.example.cn>",
        "timeout": 10,
        **changes,
    }
    return Smtp.model_validate(values)


def test_smtp_logs_in_and_delivers_a_bilingual_mail(box: Mailbox) -> None:
    SmtpSender(smtp(box.port), PASSWORD).send("wang@lib.example.cn", message())
    [mail] = box.mails
    assert box.logins == [USER]
    assert mail["To"] == "wang@lib.example.cn"
    assert mail["Subject"].startswith("时限预警")
    body = mail.get_content()
    assert "时限预警" in body
    assert "Deadline warning" in body
    assert mail["X-CMC-Idempotency-Key"] == "timer:3:warn:ops_assistant:wang:hook"


def test_smtp_with_a_wrong_password_fails_and_sends_nothing(box: Mailbox) -> None:
    with pytest.raises(SendFailed, match=r"smtp 127\.0\.0\.1.*535"):
        SmtpSender(smtp(box.port), "wrong").send("wang@lib.example.cn", message())
    assert box.mails == []


def test_starttls_is_required_when_configured_never_silently_dropped(box: Mailbox) -> None:
    # this server offers no STARTTLS (no certificate package installed to make one):
    # the sender refuses to send in clear rather than downgrade
    with pytest.raises(SendFailed, match="STARTTLS"):
        SmtpSender(smtp(box.port, starttls=True), PASSWORD).send("w@lib.example.cn", message())
    assert box.mails == []


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl to make a certificate")
def test_starttls_then_auth_against_a_server_that_requires_it(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    with smtp_server(tls=server_tls) as box:
        trusting = ssl.create_default_context(cafile=str(cert))
        SmtpSender(smtp(box.port, starttls=True), PASSWORD, tls=trusting).send(
            "wang@lib.example.cn", message()
        )
        assert box.logins == [USER]
        assert [m["To"] for m in box.mails] == ["wang@lib.example.cn"]
        # a certificate the sender does not trust is refused: nothing goes out in clear
        with pytest.raises(SendFailed, match="CERTIFICATE_VERIFY_FAILED"):
            SmtpSender(smtp(box.port, starttls=True), PASSWORD).send("x@lib.example.cn", message())
        # and the server refuses a sender that would skip STARTTLS
        with pytest.raises(SendFailed):
            SmtpSender(smtp(box.port), PASSWORD).send("y@lib.example.cn", message())
        assert len(box.mails) == 1


def test_smtp_down_is_a_send_failure() -> None:
    with pytest.raises(SendFailed):
        SmtpSender(smtp(free_port()), PASSWORD).send("wang@lib.example.cn", message())


def test_the_webhook_is_signed_json(hook: Hook) -> None:
    config = Webhook.model_validate({"type": "webhook", "url": hook.url, "secret_env": "X"})
    WebhookSender(config, "s3cret").send(hook.url, message())
    [request] = hook.requests
    expected = hmac.new(b"s3cret", request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["x-cmc-signature"] == f"sha256={expected}"
    assert request["headers"]["x-cmc-idempotency-key"] == "timer:3:warn:ops_assistant:wang:hook"
    assert request["headers"]["content-type"].startswith("application/json")
    body = json.loads(request["body"])
    assert body["event"] == "warn"
    assert body["item_id"] == 7
    assert body["subject"].startswith("时限预警")
    assert body["key"] == "timer:3:warn:ops_assistant:wang:hook"
    forged = hmac.new(b"other", request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["x-cmc-signature"] != f"sha256={forged}"


def test_a_webhook_answering_503_is_a_send_failure(hook: Hook) -> None:
    hook.down = True
    config = Webhook.model_validate({"type": "webhook", "url": hook.url, "secret_env": "X"})
    with pytest.raises(SendFailed, match="HTTP 503"):
        WebhookSender(config, "s3cret").send(hook.url, message())


def test_wecom_robot_gets_markdown_and_its_key_in_the_query(hook: Hook) -> None:
    config = WeCom.model_validate({"type": "wecom", "url": hook.url, "key_env": "K"})
    WeComSender(config, "robot-key").send(hook.url, message())
    [request] = hook.requests
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(request["path"]).query)
    assert query == {"key": ["robot-key"]}
    body = json.loads(request["body"])
    assert body["msgtype"] == "markdown"
    assert "时限预警" in body["markdown"]["content"]


def test_dingtalk_robot_url_is_signed_as_dingtalk_documents(hook: Hook) -> None:
    config = DingTalk.model_validate(
        {"type": "dingtalk", "url": hook.url, "token_env": "T", "secret_env": "S"}
    )
    DingTalkSender(config, "tok", "SECabc").send(hook.url, message())
    [request] = hook.requests
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(request["path"]).query)
    assert query["access_token"] == ["tok"]
    stamp = query["timestamp"][0]
    digest = hmac.new(b"SECabc", f"{stamp}\nSECabc".encode(), hashlib.sha256).digest()
    assert query["sign"] == [base64.b64encode(digest).decode()]  # parse_qs decoded it
    body = json.loads(request["body"])
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"].startswith("时限预警")
    assert dingtalk_sign("SECabc", int(stamp)) == urllib.parse.quote_plus(query["sign"][0])


def test_a_robot_refusal_in_the_reply_is_a_send_failure() -> None:
    with http_server(reply=b'{"errcode": 310000, "errmsg": "sign not match"}') as hook:
        config = DingTalk.model_validate(
            {"type": "dingtalk", "url": hook.url, "token_env": "T", "secret_env": "S"}
        )
        with pytest.raises(SendFailed, match="310000") as caught:
            DingTalkSender(config, "tok", "SECabc").send(hook.url, message())
    assert "tok" not in str(caught.value)  # the token stays out of errors and records
