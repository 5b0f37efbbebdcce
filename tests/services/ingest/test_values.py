"""The bounds of ingested values: identifiers, text, JSON documents, time stamps."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_automation.config import load_config
from referral_automation.domain.addresses import parse_mailbox
from referral_automation.services.ingest.event_checks import EventChecker
from referral_automation.services.ingest.values import (
    MAX_DEPTH,
    RecordError,
    check_identifier,
    check_json_value,
    check_mailbox,
    check_text,
    may_nest_too_deep,
    parse_time,
    record_text,
)
from tests.support import ROOT


def _deep(depth: int) -> list[Any]:
    """A list nested ``depth`` levels, built without recursion."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_a_value_nested_past_any_recursion_limit_is_refused_without_recursing() -> None:
    """It walks 100,000 levels with its own stack and names the first level too deep."""
    with pytest.raises(RecordError) as caught:
        check_json_value({"deep": _deep(100_000)})

    assert str(caught.value) == "deep" + "[0]" * (MAX_DEPTH - 1) + " nests deeper than 32 levels of objects and arrays"


def test_the_depth_bound_counts_the_value_itself() -> None:
    """It accepts 32 levels and refuses 33."""
    check_json_value(_deep(MAX_DEPTH))
    with pytest.raises(RecordError):
        check_json_value(_deep(MAX_DEPTH + 1))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"a": {"b": "x\x00"}}, "a.b contains a NUL character"),
        ({"\ud800": 1}, "contains a lone surrogate"),
        ({1: "x"}, "has a key that is not text (an integer (1))"),
        ({"n": math.nan}, "n holds a number that is not finite (nan)"),
        ({"n": [2**64]}, "n[0] holds a whole number beyond 64 bits"),
        ({"n": Decimal("1.5")}, "n holds a value JSON has no type for (Decimal)"),
        ({"when": datetime(2026, 1, 1, tzinfo=UTC)}, "when holds a value JSON has no type for (datetime)"),
    ],
)
def test_what_a_json_column_cannot_hold_is_refused_with_where(value: Any, reason: str) -> None:
    """It names the path to the first value neither database would store faithfully."""
    with pytest.raises(RecordError, match=reason.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        check_json_value(value)


def test_every_json_value_within_the_bounds_passes() -> None:
    """It accepts the values JSON has, at the edges of their ranges."""
    check_json_value({"s": "Grüße 🎉", "i": [-(2**63), 2**64 - 1], "f": 1e308, "b": True, "n": None, "e": {}})


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", 'id must be a non-empty string, got a string ("")'),
        (7, "id must be a non-empty string, got an integer (7)"),
        ("x" * 11, "id is longer than 10 characters"),
        ("a\x1bb", "id contains a control character (U+001B)"),
        ("a\x85", "id contains a control character (U+0085)"),
        ("a\u2028", "id contains a line break (U+2028 LINE SEPARATOR)"),
        ("a\u2066", "id contains a bidirectional control character (U+2066 LEFT-TO-RIGHT ISOLATE)"),
        ("a\u200db", "id contains an invisible or format character (U+200D ZERO WIDTH JOINER)"),
        ("a\xa0b", "id contains an invisible or format character (U+00A0 NO-BREAK SPACE)"),
    ],
)
def test_identifiers_are_printable_text(value: Any, reason: str) -> None:
    """It refuses identifiers that are empty, too long, or hold a character a terminal or reader would not show."""
    with pytest.raises(RecordError) as caught:
        check_identifier("id", value, 10)

    assert str(caught.value) == reason


def test_text_may_hold_what_scripts_need_but_no_controls() -> None:
    """It keeps a zero-width joiner in a name and refuses a bidirectional override."""
    assert check_text("name", "क्‍ष") == "क्‍ष"
    with pytest.raises(RecordError, match="bidirectional"):
        check_text("name", "\u202eevil")


@pytest.mark.parametrize(
    ("text", "naive_is_utc", "expected"),
    [
        ("2026-03-01T10:00:00+02:00", False, datetime(2026, 3, 1, 8, tzinfo=UTC)),
        ("2026-03-01", True, datetime(2026, 3, 1, tzinfo=UTC)),
        ("1900-01-01T00:00:00Z", False, datetime(1900, 1, 1, tzinfo=UTC)),
        ("2199-12-31T23:59:59.999999Z", False, datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_time_stamps_within_the_range_are_read_as_utc(text: str, naive_is_utc: bool, expected: datetime) -> None:
    """It reads time stamps up to both ends of the range as aware UTC (a naive one as UTC where asked)."""
    assert parse_time("t", text, naive_is_utc=naive_is_utc) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("9999-12-31T23:59:59Z", "t is out of range (years 1900 to 2199): '9999-12-31T23:59:59Z'"),
        ("0001-01-01T00:30:00+01:00", "t is out of range: '0001-01-01T00:30:00+01:00'"),
        ("1899-12-31T23:59:59Z", "t is out of range (years 1900 to 2199)"),
        ("2199-12-31T23:00:00-05:00", "t is out of range (years 1900 to 2199)"),
        ("2026-03-01T10:00:00", "t has no time zone"),
    ],
)
def test_time_stamps_outside_the_range_are_refused(text: str, reason: str) -> None:
    """It refuses what date arithmetic downstream could take off the calendar, converted to UTC first."""
    with pytest.raises(RecordError) as caught:
        parse_time("t", text, naive_is_utc=False)

    assert str(caught.value).startswith(reason)


def test_a_record_that_json_cannot_hold_is_still_named_in_the_reject_file() -> None:
    """It writes a stand-in naming each field's kind when a record cannot be written as JSON."""
    assert orjson.loads(record_text({"a": _deep(300), "b": 2**70})) == {"a": "an array", "b": "an integer"}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=60,
)


def _nested(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


@settings(max_examples=300)
@given(JSON, st.integers(0, 45), st.integers(1, 3))
def test_the_cheap_depth_check_never_lets_a_deep_value_through(value: Any, extra: int, level: int) -> None:
    """Whatever the value and its level, one nesting too deep has more openers than the bound (the check is sound)."""
    nested = _nested(value, extra)
    try:
        check_json_value(nested, level=level)
    except RecordError as error:
        if "nests deeper" in str(error):
            assert may_nest_too_deep(orjson.dumps(nested), level=level)


@settings(max_examples=300, deadline=None)
@given(JSON, st.integers(0, 45), st.sampled_from(["", "\\u0000"]))
def test_checking_a_line_agrees_with_always_walking_its_properties(value: Any, extra: int, nul: str) -> None:
    """It accepts and refuses exactly the lines that walking every parsed value would (the plain way)."""
    checker = EventChecker(load_config(ROOT / "config").events)
    properties = {"value": _nested(value, extra), "note": "x"}
    line = orjson.dumps(
        {"event_id": "e1", "customer_id": "c1", "type": "page_viewed", "occurred_at": "2026-03-01T10:00:00Z",
         "properties": properties}
    ).replace(b'"x"', f'"x{nul}"'.encode())  # fmt: skip

    try:
        fast: Any = checker.check(checker.parse(line))
    except RecordError as error:
        fast = str(error)
    try:
        obj = orjson.loads(line)
        check_json_value(obj, level=1)
        plain: Any = (obj["event_id"], obj["customer_id"], obj["type"], "2026-03-01 10:00:00.000000",
                      orjson.dumps(obj["properties"]).decode())  # fmt: skip
    except RecordError as error:
        plain = str(error)

    assert fast == plain


ADDRESS_TEXT = st.text(
    st.sampled_from([*"aZ09._%+-'#=?{|}~/!", "@", "@", ".", " ", ",", "<", ">", '"', "\x1b", "é", "[", "]"])
)
LOCAL_PART = st.text(st.sampled_from([*"aZ09_%+-'#=?", ".", ".", " ", '"', "é", "\x1b"]), max_size=8)
DOMAIN = st.from_regex(r"[A-Za-z0-9-]{1,5}(\.[A-Za-z0-9-]{1,5}){1,2}", fullmatch=True) | ADDRESS_TEXT
ADDRESSES = st.emails() | ADDRESS_TEXT | st.builds(lambda local, domain: f"{local}@{domain}", LOCAL_PART, DOMAIN)


@settings(max_examples=600)
@given(ADDRESSES)
def test_the_plain_address_pattern_reads_addresses_as_the_parser_does(text: str) -> None:
    """Whatever the text, it gives the parser's normal form of the one mailbox, or refuses what the parser refuses."""
    try:
        expected: str | None = parse_mailbox(text).addr_spec
    except ValueError:
        expected = None

    try:
        found: str | None = check_mailbox("email", text)
    except RecordError:
        found = None

    assert found == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ann.Lee+news@Example.COM", "Ann.Lee+news@example.com"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("ann@xn--bcher-kva.example", "ann@xn--bcher-kva.example"),
        ("ann@bücher.example", "ann@xn--bcher-kva.example"),
    ],
)
def test_addresses_are_kept_in_their_normal_form(text: str, expected: str) -> None:
    """It keeps the local part as given and writes the domain in lower case, an international one in IDNA."""
    assert check_mailbox("email", text) == expected


@pytest.mark.parametrize(
    "text", ["evil>,<victim@example.com", "Ann <ann@example.com>", "ann@10.0.0.1", "a" * 65 + "@x.io"]
)
def test_anything_but_one_plain_address_is_refused(text: str) -> None:
    """It refuses two recipients, a display name, a bare IP address and an over-long local part."""
    with pytest.raises(RecordError, match="email is not one plain address"):
        check_mailbox("email", text)
