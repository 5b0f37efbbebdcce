"""ASGI middleware at the door: a cap on request bodies, and the headers every answer carries.

The cap is checked twice: a ``Content-Length`` over it is refused before a byte is read, and a body
that streams past it (chunked, or a lying length) is cut off as it arrives. Either way the answer
is 413 and no handler has seen the body, so nothing is recorded. Webhooks get the configurable cap
(``REFERRAL_WEB_MAX_BODY_BYTES``: event batches, replies with attachments); everything else a
small fixed one (API bodies, unsubscribe posts).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Bodies of the referral API, unsubscribe posts and anything else that is not a webhook.
SMALL_BODY_BYTES = 64 * 1024
WEBHOOK_PREFIX = "/webhooks/"

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class BodyTooLarge(HTTPException):
    """Raised by the counting ``receive``: an HTTP error, so a handler that was parsing the body
    (FastAPI turns other errors there into 400) answers 413 all the same."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimit:
    """Refuses (413) request bodies over the limit for their path."""

    def __init__(self, app: ASGIApp, *, webhook_limit: int, small_limit: int = SMALL_BODY_BYTES) -> None:
        self.app = app
        self.webhook_limit = webhook_limit
        self.small_limit = small_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.webhook_limit if scope["path"].startswith(WEBHOOK_PREFIX) else self.small_limit
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"the request body is larger than {limit} bytes"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers + SECURITY_HEADERS})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """``nosniff``, no framing, no referrer, no caching: on every answer, pages and JSON alike."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra: list[Any] = [header for header in SECURITY_HEADERS if header[0] not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
