"""The notification tests' real servers on loopback: an SMTP server and an HTTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.notify.servers import Hook, Mailbox, http_server, smtp_server


@pytest.fixture
def box() -> Iterator[Mailbox]:
    """An SMTP server (aiosmtpd) on loopback and the mail it received."""
    with smtp_server() as box:
        yield box


@pytest.fixture
def hook() -> Iterator[Hook]:
    """An HTTP server on loopback and the webhook requests it received."""
    with http_server() as hook:
        yield hook
