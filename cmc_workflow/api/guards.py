"""What stands in front of the routes: the request size limit and the rate limit of failed
sign-ins (per client address).

:class:`BodyLimit` is a plain ASGI middleware: a request whose ``Content-Length`` exceeds
the limit is answered 413 before a byte of its body is read; a body sent in chunks is
counted as it arrives and cut off at the limit (413 as well, the route never runs:
whatever the framework answers to the cut-off body is replaced by the 413).
:class:`FailureLimiter` counts failed authentications per client address in a sliding
window; past the limit the address is answered 429 until the window has moved on.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["BodyLimit", "BodyTooLarge", "FailureLimiter"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    """A request body passed the limit."""


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with ``too_large(scope)`` (a 413
    response the application builds, so that it is a problem document in the caller's
    language)."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        too_large: Callable[[Scope, int], ASGIApp],
    ) -> None:
        self.app = app
        self.limit = limit
        self.too_large = too_large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.limit + 1
                if declared > self.limit:
                    await self.too_large(scope, self.limit)(scope, receive, send)
                    return
        seen = 0
        started = False
        exceeded = False

        async def counted() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if exceeded:  # the application's answer to a body cut off is replaced
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        # a framework may also catch it and answer 400: that answer is replaced below
        with contextlib.suppress(BodyTooLarge):
            await self.app(scope, counted, tracked)
        if exceeded and not started:
            await self.too_large(scope, self.limit)(scope, receive, send)


class FailureLimiter:
    """At most ``limit`` failed authentications per client address in ``window`` seconds."""

    def __init__(
        self, limit: int = 10, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        seen = self._failures.setdefault(address, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        return seen

    def blocked(self, address: str) -> float | None:
        """Seconds until ``address`` may try again, or None when it may now."""
        with self._lock:
            now = self._clock()
            seen = self._recent(address, now)
            if len(seen) < self.limit:
                if not seen:
                    self._failures.pop(address, None)
                return None
            return max(0.0, seen[0] + self.window - now)

    def failed(self, address: str) -> None:
        """Count one failed authentication of ``address``."""
        with self._lock:
            now = self._clock()
            self._recent(address, now).append(now)
            if len(self._failures) > 10_000:  # forget the quietest addresses first
                for old in [a for a, s in self._failures.items() if not s][:1000]:
                    del self._failures[old]
