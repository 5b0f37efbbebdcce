"""What makes a customer record acceptable: the fields of CONTRACT.md "Input formats", checked.

A record is a mapping of field name to value: strings from a CSV row, JSON values from a JSONL
line or an API. ``check_customer`` returns only the fields the record *gives*, converted, so an
upsert updates those and leaves the others as they are.

A new customer needs ``NEW_CUSTOMER_FIELDS``: without a first purchase, a time zone and a stated
consent a customer would be stored with defaults that keep them from ever being asked, silently.
So a record must give them all, unless the ingest only updates customers already stored (update
mode), where ``customer_id`` and the fields to change are enough. ``customer_id``, ``email``,
``timezone`` and ``marketing_opt_in`` are never empty when given; an empty ``first_purchase_at``
means the customer has not bought yet, and other empty fields take their defaults (``en``, ``0``,
empty text).

Each value is held as strictly as an event's: the id is printable text, the email exactly one
mailbox (stored in its normalised form), the time stamp ISO 8601 within ``values``' range (naive
means UTC), the time zone an IANA name, the locale a BCP 47 tag (stored in its canonical case),
and no text holds control characters or bidirectional overrides.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache, lru_cache
from typing import Any

from referral_automation.services.ingest.values import (
    RecordError,
    check_identifier,
    check_mailbox,
    check_text,
    describe,
    parse_time,
)

#: Text fields and their column widths (db/models.py Customer).
TEXT_FIELDS = {
    "customer_id": 128,
    "email": 320,
    "first_name": 200,
    "last_name": 200,
    "company": 300,
    "plan": 100,
    "timezone": 64,
    "locale": 35,
}
FIELDS = (*TEXT_FIELDS, "lifetime_value", "first_purchase_at", "marketing_opt_in")
#: What a record of a new customer must give (and a CSV's header name, outside update mode).
NEW_CUSTOMER_FIELDS = ("customer_id", "email", "first_purchase_at", "timezone", "marketing_opt_in")
#: What a record must give in update mode.
UPDATE_FIELDS = ("customer_id",)
#: Fields refused when empty.
NOT_EMPTY = frozenset({"customer_id", "email", "timezone", "marketing_opt_in"})
#: What an empty field becomes.
DEFAULTS: dict[str, Any] = {
    "first_name": "",
    "last_name": "",
    "company": "",
    "plan": "",
    "lifetime_value": Decimal(0),
    "first_purchase_at": None,
    "locale": "en",
}
KNOWN = frozenset(FIELDS)
#: Numeric(14, 2): twelve digits before the point.
MAX_LIFETIME_VALUE = Decimal("999999999999.99")
CENT = Decimal("0.01")
#: Longest text read as an amount (decimal's parsing of a long text is not worth its time).
MAX_AMOUNT_TEXT = 40
TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})
#: Names in the zone database that are no zone of a place: the machine's own zone, and a placeholder.
NOT_ZONES = frozenset({"localtime", "Factory"})
#: RFC 5646's language tag, without the grandfathered ones: language (with extended subtags),
#: script, region, variants, extensions and a private use part; ``_`` is read as ``-``.
BCP47 = re.compile(
    r"(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4,8})(?:-[a-z]{4})?(?:-(?:[a-z]{2}|[0-9]{3}))?"
    r"(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*(?:-[0-9a-wy-z](?:-[a-z0-9]{2,8})+)*(?:-x(?:-[a-z0-9]{1,8})+)?",
    re.IGNORECASE | re.ASCII,
)
#: Said of a record or header without the fields a new customer needs.
NEW_CUSTOMER_HINT = (
    f"a new customer needs {', '.join(NEW_CUSTOMER_FIELDS)}; "
    "to change some fields of stored customers only, ingest in update mode (--update)"
)


def required_fields(*, update_only: bool) -> tuple[str, ...]:
    """What each record (or a CSV's header) must give."""
    return UPDATE_FIELDS if update_only else NEW_CUSTOMER_FIELDS


def check_customer(record: Mapping[str, Any], *, update_only: bool = False) -> dict[str, Any]:
    """The given fields of one customer, converted; ``RecordError`` names the first bad one."""
    if not KNOWN.issuperset(record):
        unknown = sorted(str(key) for key in record if key not in KNOWN)
        noun = "field" if len(unknown) == 1 else "fields"
        raise RecordError(f"unknown {noun} {', '.join(repr(name) for name in unknown)}")
    missing = [name for name in required_fields(update_only=update_only) if name not in record]
    if missing:
        noun = "field" if len(missing) == 1 else "fields"
        hint = "" if update_only else f" ({NEW_CUSTOMER_HINT})"
        raise RecordError(f"missing {noun} {', '.join(repr(name) for name in missing)}{hint}")
    row: dict[str, Any] = {}
    for name, value in record.items():
        if type(value) is str:
            value = value.strip()
        if value is None or value == "":
            if name in NOT_EMPTY:
                raise RecordError(f"{name} is empty")
            row[name] = DEFAULTS[name]
        else:
            row[name] = _CONVERTERS[name](name, value)
    return row


def _text(name: str, value: Any) -> str:
    """Text as given (already stripped), within its column's width, without control characters."""
    if type(value) is not str:
        raise RecordError(f"{name} must be a string, got {describe(value)}")
    if len(value) > TEXT_FIELDS[name]:
        raise RecordError(f"{name} is longer than {TEXT_FIELDS[name]} characters")
    return check_text(name, value)


def _customer_id(name: str, value: Any) -> str:
    return check_identifier(name, value, TEXT_FIELDS[name])


def _email(name: str, value: Any) -> str:
    """Exactly one plain mailbox, normalised (``domain.addresses.parse_mailbox``)."""
    return check_mailbox(name, _text(name, value))


def _timezone(name: str, value: Any) -> str:
    """An IANA time zone name, as ``zoneinfo`` knows it."""
    zone = _text(name, value)
    if zone not in _zones():
        near = _zones_by_folded_name().get(zone.casefold())
        hint = f"; did you mean {near!r}?" if near else " (such as Europe/Berlin or America/New_York)"
        raise RecordError(f"timezone {zone[:64]!r} is not an IANA time zone{hint}")
    return zone


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() - NOT_ZONES)


@cache
def _zones_by_folded_name() -> dict[str, str]:
    return {zone.casefold(): zone for zone in _zones()}


def _locale(name: str, value: Any) -> str:
    """A BCP 47 language tag (``en``, ``pt-BR``, ``zh-Hant-TW``) in its canonical case."""
    tag = _canonical_tag(_text(name, value))
    if tag is None:
        raise RecordError(f"locale {str(value)[:35]!r} is not a BCP 47 language tag (such as en, de or pt-BR)")
    return tag


@lru_cache(maxsize=1024)
def _canonical_tag(text: str) -> str | None:
    """``text`` as a canonical BCP 47 tag, or None: a file holds few locales, each checked once."""
    tag = text.replace("_", "-")
    return canonical_locale(tag) if BCP47.fullmatch(tag) else None


def canonical_locale(tag: str) -> str:
    """RFC 5646's case conventions: script title-case, region upper-case, all else lower-case
    (and everything after a singleton such as ``-x-`` lower-case)."""
    out = []
    extension = False
    for index, subtag in enumerate(tag.lower().split("-")):
        if index and not extension:
            if len(subtag) == 1:
                extension = True
            elif len(subtag) == 4 and subtag.isalpha():
                subtag = subtag.title()
            elif len(subtag) == 2:
                subtag = subtag.upper()
        out.append(subtag)
    return "-".join(out)


def _money(_name: str, value: Any) -> Decimal:
    """A non-negative amount of at most ``MAX_LIFETIME_VALUE``, to the cent.

    Bounded before it is rounded: ``quantize`` raises on a number with more digits than the
    decimal context holds (``1e30``).
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise RecordError(f"lifetime_value must be a number, got {describe(value)}")
    if isinstance(value, str) and len(value) > MAX_AMOUNT_TEXT:
        raise RecordError(f"lifetime_value is not a number: {value[:40]!r}...")
    try:
        amount = Decimal(value if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise RecordError(f"lifetime_value is not a number: {str(value)[:40]!r}") from None
    if not amount.is_finite():
        raise RecordError(f"lifetime_value is not a finite number: {str(value)[:40]!r}")
    if amount < 0:
        raise RecordError(f"lifetime_value must not be negative, got {str(value)[:40]}")
    if amount > MAX_LIFETIME_VALUE:
        raise RecordError(f"lifetime_value is too large (at most {MAX_LIFETIME_VALUE}), got {str(value)[:40]}")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _timestamp(name: str, value: Any) -> datetime:
    """ISO 8601 within the accepted years; a naive value (or a bare date) means UTC."""
    return parse_time(name, value, naive_is_utc=True)


def _flag(_name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise RecordError(f"marketing_opt_in must be true or false (or yes/no, 1/0), got {describe(value)}")


_CONVERTERS: dict[str, Callable[[str, Any], Any]] = {
    **dict.fromkeys(TEXT_FIELDS, _text),
    "customer_id": _customer_id,
    "email": _email,
    "timezone": _timezone,
    "locale": _locale,
    "lifetime_value": _money,
    "first_purchase_at": _timestamp,
    "marketing_opt_in": _flag,
}
