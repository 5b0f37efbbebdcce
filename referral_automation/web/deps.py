"""Dependencies of the routes: the shared context, and the two ways a caller proves who it is.

They are ``async``: a plain ``def`` dependency costs a hop to the threadpool and back on every
request, more than the work it does. Tokens are compared in constant time (``hmac.compare_digest``
over bytes). A token that is not configured refuses everyone: an unset ``REFERRAL_API_TOKEN``
closes the API rather than opening it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from referral_automation.web.context import WebContext


async def web_context(request: Request) -> WebContext:
    context: WebContext = request.app.state.context
    return context


Context = Annotated[WebContext, Depends(web_context)]


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


async def require_api_token(request: Request, context: Context) -> None:
    """``Authorization: Bearer <REFERRAL_API_TOKEN>``, or 401."""
    challenge = {"WWW-Authenticate": 'Bearer realm="referral-api"'}
    expected = context.settings.api_token
    if expected is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the API is closed: REFERRAL_API_TOKEN is not set", challenge)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token (Authorization: Bearer …)", challenge)
    if not _same(token.strip(), expected.get_secret_value()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong bearer token", challenge)


async def require_inbound_token(request: Request, context: Context) -> None:
    """HTTP basic auth whose password is ``REFERRAL_INBOUND_TOKEN`` (any user name), or 401."""
    challenge = {"WWW-Authenticate": 'Basic realm="inbound-parse"'}
    expected = context.settings.inbound_token
    if expected is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "inbound replies are closed: REFERRAL_INBOUND_TOKEN is not set", challenge
        )
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing basic auth credentials", challenge)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "malformed basic auth credentials", challenge) from None
    _, separator, password = decoded.partition(":")
    if not separator or not _same(password, expected.get_secret_value()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong inbound token", challenge)
