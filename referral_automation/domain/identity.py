"""Deterministic ids (uuid5) so a re-run derives the same keys and inserts nothing new,
and unguessable referral codes."""

from __future__ import annotations

import secrets
import uuid

NAMESPACE = uuid.UUID("6f1d7c52-64a4-4b1e-9a0c-2a7b3c1f9e10")


def moment_id(customer_id: str, rule_id: str, source_key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"moment\x1f{customer_id}\x1f{rule_id}\x1f{source_key}"))


def request_id(moment: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"request\x1f{moment}"))


def message_id(referral_request_id: str, sequence_step: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"message\x1f{referral_request_id}\x1f{sequence_step}"))


def new_referral_code() -> str:
    """12 URL-safe characters from the OS's CSPRNG (72 bits): unique in practice, never guessable."""
    return secrets.token_urlsafe(9)
