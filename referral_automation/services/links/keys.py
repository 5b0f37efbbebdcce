"""The key that signs unsubscribe links and reply addresses and keys the hash of a clicking IP.

Both sides must use one key: the send flow signs, the web app checks, possibly on other machines.
``REFERRAL_SECRET_KEY`` wins when set (production: one secret in every process's environment).
Without it, the key is generated on first use and kept in the database (``instance_secrets``),
so a demo or a laptop works with no configuration and every process sharing the database shares
the key. Setting ``REFERRAL_SECRET_KEY`` later keeps the generated key for checking (``accepted_keys``):
links already sent keep working. The first writer wins (``ON CONFLICT DO NOTHING``, then read back), so two processes
starting together still agree.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable

from pydantic import SecretStr
from sqlalchemy import Table, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import InstanceSecret
from referral_automation.db.sql import dialect_insert
from referral_automation.domain.tokens import MIN_SECRET_BYTES
from referral_automation.errors import ReferralAutomationError

SIGNING_KEY = "link-signing-key"
#: A generated key's length: 256 bits.
GENERATED_BYTES = 32
#: A configured key's shortest length in characters (its UTF-8 bytes are the HMAC key).
MIN_CONFIGURED_CHARS = 32

secrets_table: Table = InstanceSecret.__table__  # type: ignore[assignment]


class SecretKeyError(ReferralAutomationError):
    """``REFERRAL_SECRET_KEY`` is too short, or the stored key is damaged."""


def signing_key(
    session_factory: sessionmaker[Session],
    configured: SecretStr | None,
    *,
    generate: Callable[[int], bytes] = secrets.token_bytes,
) -> bytes:
    """The link-signing key: ``configured`` (``REFERRAL_SECRET_KEY``) or the installation's own."""
    if configured is not None:
        text = configured.get_secret_value()
        if len(text) < MIN_CONFIGURED_CHARS:
            raise SecretKeyError(
                f"REFERRAL_SECRET_KEY must be at least {MIN_CONFIGURED_CHARS} characters "
                "(e.g. the output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        return text.encode("utf-8")
    with session_factory() as session, session.begin():
        stored = _stored(session)
        if stored is None:
            encoded = base64.urlsafe_b64encode(generate(GENERATED_BYTES)).decode("ascii")
            insert = dialect_insert(session, secrets_table).values(name=SIGNING_KEY, value=encoded)
            session.execute(insert.on_conflict_do_nothing(index_elements=["name"]))
            stored = _stored(session)
    assert stored is not None
    return _decoded(stored)


def accepted_keys(session_factory: sessionmaker[Session], configured: SecretStr | None) -> tuple[bytes, ...]:
    """Keys whose signatures are still accepted besides ``signing_key``: with ``REFERRAL_SECRET_KEY``
    set, the key this installation generated before it was (if any), so links in emails signed
    with it keep working after the switch."""
    if configured is None:
        return ()
    with session_factory() as session:
        stored = _stored(session)
    return (_decoded(stored),) if stored is not None else ()


def _stored(session: Session) -> str | None:
    return session.execute(select(InstanceSecret.value).where(InstanceSecret.name == SIGNING_KEY)).scalar()


def _decoded(stored: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(stored.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError) as error:
        raise SecretKeyError(f"the stored {SIGNING_KEY} is not base64: set REFERRAL_SECRET_KEY") from error
    if len(key) < MIN_SECRET_BYTES:
        raise SecretKeyError(f"the stored {SIGNING_KEY} is shorter than {MIN_SECRET_BYTES} bytes")
    return key
