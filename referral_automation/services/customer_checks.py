"""What makes a customer record acceptable: the fields of CONTRACT.md "Input formats", checked.

A record is a mapping of field name to value: strings from a CSV row, JSON values from a JSONL
line or an API. ``check_customer`` returns only the fields the record *gives*, converted, so an
upsert updates those and leaves the others as they are (a CSV of ``customer_id,email,
marketing_opt_in`` changes consent and nothing else). An empty value means "not known": the
field's default on insert (``UTC``, ``en``, ``0``, ``false``, empty text, no date).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from referral_automation.services.event_checks import RecordError, describe

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
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Numeric(14, 2): twelve digits before the point.
MAX_LIFETIME_VALUE = Decimal("999999999999.99")
CENT = Decimal("0.01")
TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})


def check_customer(record: Mapping[str, Any]) -> dict[str, Any]:
    """The given fields of one customer, converted; ``RecordError`` names the first bad one."""
    unknown = sorted(str(key) for key in record if key not in DEFAULTS and key not in REQUIRED)
    if unknown:
        noun = "field" if len(unknown) == 1 else "fields"
        raise RecordError(f"unknown {noun} {', '.join(repr(name) for name in unknown)}")
    missing = [name for name in REQUIRED if name not in record]
    if missing:
        noun = "field" if len(missing) == 1 else "fields"
        raise RecordError(f"missing {noun} {', '.join(repr(name) for name in missing)}")
    for name in REQUIRED:
        if _blank(record[name]):
            raise RecordError(f"{name} is empty")
    row: dict[str, Any] = {}
    for name, value in record.items():
        if _blank(value):
            row[name] = DEFAULTS[name]
        elif name in TEXT_FIELDS:
            row[name] = _text(name, value)
        elif name == "lifetime_value":
            row[name] = _money(value)
        elif name == "first_purchase_at":
            row[name] = _timestamp(value)
        else:
            row[name] = _flag(value)
    if not EMAIL.match(row["email"]):
        raise RecordError(f"email does not look like an address: {row['email'][:80]!r}")
    return row


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise RecordError(f"{name} must be a string, got {describe(value)}")
    text = value.strip()
    if len(text) > TEXT_FIELDS[name]:
        raise RecordError(f"{name} is longer than {TEXT_FIELDS[name]} characters")
    if "\x00" in text:
        raise RecordError(f"{name} contains a NUL character")
    if _has_surrogates(text):
        raise RecordError(f"{name} is not valid UTF-8")
    return text


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise RecordError(f"lifetime_value must be a number, got {describe(value)}")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else str(value))
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


def _timestamp(value: Any) -> datetime:
    """ISO 8601; a naive value (or a bare date) means UTC."""
    if not isinstance(value, str):
        raise RecordError(f"first_purchase_at must be an ISO 8601 string, got {describe(value)}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise RecordError(f"first_purchase_at is not an ISO 8601 date-time: {value[:60]!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise RecordError(f"first_purchase_at is out of range: {value[:60]!r}") from None


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise RecordError(f"marketing_opt_in must be true or false (or yes/no, 1/0), got {describe(value)}")
