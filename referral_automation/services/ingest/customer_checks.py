"""What makes a customer record acceptable: the fields of CONTRACT.md "Input formats", checked.

A record is a mapping of field name to value: strings from a CSV row, JSON values from a JSONL
line or an API. ``check_customer`` returns only the fields the record *gives*, converted, so an
upsert updates those and leaves the others as they are (a CSV of ``customer_id,email,
marketing_opt_in`` changes consent and nothing else). An empty value means "not known": the
field's default on insert (``UTC``, ``en``, ``0``, ``false``, empty text, no date).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from referral_automation.services.ingest.event_checks import RecordError, describe

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
REQUIRED = ("customer_id", "email")
#: What an empty or missing field becomes when a customer is inserted.
DEFAULTS: dict[str, Any] = {
    "first_name": "",
    "last_name": "",
    "company": "",
    "plan": "",
    "lifetime_value": Decimal(0),
    "first_purchase_at": None,
    "timezone": "UTC",
    "locale": "en",
    "marketing_opt_in": False,
}
KNOWN = frozenset(FIELDS)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Numeric(14, 2): twelve digits before the point.
MAX_LIFETIME_VALUE = Decimal("999999999999.99")
CENT = Decimal("0.01")
TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})


def check_customer(record: Mapping[str, Any]) -> dict[str, Any]:
    """The given fields of one customer, converted; ``RecordError`` names the first bad one."""
    if not KNOWN.issuperset(record):
        unknown = sorted(str(key) for key in record if key not in KNOWN)
        noun = "field" if len(unknown) == 1 else "fields"
        raise RecordError(f"unknown {noun} {', '.join(repr(name) for name in unknown)}")
    missing = [name for name in REQUIRED if name not in record]
    if missing:
        noun = "field" if len(missing) == 1 else "fields"
        raise RecordError(f"missing {noun} {', '.join(repr(name) for name in missing)}")
    row: dict[str, Any] = {}
    for name, value in record.items():
        if type(value) is str:
            value = value.strip()
        if value is None or value == "":
            if name in REQUIRED:
                raise RecordError(f"{name} is empty")
            row[name] = DEFAULTS[name]
        else:
            row[name] = _CONVERTERS[name](name, value)
    if not EMAIL.match(row["email"]):
        raise RecordError(f"email does not look like an address: {row['email'][:80]!r}")
    return row


def _text(name: str, value: Any) -> str:
    """Text as given (already stripped), within its column's width and storable."""
    if type(value) is not str:
        raise RecordError(f"{name} must be a string, got {describe(value)}")
    if len(value) > TEXT_FIELDS[name]:
        raise RecordError(f"{name} is longer than {TEXT_FIELDS[name]} characters")
    if "\x00" in value:
        raise RecordError(f"{name} contains a NUL character")
    if not value.isascii() and _has_surrogates(value):
        raise RecordError(f"{name} is not valid UTF-8")
    return value


def _has_surrogates(text: str) -> bool:
    """CSV bytes that are not UTF-8 arrive as lone surrogates (``surrogateescape``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _money(_name: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise RecordError(f"lifetime_value must be a number, got {describe(value)}")
    try:
        amount = Decimal(value if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise RecordError(f"lifetime_value is not a number: {str(value)[:40]!r}") from None
    if not amount.is_finite():
        raise RecordError(f"lifetime_value is not a finite number: {str(value)[:40]!r}")
    if amount < 0:
        raise RecordError(f"lifetime_value must not be negative, got {value}")
    amount = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    if amount > MAX_LIFETIME_VALUE:
        raise RecordError(f"lifetime_value is too large (at most {MAX_LIFETIME_VALUE}), got {value}")
    return amount


def _timestamp(_name: str, value: Any) -> datetime:
    """ISO 8601; a naive value (or a bare date) means UTC."""
    if not isinstance(value, str):
        raise RecordError(f"first_purchase_at must be an ISO 8601 string, got {describe(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(f"first_purchase_at is not an ISO 8601 date-time: {value[:60]!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise RecordError(f"first_purchase_at is out of range: {value[:60]!r}") from None


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
    "lifetime_value": _money,
    "first_purchase_at": _timestamp,
    "marketing_opt_in": _flag,
}
