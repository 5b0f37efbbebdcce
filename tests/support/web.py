"""Helpers the web tests share: a SendGrid-like signing key, multipart bodies, settings and a sent request."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import ReferralRequest
from referral_automation.settings import Settings
from tests.support import ROOT
from tests.support.links import SIGNING_KEY
from tests.support.send import NOW, add_customer, add_request

API_TOKEN = "api-token-for-tests-0123456789"
INBOUND_TOKEN = "inbound-token-for-tests"
BEARER = {"Authorization": f"Bearer {API_TOKEN}"}


class EventKey:
    """An ECDSA P-256 key pair signing posts as SendGrid's Signed Event Webhook does."""

    def __init__(self) -> None:
        self._private = ec.generate_private_key(ec.SECP256R1())
        der = self._private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        #: What SendGrid's settings page shows: the DER public key in base64.
        self.public_key = base64.b64encode(der).decode("ascii")

    def sign(self, body: bytes, timestamp: str) -> str:
        signature = self._private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode("ascii")

    def headers(self, body: bytes, timestamp: str) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": self.sign(body, timestamp),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        }


def multipart(fields: dict[str, str | bytes], boundary: str = "xYzZY") -> tuple[bytes, str]:
    """A ``multipart/form-data`` body of text fields, as Inbound Parse posts it; (body, content type)."""
    parts = []
    for name, value in fields.items():
        data = value if isinstance(value, bytes) else value.encode("utf-8")
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def web_settings(database_url: str, **overrides: object) -> Settings:
    """Settings of a test app: both tokens and the signing key set, the shipped config."""
    values: dict[str, object] = {
        "REFERRAL_DATABASE_URL": database_url,
        "REFERRAL_CONFIG_DIR": ROOT / "config",
        "REFERRAL_API_TOKEN": API_TOKEN,
        "REFERRAL_INBOUND_TOKEN": INBOUND_TOKEN,
        "REFERRAL_SECRET_KEY": SIGNING_KEY.decode(),
        "REFERRAL_PUBLIC_BASE_URL": "https://refer.example.com",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def sent_request(
    factory: sessionmaker[Session], customer_id: str, *, email: str | None = None, **columns: object
) -> tuple[str, str]:
    """A customer and a first ask sent a day before ``NOW`` with a follow-up to come; (request id, code)."""
    add_customer(factory, customer_id, email=email)
    values: dict[str, Any] = {"sent_at": NOW - timedelta(days=1), "next_followup_at": NOW + timedelta(days=2)}
    values.update(columns)
    request_id = add_request(factory, customer_id, status="sent", scheduled_for=NOW - timedelta(days=1), **values)
    with factory() as session:
        request = session.get(ReferralRequest, request_id)
        assert request is not None
        return request_id, request.code
