"""The bounds every ingested value is held to, checked before any database sees it.

Customers, journey events and SendGrid's events are written by people and programs we do not
control, so each value is bounded here, the same way for SQLite and PostgreSQL (which refuse
different things: PostgreSQL refuses NUL characters and lone surrogates in text and NaN in
``jsonb``, SQLite stores them all):

* identifiers (``customer_id``, ``event_id``, an event's ``type``) are printable text: no control
  character (C0, C1, DEL), no format character (the bidirectional overrides that show text in
  another order, zero-width characters), no line or paragraph separator;
* other text refuses control characters, line breaks and the bidirectional controls (a name may
  hold a zero-width joiner, which some scripts need);
* JSON documents nest at most ``MAX_DEPTH`` levels (orjson reads 1,024 but writes only 254), hold
  no NUL character and no lone surrogate, only finite numbers and whole numbers within 64 bits;
* time stamps lie between ``EARLIEST`` and ``LATEST``, so no date arithmetic downstream (a rule's
  days added to a first purchase, a look-back window) leaves the calendar.

Every check raises ``RecordError`` with the reason a user reads next to ``FILE:LINE``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from referral_automation.domain.addresses import MAX_DOMAIN, MAX_LOCAL, parse_mailbox


class RecordError(Exception):
    """A line or record that cannot be ingested; the message says why."""


#: Levels of objects and arrays a JSON line (or one SendGrid event) may nest, itself included.
MAX_DEPTH = 32
#: Time stamps outside [EARLIEST, LATEST) are refused.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
#: Whole numbers a JSON document may hold: what orjson writes (signed and unsigned 64 bits).
MIN_INTEGER, MAX_INTEGER = -(2**63), 2**64 - 1

#: Characters refused in any text: C0 and C1 controls, DEL, line and paragraph separators, and the
#: bidirectional marks, embeddings, overrides and isolates.
_UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]")
_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


def describe(value: Any) -> str:
    """How a JSON value is named in messages: its kind, and the value itself when short."""
    kind = _JSON_NAMES.get(type(value))
    if kind is None:
        if isinstance(value, int):
            kind = "an integer"
        elif isinstance(value, float):
            kind = "a number"
        else:  # a value no JSON document holds (from a mapping given in Python)
            return f"a {type(value).__name__}"
    if isinstance(value, dict | list) or value is None:
        return kind
    try:
        shown = orjson.dumps(value).decode()
    except TypeError:  # a whole number beyond 64 bits
        return kind
    return kind if len(shown) > 40 else f"{kind} ({shown})"


def character_name(char: str) -> str:
    """``U+001B`` with the character's Unicode name when it has one: what a reason shows of it."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def check_identifier(name: str, value: Any, max_length: int) -> str:
    """``value`` if it is a usable identifier: non-blank printable text of at most ``max_length``."""
    if type(value) is not str or not value.strip():
        raise RecordError(f"{name} must be a non-empty string, got {describe(value)}")
    if len(value) > max_length:
        raise RecordError(f"{name} is longer than {max_length} characters")
    if not value.isprintable():
        char = next(char for char in value if not char.isprintable())
        raise RecordError(f"{name} contains {_kind_of(char)} ({character_name(char)})")
    return value


def check_text(name: str, value: str) -> str:
    """``value`` if it holds no control, line-breaking or bidirectional character and is valid UTF-8."""
    if value.isprintable():  # none of those (nor a surrogate) is printable: the common case, at once
        return value
    found = _UNSAFE_TEXT.search(value)
    if found is not None:
        char = found.group()
        raise RecordError(f"{name} contains {_kind_of(char)} ({character_name(char)})")
    if not value.isascii() and has_lone_surrogate(value):
        raise RecordError(f"{name} is not valid UTF-8")
    return value


def _kind_of(char: str) -> str:
    if char <= "\x1f" or "\x7f" <= char <= "\x9f":
        return "a control character"
    if char in "\u2028\u2029":
        return "a line break"
    if _UNSAFE_TEXT.match(char):
        return "a bidirectional control character"
    return "an invisible or format character"


#: The common plain address, which ``parse_mailbox`` takes as it is but for its domain's case: a
#: local part of letters, digits and ``_%+-`` between single dots, a domain of LDH labels.
_PLAIN_ADDRESS = re.compile(
    r"([A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*)@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)",
    re.ASCII,
)


def check_mailbox(name: str, value: str) -> str:
    """``value`` (stripped) as exactly one plain mailbox in its normal form (``parse_mailbox``'s).

    The standard library's address parser costs most of a customer's check, so the common plain
    address is recognised by a pattern whose every match ``parse_mailbox`` reads the same way
    (tests/services/ingest/test_values.py holds the two together on hostile text); anything
    else goes through the parser.
    """
    plain = _PLAIN_ADDRESS.fullmatch(value)
    if plain is not None:
        local, domain = plain.groups()
        if len(local) <= MAX_LOCAL and len(domain) <= MAX_DOMAIN and not domain.rpartition(".")[2].isdigit():
            return f"{local}@{domain.lower()}"
    try:
        return parse_mailbox(value).addr_spec
    except ValueError as error:
        raise RecordError(f"{name} is not one plain address ({error}): {value[:80]!r}") from None


def has_lone_surrogate(text: str) -> bool:
    """Bytes that are not UTF-8 arrive as lone surrogates (``surrogateescape``, or JSON's ``\\ud800``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_time(name: str, at: datetime, given: str) -> datetime:
    """``at`` (aware) if it lies in [``EARLIEST``, ``LATEST``); ``given`` is the text it came from."""
    if not EARLIEST <= at < LATEST:
        raise RecordError(f"{name} is out of range (years {EARLIEST.year} to {LATEST.year - 1}): {given[:60]!r}")
    return at


def parse_time(name: str, value: Any, *, naive_is_utc: bool) -> datetime:
    """An ISO 8601 date-time as aware UTC within the range; without a zone it is refused, or UTC."""
    if not isinstance(value, str):
        raise RecordError(f"{name} must be an ISO 8601 string, got {describe(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(f"{name} is not an ISO 8601 date-time: {value[:60]!r}") from None
    if parsed.tzinfo is None:
        if not naive_is_utc:
            raise RecordError(f"{name} has no time zone")
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.tzinfo is not UTC:
        try:
            parsed = parsed.astimezone(UTC)
        except OverflowError:
            raise RecordError(f"{name} is out of range: {value[:60]!r}") from None
    return check_time(name, parsed, value)


def may_nest_too_deep(data: bytes, level: int = 1) -> bool:
    """Whether a JSON text at ``level`` (the value itself is level 1) *might* nest deeper than
    ``MAX_DEPTH``: it has that many openers.

    Two byte counts, far cheaper than walking the parsed value; brackets inside strings only make
    the answer a cautious yes.
    """
    return data.count(b"{") + data.count(b"[") > MAX_DEPTH - level + 1


def check_json_value(value: Any, where: str = "", *, level: int = 1) -> None:
    """Refuse what a JSON column cannot hold faithfully on both databases, naming where it is.

    Walks the value with a stack of its own (never Python's), so no nesting raises
    ``RecursionError``: deeper than ``MAX_DEPTH`` (counting from ``level``, the value's own; 1
    for a whole line or event), a key that is not text, a NUL character or lone surrogate in a key
    or a string, a number that is not finite, a whole number beyond 64 bits, or anything JSON has
    no type for.
    """
    stack: list[tuple[Any, int, str]] = [(value, level, where)]
    while stack:
        item, depth, path = stack.pop()
        kind = type(item)
        if kind is str:
            _check_json_string(item, path)
        elif kind is dict:
            if depth > MAX_DEPTH:
                raise RecordError(f"{_at(path)}nests deeper than {MAX_DEPTH} levels of objects and arrays")
            for key, child in item.items():
                if type(key) is not str:
                    raise RecordError(f"{_at(path)}has a key that is not text ({describe(key)})")
                _check_json_string(key, path)
                stack.append((child, depth + 1, f"{path}.{key[:40]}" if path else key[:40]))
        elif kind is list or kind is tuple:
            if depth > MAX_DEPTH:
                raise RecordError(f"{_at(path)}nests deeper than {MAX_DEPTH} levels of objects and arrays")
            stack.extend((child, depth + 1, f"{path}[{index}]") for index, child in enumerate(item))
        elif kind is float:
            if not math.isfinite(item):
                raise RecordError(f"{_at(path)}holds a number that is not finite ({item})")
        elif kind is int:
            if not MIN_INTEGER <= item <= MAX_INTEGER:
                raise RecordError(f"{_at(path)}holds a whole number beyond 64 bits")
        elif item is not None and kind is not bool:
            raise RecordError(f"{_at(path)}holds a value JSON has no type for ({kind.__name__})")


def _check_json_string(text: str, path: str) -> None:
    if "\x00" in text:
        raise RecordError(f"{_at(path)}contains a NUL character (\\u0000), which the database cannot store")
    if not text.isascii() and has_lone_surrogate(text):
        raise RecordError(f"{_at(path)}contains a lone surrogate (not text), which the database cannot store")


def _at(path: str) -> str:
    return f"{path} " if path else ""


def record_text(record: Mapping[str, Any]) -> str:
    """A record given as a mapping, as JSON text for the reject file; what JSON cannot hold (too
    deep, not a JSON type) is named instead of written."""
    try:
        return orjson.dumps(record, default=str).decode()
    except TypeError:
        return orjson.dumps({str(key): describe(value) for key, value in record.items()}).decode()
