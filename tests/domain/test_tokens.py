"""Signed tokens: unsubscribe links, per-request reply addresses, keyed IP hashes and referral code shapes."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_automation.domain.identity import request_id
from referral_automation.domain.tokens import (
    MAX_REPLY_BASE,
    REPLY_TOKEN_LENGTH,
    UNSUBSCRIBE_TOKEN_LENGTH,
    hash_ip,
    is_referral_code,
    read_unsubscribe_token,
    reply_address,
    request_from_reply_address,
    unsubscribe_token,
)

SECRET = b"s" * 32
OTHER_SECRET = b"o" * 32
REQUEST = request_id("moment-1")
OTHER_REQUEST = request_id("moment-2")


def _flip(text: str, index: int, alphabet: str) -> str:
    """``text`` with the character at ``index`` replaced by the next one of ``alphabet``."""
    char = text[index]
    replacement = alphabet[(alphabet.index(char) + 1) % len(alphabet)]
    return text[:index] + replacement + text[index + 1 :]


BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


# --------------------------------------------------------------------------- unsubscribe tokens
def test_an_unsubscribe_token_names_its_request() -> None:
    """It reads back the request id an unsubscribe token was made for."""
    token = unsubscribe_token(SECRET, REQUEST)
    assert read_unsubscribe_token(SECRET, token) == REQUEST


def test_an_unsubscribe_token_is_short_and_url_safe() -> None:
    """It makes a 44-character base64url token without padding."""
    token = unsubscribe_token(SECRET, REQUEST)
    assert len(token) == UNSUBSCRIBE_TOKEN_LENGTH == 44
    assert set(token) <= set(BASE64URL)


def test_tokens_differ_by_request_and_are_deterministic() -> None:
    """It gives each request its own token, and the same token for the same request and secret."""
    assert unsubscribe_token(SECRET, REQUEST) == unsubscribe_token(SECRET, REQUEST)
    assert unsubscribe_token(SECRET, REQUEST) != unsubscribe_token(SECRET, OTHER_REQUEST)


@pytest.mark.parametrize("index", range(UNSUBSCRIBE_TOKEN_LENGTH))
def test_a_token_altered_anywhere_is_refused(index: int) -> None:
    """It refuses a token with any one character changed: version, request id or signature."""
    token = unsubscribe_token(SECRET, REQUEST)
    assert read_unsubscribe_token(SECRET, _flip(token, index, BASE64URL)) is None


def test_a_token_signed_with_another_secret_is_refused() -> None:
    """It refuses a token made with another secret (a forgery, or a key that was rotated out)."""
    assert read_unsubscribe_token(SECRET, unsubscribe_token(OTHER_SECRET, REQUEST)) is None


def test_a_forged_token_for_another_request_is_refused() -> None:
    """It refuses a token whose request id was swapped for another while keeping the signature."""
    raw = base64.urlsafe_b64decode(unsubscribe_token(SECRET, REQUEST))
    other = base64.urlsafe_b64decode(unsubscribe_token(SECRET, OTHER_REQUEST))
    forged = base64.urlsafe_b64encode(raw[:1] + other[1:17] + raw[17:]).decode()
    assert read_unsubscribe_token(SECRET, forged) is None


def test_another_version_is_refused() -> None:
    """It refuses a token of a version it does not know, even one signed with the right key."""
    raw = base64.urlsafe_b64decode(unsubscribe_token(SECRET, REQUEST))
    payload = bytes([2]) + raw[1:17]
    mac = hmac.new(SECRET, b"unsubscribe\x00" + payload, hashlib.sha256).digest()[:16]  # as a version-1 token is signed
    assert read_unsubscribe_token(SECRET, base64.urlsafe_b64encode(payload + mac).decode()) is None


def test_a_reply_token_is_not_an_unsubscribe_token() -> None:
    """It refuses a token signed for another purpose (the reply address's) as an unsubscribe token."""
    raw = base64.b32decode(reply_address(SECRET, "r@example.com", REQUEST)[2:55].upper() + "===")
    assert read_unsubscribe_token(SECRET, base64.urlsafe_b64encode(raw).decode()) is None


MALFORMED_TOKENS = [
    ("empty", ""),
    ("truncated", "TRUNCATED"),
    ("one-short", "X" * 43),
    ("one-long", "X" * 45),
    ("padded", unsubscribe_token(SECRET, REQUEST)[:-1] + "="),
    ("standard-base64", "+" * 44),
    ("spaces", " " * 44),
    ("non-ascii", "é" * 44),
    ("nul", "\x00" * 44),
    ("huge", "A" * 1_000_000),
    ("lone-surrogate", "\ud800" * 44),
]


@pytest.mark.parametrize("token", [c[1] for c in MALFORMED_TOKENS], ids=[c[0] for c in MALFORMED_TOKENS])
def test_a_malformed_token_is_none(token: str) -> None:
    """It answers None to truncated, padded, oversized and non-alphabet tokens, never an exception."""
    assert read_unsubscribe_token(SECRET, token) is None


def test_a_token_that_is_not_text_is_none() -> None:
    """It answers None to a token that is not a string at all."""
    assert read_unsubscribe_token(SECRET, None) is None
    assert read_unsubscribe_token(SECRET, b"A" * 44) is None


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_any_text_is_a_request_id_or_none(text: str) -> None:
    """It never raises on any text, and accepts nothing but a token it made."""
    assert read_unsubscribe_token(SECRET, text) is None
    assert request_from_reply_address(SECRET, text) is None


@pytest.mark.parametrize(
    "bad", ["not-a-uuid", "", REQUEST.upper(), "{" + REQUEST + "}", REQUEST.replace("-", "")], ids=str
)
def test_only_a_canonical_uuid_is_signed(bad: str) -> None:
    """It refuses to sign anything but a lower-case hyphenated uuid, so reading gives back exactly what was signed."""
    with pytest.raises(ValueError, match="uuid"):
        unsubscribe_token(SECRET, bad)


@pytest.mark.parametrize("secret", [b"", b"short", b"x" * 15])
def test_a_short_secret_is_refused(secret: bytes) -> None:
    """It refuses a secret under 16 bytes for signing and for reading: a configuration mistake, not a bad token."""
    with pytest.raises(ValueError, match="16 bytes"):
        unsubscribe_token(secret, REQUEST)
    with pytest.raises(ValueError, match="16 bytes"):
        read_unsubscribe_token(secret, "x")


# --------------------------------------------------------------------------- reply addresses
def test_a_reply_address_carries_its_request() -> None:
    """It adds a lower-case base32 token as the subaddress, and reads the request back from it."""
    address = reply_address(SECRET, "referrals@example.com", REQUEST)
    local, _, domain = address.partition("@")
    assert domain == "example.com"
    assert local.startswith("referrals+")
    assert len(local) == len("referrals+") + REPLY_TOKEN_LENGTH <= 64
    assert local == local.lower()
    assert request_from_reply_address(SECRET, address) == REQUEST


def test_a_reply_address_survives_case_changes() -> None:
    """It reads the request from a reply address a mail system upper-cased."""
    address = reply_address(SECRET, "referrals@example.com", REQUEST)
    assert request_from_reply_address(SECRET, address.upper()) == REQUEST
    assert request_from_reply_address(SECRET, f"  {address} ") == REQUEST


@pytest.mark.parametrize("index", range(len("referrals+"), len("referrals+") + REPLY_TOKEN_LENGTH))
def test_a_reply_address_altered_anywhere_is_refused(index: int) -> None:
    """It refuses a reply address with any one character of its token changed (the spare last bit too)."""
    address = reply_address(SECRET, "referrals@example.com", REQUEST)
    assert request_from_reply_address(SECRET, _flip(address, index, BASE32)) is None


def test_a_reply_address_for_another_secret_is_refused() -> None:
    """It refuses a reply address made with another secret."""
    assert request_from_reply_address(SECRET, reply_address(OTHER_SECRET, "r@example.com", REQUEST)) is None


def test_an_unsubscribe_token_is_not_a_reply_token() -> None:
    """It refuses an unsubscribe token's bytes written as a reply address."""
    raw = base64.urlsafe_b64decode(unsubscribe_token(SECRET, REQUEST))
    token = base64.b32encode(raw).decode().rstrip("=").lower()
    assert request_from_reply_address(SECRET, f"r+{token}@example.com") is None


@pytest.mark.parametrize(
    "address",
    ["referrals@example.com", "referrals+@example.com", "referrals+abc@example.com", "", "no-at-sign", "+" * 400],
    ids=["no-token", "empty-token", "short-token", "empty", "no-at", "huge"],
)
def test_an_address_without_a_token_is_none(address: str) -> None:
    """It answers None for an address that carries no token of ours."""
    assert request_from_reply_address(SECRET, address) is None


def test_the_base_local_part_must_leave_room_for_the_token() -> None:
    """It refuses a base address whose local part would push the whole past 64 characters."""
    assert reply_address(SECRET, "r" * MAX_REPLY_BASE + "@example.com", REQUEST)
    with pytest.raises(ValueError, match="longer than"):
        reply_address(SECRET, "r" * (MAX_REPLY_BASE + 1) + "@example.com", REQUEST)


@pytest.mark.parametrize("base", ["referrals+x@example.com", "Referrals <r@example.com>", "r@localhost", "nonsense"])
def test_a_base_address_must_be_plain(base: str) -> None:
    """It refuses a base address that is not one plain mailbox without a subaddress."""
    with pytest.raises(ValueError):
        reply_address(SECRET, base, REQUEST)


# --------------------------------------------------------------------------- IP hashes and codes
def test_an_ip_hash_hides_the_address() -> None:
    """It hashes an IP to 32 hex characters that do not contain it, the same for the same client."""
    digest = hash_ip(SECRET, "192.0.2.1")
    assert len(digest) == 32
    assert set(digest) <= set("0123456789abcdef")
    assert hash_ip(SECRET, "192.0.2.1") == digest
    assert hash_ip(SECRET, "192.0.2.2") != digest


def test_an_ip_hash_depends_on_the_secret() -> None:
    """It gives another hash under another secret, so no one without it can try all 2**32 IPv4 addresses."""
    assert hash_ip(SECRET, "192.0.2.1") != hash_ip(OTHER_SECRET, "192.0.2.1")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("192.0.2.1", "::ffff:192.0.2.1"),
        ("2001:db8::1", "2001:0DB8:0000:0000:0000:0000:0000:0001"),
        (" 192.0.2.1", "192.0.2.1"),
    ],
    ids=["ipv4-mapped", "ipv6-spellings", "white-space"],
)
def test_one_client_is_one_hash(one: str, other: str) -> None:
    """It hashes the spellings of one address alike."""
    assert hash_ip(SECRET, one) == hash_ip(SECRET, other)


@pytest.mark.parametrize("text", ["", "unknown", "\x00\ud800", "x" * 10_000], ids=["empty", "word", "nul", "huge"])
def test_text_that_is_not_an_ip_is_hashed_without_error(text: str) -> None:
    """It hashes whatever a proxy header held, never raising."""
    assert len(hash_ip(SECRET, text)) == 32


@pytest.mark.parametrize("code", ["AbC_12-x", "Xy9_Za-0QwEr", "a" * 64])
def test_referral_code_shapes_are_accepted(code: str) -> None:
    """It accepts 8-64 URL-safe characters, the shape of secrets.token_urlsafe codes."""
    assert is_referral_code(code)


@pytest.mark.parametrize(
    "code",
    [
        "",
        "short",
        "a" * 7,
        "a" * 65,
        "abc/defgh",
        "abc defgh",
        "abcdefgh\n",
        "abcdéfgh",
        "ａｂｃｄｅｆｇｈ",
        "abc%20def",
        None,
    ],
    ids=repr,
)
def test_malformed_codes_are_refused(code: str | None) -> None:
    """It refuses codes of the wrong length or with characters outside [A-Za-z0-9_-], Unicode look-alikes included."""
    assert not is_referral_code(code)


def test_a_reply_token_with_its_spare_bit_set_is_refused() -> None:
    """It refuses the one other spelling of a valid token (53 base32 characters carry one bit more than 33 bytes)."""
    address = reply_address(SECRET, "r@example.com", REQUEST)
    last = 2 + REPLY_TOKEN_LENGTH - 1
    respelled = address[:last] + BASE32[BASE32.index(address[last]) ^ 1] + address[last + 1 :]
    token = respelled[2 : 2 + REPLY_TOKEN_LENGTH]
    assert base64.b32decode(token.upper() + "===") == base64.b32decode(address[2:55].upper() + "===")
    assert request_from_reply_address(SECRET, respelled) is None
