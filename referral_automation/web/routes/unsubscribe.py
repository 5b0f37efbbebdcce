"""``GET /u/{token}`` shows what unsubscribing does and asks; ``POST /u/{token}`` does it.

The POST is RFC 8058's one-click unsubscribe (mail clients post ``List-Unsubscribe=One-Click``
to the ``List-Unsubscribe`` URL without a person seeing a page) and the page's own button alike.
A mail client gets a 200 with a plain-text line; a browser (``Accept: text/html``) a page. A GET
changes nothing: link scanners open every link in an email. A forged, altered or unknown token
is a 404 either way.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from referral_automation.services.responses.unsubscribe import find_recipient, unsubscribe
from referral_automation.web import pages
from referral_automation.web.deps import Context

router = APIRouter(tags=["unsubscribe"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "A forged, altered or unknown token"}}


@router.get("/u/{token}", summary="Unsubscribe page", response_class=Response, responses=_NOT_FOUND)
async def unsubscribe_page(token: str, request: Request, context: Context) -> Response:
    recipient = await run_in_threadpool(find_recipient, context.sessions, token, signer=context.signer)
    if recipient is None:
        return pages.invalid_link()
    if recipient.unsubscribed:
        return pages.unsubscribed(recipient.masked_email)
    return pages.unsubscribe_form(recipient.masked_email, str(request.url.path))


@router.post("/u/{token}", summary="Unsubscribe (RFC 8058 one-click)", response_class=Response, responses=_NOT_FOUND)
async def unsubscribe_now(token: str, request: Request, context: Context) -> Response:
    """Suppresses the address and stops the request's follow-ups; the body is not needed."""
    recipient = await context.write(unsubscribe, context.sessions, token, signer=context.signer, now=context.now())
    wants_page = "text/html" in request.headers.get("accept", "")
    if recipient is None:
        return pages.invalid_link() if wants_page else PlainTextResponse("unknown unsubscribe link\n", 404)
    if wants_page:
        return pages.unsubscribed(recipient.masked_email)
    return PlainTextResponse("unsubscribed\n")
