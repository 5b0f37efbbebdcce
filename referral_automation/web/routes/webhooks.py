"""SendGrid's webhooks: the signed Event Webhook and Inbound Parse.

**Events.** With ``SENDGRID_WEBHOOK_PUBLIC_KEY`` set, a post must carry SendGrid's signature
(ECDSA over the timestamp and the raw body, checked with the ``sendgrid`` library's
``EventWebhook``) and a timestamp within ``REFERRAL_WEBHOOK_REPLAY_WINDOW`` seconds of now; anything
else is 403 and nothing is read. Without a key every post is refused, unless
``REFERRAL_WEBHOOK_ALLOW_UNSIGNED`` (development only) lets unsigned posts in. The events are then
checked and recorded by the same code as ``ingest sendgrid-events`` (``parse_events``,
``record_sendgrid_events``): once each by ``sg_event_id``, in one batch per post. Each event is parsed
and checked alone, so a bad one (NaN, a lone surrogate, nesting past the bound, a broken address) is
reported by its index and skipped while the others are kept: a 400 would make SendGrid retry the
whole batch for a day. A body that is not a JSON array at all is 400.

**Inbound Parse.** Basic auth with ``REFERRAL_INBOUND_TOKEN``; the multipart post is read in the
charsets SendGrid names, matched to its request and recorded (``services.responses.inbound``).
"""

from __future__ import annotations

import binascii
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status

from referral_automation.services.responses.inbound import parse_inbound, record_inbound
from referral_automation.services.responses.provider_events import parse_events, record_sendgrid_events
from referral_automation.web.context import WebContext
from referral_automation.web.deps import Context, require_inbound_token
from referral_automation.web.multipart import MalformedFormError, form_fields

router = APIRouter(prefix="/webhooks/sendgrid", tags=["SendGrid webhooks"])
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
#: A signature is a base64 DER ECDSA signature (about 96 characters): anything far longer is not one.
MAX_SIGNATURE_CHARS = 512
#: How problems name the posted batch: ``webhook`` for the whole body, ``webhook:[3]`` for one event.
WEBHOOK = "webhook"

_EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}},
    }
}
_INBOUND_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}},
    }
}


@router.post("/events", summary="SendGrid Event Webhook", openapi_extra=_EVENTS_BODY)
async def sendgrid_events(request: Request, context: Context) -> dict[str, Any]:
    body = await request.body()
    check_signature(context, request, body)
    parsed = parse_events(body, source=WEBHOOK)
    refusal = next((problem for problem in parsed.problems if problem.path == WEBHOOK), None)
    if refusal is not None:  # not an array at all: nothing in it can be read
        raise HTTPException(status.HTTP_400_BAD_REQUEST, refusal.message)
    report = await context.write(
        record_sendgrid_events,
        context.sessions,
        parsed.events,
        now=context.now(),
        public_base_url=context.settings.public_base_url,
    )
    return {
        "received": len(parsed.events) + len(parsed.problems),
        "recorded": report.recorded,
        "duplicates": report.duplicates,
        "rejected": [str(problem) for problem in parsed.problems],
    }


def check_signature(context: WebContext, request: Request, body: bytes) -> None:
    """403 unless the post is signed by SendGrid within the replay window (or unsigned posts are allowed)."""
    verifier = context.event_verifier
    if verifier is None:
        if context.settings.webhook_allow_unsigned:
            return
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "SENDGRID_WEBHOOK_PUBLIC_KEY is not set: signed events are required "
            "(REFERRAL_WEBHOOK_ALLOW_UNSIGNED=true lets unsigned posts in, for development only)",
        )
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    if not signature or not timestamp:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the signature's timestamp is not a Unix time")
    age = context.now().timestamp() - int(timestamp)
    if abs(age) > context.settings.webhook_replay_window_seconds:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the signature's timestamp is outside the replay window")
    if len(signature) > MAX_SIGNATURE_CHARS or not _verified(context, body, signature, timestamp):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "bad signature")


def _verified(context: WebContext, body: bytes, signature: str, timestamp: str) -> bool:
    verifier = context.event_verifier
    assert verifier is not None
    try:
        payload = body.decode("utf-8")
        return bool(verifier.verify_signature(payload, signature, timestamp))
    except (UnicodeDecodeError, binascii.Error, ValueError, TypeError):
        # A malformed signature makes the library raise (binascii.Error) instead of answering False.
        return False


@router.post(
    "/inbound",
    summary="SendGrid Inbound Parse (replies)",
    dependencies=[Depends(require_inbound_token)],
    openapi_extra=_INBOUND_BODY,
)
async def sendgrid_inbound(request: Request, context: Context) -> dict[str, Any]:
    body = await request.body()
    try:
        fields = form_fields(body, request.headers.get("content-type", ""))
    except MalformedFormError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    mail = parse_inbound(fields)
    result = await context.write(record_inbound, context.sessions, mail, signer=context.signer, now=context.now())
    return result.as_json()
