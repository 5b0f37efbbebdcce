"""What makes a journey event line acceptable, checked without a database and without pydantic.

``EventChecker.check`` turns one parsed JSON object into the row the ingest inserts, or raises
``RecordError`` with the reason a user reads next to ``FILE:LINE``. It is hand-written rather than
a pydantic model because it runs once per line at 100,000+ lines a second, and its messages speak
of the file's fields, not of model internals. Types named in ``events.yaml`` have their
properties checked; other types are stored as they come (CONTRACT.md). Every value is held to
the bounds of ``values`` (identifiers, time stamps, the nesting and content of ``properties``):
the common line passes them through a few cheap tests, and only properties that may break one
are walked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from referral_automation.config import EventsConfig, PropertySpec
from referral_automation.services.ingest.values import (
    EARLIEST,
    LATEST,
    MAX_DEPTH,
    RecordError,
    check_identifier,
    check_json_value,
    describe,
    may_nest_too_deep,
    parse_time,
)

__all__ = ["CheckedEvent", "EventChecker", "RecordError", "describe", "json_error", "utc_text"]

#: Top-level fields of an event line; ``properties`` may be left out (an event without any).
REQUIRED_FIELDS = ("event_id", "customer_id", "type", "occurred_at")
ALL_FIELDS = frozenset((*REQUIRED_FIELDS, "properties"))
#: Column widths of journey_events (db/models.py): longer values would fail a whole batch.
MAX_EVENT_ID, MAX_CUSTOMER_ID, MAX_TYPE = 200, 128, 100
MAX_LENGTHS = {"event_id": MAX_EVENT_ID, "customer_id": MAX_CUSTOMER_ID, "type": MAX_TYPE}

#: (event_id, customer_id, type, occurred_at as UTC text ``YYYY-MM-DD HH:MM:SS.ffffff`` (``utc_text``),
#: properties as JSON text): all text, so it crosses to a writer process cheaply.
CheckedEvent = tuple[str, str, str, str, str]


def json_error(error: orjson.JSONDecodeError) -> str:
    """orjson's complaint about one line, without the line number (the caller gives it)."""
    if error.msg == "depth limit exceeded":
        return f"nests deeper than {MAX_DEPTH} levels of objects and arrays"
    return f"malformed JSON: {error.msg} (at column {error.colno})"


#: One property check, precomputed: (name, accepted Python types, required, min, max, type name).
PropertyCheck = tuple[str, tuple[type, ...], bool, float | None, float | None, str]
_ACCEPTED = {"integer": (int,), "number": (int, float), "string": (str,), "boolean": (bool,)}
_TYPE_NAMES = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false"}
_NO_PROPERTIES: dict[str, Any] = {}
#: The accepted years of a time stamp in UTC (``values.EARLIEST`` and ``LATEST`` fall on New Year).
_FIRST_YEAR, _END_YEAR = EARLIEST.year, LATEST.year
#: The shortest properties text that can nest deeper than the bound: an opener and a closer a level.
_DEEP_TEXT = 2 * MAX_DEPTH


class EventChecker:
    """Checks event objects against the event types of the config.

    ``check`` is the hot path of the ingest: the common case runs straight through with cheap
    type tests, and only a failing line takes the slower path that finds the exact reason.
    """

    def __init__(self, events: EventsConfig) -> None:
        self.specs: dict[str, tuple[PropertyCheck, ...]] = {
            name: tuple(_property_check(prop, spec) for prop, spec in event_type.properties.items())
            for name, event_type in events.event_types.items()
        }

    def parse(self, data: bytes) -> dict[str, Any]:
        """A line's bytes (surrounding white space and line end allowed) as a JSON object."""
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise RecordError(json_error(exc)) from None
        if type(obj) is not dict:
            raise RecordError(f"expected a JSON object, got {describe(obj)}")
        return obj

    def check(self, obj: Mapping[str, Any]) -> CheckedEvent:
        """The row to insert for one event object, or ``RecordError``.

        ``obj`` is what ``parse`` returned, or a mapping already held to ``check_json_value``.
        """
        if obj.keys() != ALL_FIELDS:
            _check_field_names(obj)
        event_id, customer_id, event_type = obj["event_id"], obj["customer_id"], obj["type"]
        if (
            type(event_id) is not str
            or type(customer_id) is not str
            or type(event_type) is not str
            or not 0 < len(event_id) <= MAX_EVENT_ID
            or not 0 < len(customer_id) <= MAX_CUSTOMER_ID
            or not 0 < len(event_type) <= MAX_TYPE
            or not event_id.isprintable()
            or not customer_id.isprintable()
            or not event_type.isprintable()
            or event_id.isspace()
            or customer_id.isspace()
            or event_type.isspace()
        ):
            for name in REQUIRED_FIELDS[:3]:
                check_identifier(name, obj[name], MAX_LENGTHS[name])
        occurred_at = obj["occurred_at"]
        try:
            at = datetime.fromisoformat(occurred_at)
        except (TypeError, ValueError):
            at = parse_time("occurred_at", occurred_at, naive_is_utc=False)
        if at.tzinfo is not UTC or not _FIRST_YEAR <= at.year < _END_YEAR:
            at = parse_time("occurred_at", occurred_at, naive_is_utc=False)
        properties = obj.get("properties", _NO_PROPERTIES)
        if type(properties) is not dict:
            raise RecordError(f"properties must be an object, got {describe(properties)}")
        checks = self.specs.get(event_type)
        if checks:
            _check_properties(event_type, properties, checks)
        # Only properties are stored as they came (the rest is checked text), and what is left to
        # fear in them after orjson's parsing (which refused invalid UTF-8, lone surrogates and NaN)
        # shows in the text orjson writes: a NUL as \u0000, deep nesting as many brackets (at least
        # two bytes a level). Only then are they walked.
        try:
            text = orjson.dumps(properties)
        except TypeError:  # deeper than the 254 levels orjson writes (it reads 1,024)
            text = _unwritable(properties)
        if b"\\u0000" in text or (len(text) >= _DEEP_TEXT and may_nest_too_deep(text, level=2)):
            check_json_value(properties, "properties", level=2)
        return (event_id, customer_id, event_type, utc_text(at, occurred_at), text.decode())


def _unwritable(properties: dict[str, Any]) -> bytes:
    """Why properties orjson cannot write are refused."""
    check_json_value(properties, "properties", level=2)
    raise RecordError("properties cannot be written as JSON")


def utc_text(at: datetime, given: str) -> str:
    """``at`` (aware, UTC) as naive UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``: SQLAlchemy's SQLite
    ``DATETIME`` format, which ``UTCDateTime`` reads back as aware UTC.

    ``given`` is the text ``at`` was parsed from. The most common form, ``YYYY-MM-DDTHH:MM:SSZ``,
    is cut into shape (a fifth of ``isoformat``'s cost, which is a tenth of a line's); anything
    else goes through ``isoformat``. tests/services/ingest/test_storage.py compares both.
    """
    if len(given) == 20 and given[19] == "Z" and given[4] == given[7] == "-" and given[13] == given[16] == ":":
        return f"{given[:10]} {given[11:19]}.000000"
    return at.isoformat(" ", "microseconds")[:26]


def _property_check(name: str, spec: PropertySpec) -> PropertyCheck:
    return (name, _ACCEPTED[spec.type], spec.required, spec.min, spec.max, _TYPE_NAMES[spec.type])


def _check_field_names(obj: Mapping[str, Any]) -> None:
    missing = [name for name in REQUIRED_FIELDS if name not in obj]
    if missing:
        noun = "field" if len(missing) == 1 else "fields"
        raise RecordError(f"missing {noun} {', '.join(repr(m) for m in missing)}")
    unknown = sorted(str(key) for key in obj.keys() - ALL_FIELDS)
    if unknown:
        noun = "field" if len(unknown) == 1 else "fields"
        known = ", ".join(sorted(ALL_FIELDS))
        raise RecordError(f"unknown {noun} {', '.join(repr(u) for u in unknown)} (an event has {known})")


def _check_properties(event_type: str, properties: Mapping[str, Any], checks: tuple[PropertyCheck, ...]) -> None:
    for name, accepted, required, low, high, type_name in checks:
        value = properties.get(name)
        if value is None:
            if required:
                raise RecordError(f"{event_type}: property {name!r} is required")
            continue
        if type(value) not in accepted or (type(value) is float and not math.isfinite(value)):
            raise RecordError(f"{event_type}: property {name!r} must be {type_name}, got {describe(value)}")
        if low is not None and value < low:
            raise RecordError(f"{event_type}: property {name!r} must be at least {_number(low)}, got {value}")
        if high is not None and value > high:
            raise RecordError(f"{event_type}: property {name!r} must be at most {_number(high)}, got {value}")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
