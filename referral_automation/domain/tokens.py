"""Signed tokens that go out in emails and come back in URLs and addresses, and keyed hashes.

Every token is ``version byte + request id (16 bytes) + HMAC-SHA256 truncated to 128 bits``, the
MAC over a purpose label, the version and the id, so a token for one purpose (an unsubscribe link)
is never accepted for another (a reply address), and a later version can use another key
(rotation) while old emails keep working. Reading a token never raises: anything forged, altered,
truncated, padded or not text at all is ``None``, and MACs are compared in constant time.

Secrets come in as ``bytes`` (at least 16): this module reads no settings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import uuid

from referral_automation.domain.addresses import parse_mailbox

#: The token format written today; readers refuse any other until a version is added here.
VERSION = 1
_VERSION_BYTE = bytes([VERSION])
#: Shortest secret accepted: an HMAC key with less than 128 bits is a configuration mistake.
MIN_SECRET_BYTES = 16
#: 128 bits of HMAC-SHA256: forging one takes 2**128 guesses, each a request to the web app.
_MAC_BYTES = 16
_RAW_BYTES = 1 + 16 + _MAC_BYTES  # 33 bytes: base64 without padding is exactly 44 characters
UNSUBSCRIBE_TOKEN_LENGTH = 44
_BASE64URL = re.compile(r"[A-Za-z0-9_-]{44}")
#: 33 bytes in base32 are 53 characters (the last one carries a single spare bit, checked by re-encoding).
REPLY_TOKEN_LENGTH = 53
_BASE32 = re.compile(r"[a-z2-7]{53}")
#: RFC 5321: a local part has at most 64 characters; "+" and the token take 54 of them.
MAX_LOCAL_PART = 64
MAX_REPLY_BASE = MAX_LOCAL_PART - 1 - REPLY_TOKEN_LENGTH
#: Longest address or IP text looked at (anything longer is not one).
_MAX_ADDRESS = 320
_MAX_IP_TEXT = 100
#: Referral codes: ``secrets.token_urlsafe(9)`` gives 12 characters; 8-64 leaves room to change it.
_REFERRAL_CODE = re.compile(r"[A-Za-z0-9_-]{8,64}")

_UNSUBSCRIBE = b"unsubscribe"
_REPLY = b"reply-to"
_IP = b"ip"


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the signing secret must be at least {MIN_SECRET_BYTES} bytes")


def _mac(secret: bytes, purpose: bytes, payload: bytes) -> bytes:
    _check_secret(secret)
    return hmac.new(secret, purpose + b"\x00" + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def _sign(secret: bytes, purpose: bytes, request_id: str) -> bytes:
    """The raw token for ``request_id``, which must be a uuid in its canonical form (so reading
    the token gives back exactly the string that was signed)."""
    try:
        parsed = uuid.UUID(request_id)
    except (ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"not a request id (a uuid): {request_id!r}") from error
    if str(parsed) != request_id:
        raise ValueError(f"a request id must be a lower-case uuid with hyphens: {request_id!r}")
    payload = _VERSION_BYTE + parsed.bytes
    return payload + _mac(secret, purpose, payload)


def _verify(secret: bytes, purpose: bytes, raw: bytes) -> str | None:
    """The request id inside ``raw`` if its MAC is right, else ``None``."""
    if len(raw) != _RAW_BYTES or raw[0] != VERSION:
        return None
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(secret, purpose, payload)):
        return None
    return str(uuid.UUID(bytes=payload[1:]))


def unsubscribe_token(secret: bytes, request_id: str) -> str:
    """A 44-character URL-safe token (base64url, no padding) naming one recipient's request."""
    return base64.urlsafe_b64encode(_sign(secret, _UNSUBSCRIBE, request_id)).decode("ascii")


def read_unsubscribe_token(secret: bytes, token: object) -> str | None:
    """The request id an unsubscribe token was made for, or ``None`` for anything else."""
    _check_secret(secret)
    if not isinstance(token, str) or len(token) != UNSUBSCRIBE_TOKEN_LENGTH or not _BASE64URL.fullmatch(token):
        return None
    # 44 characters of the alphabet are exactly 33 bytes, with no spare bits: decoding is a bijection.
    return _verify(secret, _UNSUBSCRIBE, base64.urlsafe_b64decode(token))


def reply_address(secret: bytes, base_address: str, request_id: str) -> str:
    """``base_address`` with a signed token for ``request_id`` as its subaddress:
    ``referrals@example.com`` → ``referrals+<53 lower-case base32 characters>@example.com``.

    Base32 in lower case survives mail systems that change the case of the local part. The base
    local part may have at most ``MAX_REPLY_BASE`` (10) characters and no ``+``, so the whole local
    part stays within RFC 5321's 64; it must pass ``parse_mailbox``. Anything else is a ``ValueError``.
    """
    mailbox = parse_mailbox(base_address)
    local = mailbox.local
    if "+" in local:
        raise ValueError(f"the reply address {base_address!r} has a subaddress already")
    if len(local) > MAX_REPLY_BASE:
        raise ValueError(
            f"the reply address's local part {local!r} is longer than {MAX_REPLY_BASE} characters "
            f"(with its {REPLY_TOKEN_LENGTH}-character token it would pass RFC 5321's {MAX_LOCAL_PART})"
        )
    encoded = base64.b32encode(_sign(secret, _REPLY, request_id)).decode("ascii").rstrip("=").lower()
    return f"{local}+{encoded}@{mailbox.domain}"


def request_from_reply_address(secret: bytes, address: object) -> str | None:
    """The request id a reply address (``reply_address``'s form, any case) was made for, or ``None``."""
    _check_secret(secret)
    if not isinstance(address, str) or len(address) > _MAX_ADDRESS:
        return None
    local = address.strip().rpartition("@")[0]
    token = local.rpartition("+")[2].lower()
    if len(token) != REPLY_TOKEN_LENGTH or not _BASE32.fullmatch(token):
        return None
    try:
        raw = base64.b32decode(token.upper() + "===")
    except binascii.Error:
        return None
    if base64.b32encode(raw).decode("ascii").rstrip("=").lower() != token:
        return None  # the spare bit was set: not a token this module wrote
    return _verify(secret, _REPLY, raw)


def hash_ip(secret: bytes, ip: str) -> str:
    """A keyed hash of a client's IP (32 hex characters), so clicks can be told apart without
    ever storing an address.

    Keyed, not salted: there are only 2**32 IPv4 addresses, and a hash anyone can compute is
    reversed by trying them all. The address is normalised first (``::ffff:192.0.2.1`` and
    ``192.0.2.1`` are one client; IPv6 in its compressed form); text that is not an IP is hashed
    as it is, at most 100 characters of it.
    """
    _check_secret(secret)
    text = ip.strip()[:_MAX_IP_TEXT] if isinstance(ip, str) else ""
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        normalised = text
    else:
        mapped = parsed.ipv4_mapped if isinstance(parsed, ipaddress.IPv6Address) else None
        normalised = str(mapped or parsed)
    data = normalised.encode("utf-8", "replace")
    return hmac.new(secret, _IP + b"\x00" + data, hashlib.sha256).hexdigest()[:32]


def is_referral_code(text: object) -> bool:
    """Whether ``text`` has the shape of a referral code (8-64 characters of ``[A-Za-z0-9_-]``),
    so the web can answer 400 to a malformed code before looking anything up."""
    return isinstance(text, str) and len(text) <= 64 and _REFERRAL_CODE.fullmatch(text) is not None
