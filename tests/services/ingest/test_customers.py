"""Ingesting customers from CSV and JSONL: upsert by customer_id, bad rows rejected with FILE:LINE."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Customer
from referral_automation.errors import InputError, Problem
from referral_automation.services.ingest import IngestReport, ingest_customers_file, upsert_customers
from tests.support.ingest import NOW, customer, reasons_of, rejected_lines

HEADER = (
    "customer_id,email,first_name,last_name,company,plan,lifetime_value,first_purchase_at,"
    "timezone,locale,marketing_opt_in"
)
ADA = (
    "c1,ada@example.com,Ada,Lovelace,Analytical Engines,enterprise,75000.50,2025-01-15T08:00:00,Europe/London,en-GB,yes"
)
#: The columns a new customer needs, and no more.
NEEDED = "customer_id,email,first_purchase_at,timezone,marketing_opt_in"


def write(folder: Path, name: str, lines: list[str] | list[dict[str, Any]]) -> Path:
    path = folder / name
    text = "".join((line if isinstance(line, str) else orjson.dumps(line).decode()) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
    return path


def ingest(
    factory: sessionmaker[Session], path: Path | str, problems: list[Problem] | None = None, **options: Any
) -> IngestReport:
    options.setdefault("now", NOW)
    report = ingest_customers_file(
        factory, path, on_problem=(problems if problems is not None else []).append, **options
    )
    assert report.read == report.inserted + report.updated + report.rejected
    return report


def customers(factory: sessionmaker[Session]) -> dict[str, Customer]:
    with factory() as session:
        return {c.customer_id: c for c in session.scalars(select(Customer))}


def test_a_csv_file_is_ingested_with_every_field(factory: sessionmaker[Session], tmp_path: Path) -> None:
    """It stores each field of a CSV row converted: money, UTC times, booleans, text."""
    report = ingest(factory, write(tmp_path, "customers.csv", [HEADER, ADA]))

    assert (report.read, report.inserted, report.updated, report.ok) == (1, 1, 0, True)
    ada = customers(factory)["c1"]
    assert (ada.email, ada.first_name, ada.last_name, ada.company, ada.plan) == (
        "ada@example.com",
        "Ada",
        "Lovelace",
        "Analytical Engines",
        "enterprise",
    )
    assert ada.lifetime_value == Decimal("75000.50")
    assert ada.first_purchase_at == datetime(2025, 1, 15, 8, 0, tzinfo=UTC)
    assert (ada.timezone, ada.locale, ada.marketing_opt_in) == ("Europe/London", "en-GB", True)
    assert ada.created_at == ada.updated_at == NOW


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson", ".json-lines"])
def test_a_jsonl_file_is_ingested(factory: sessionmaker[Session], tmp_path: Path, suffix: str) -> None:
    """It reads JSON lines by extension, with JSON types or strings for numbers and flags."""
    lines = [
        customer("c1", lifetime_value=12.5, marketing_opt_in=True),
        customer("c2", lifetime_value="7", marketing_opt_in="No", first_purchase_at="2025-06-01T12:00:00+02:00"),
    ]
    report = ingest(factory, write(tmp_path, f"customers{suffix}", lines))

    assert (report.inserted, report.ok) == (2, True)
    stored = customers(factory)
    assert (stored["c1"].lifetime_value, stored["c1"].marketing_opt_in) == (Decimal("12.50"), True)
    assert (stored["c2"].lifetime_value, stored["c2"].marketing_opt_in) == (Decimal("7.00"), False)
    assert stored["c2"].first_purchase_at == datetime(2025, 6, 1, 10, 0, tzinfo=UTC)


def test_empty_cells_take_the_defaults(factory: sessionmaker[Session], tmp_path: Path) -> None:
    """It gives a new customer en, 0, empty text and no first purchase (not bought yet) where cells are empty."""
    ingest(factory, write(tmp_path, "customers.csv", [HEADER, "c1,ada@example.com,,,,,,,UTC,,no"]))

    c1 = customers(factory)["c1"]
    assert (c1.locale, c1.lifetime_value, c1.plan, c1.first_name) == ("en", Decimal(0), "", "")
    assert (c1.timezone, c1.marketing_opt_in, c1.first_purchase_at) == ("UTC", False, None)


def test_values_are_stored_in_their_normal_form(factory: sessionmaker[Session], tmp_path: Path) -> None:
    """It stores the address with its domain lower-cased and the locale in BCP 47's case."""
    ingest(factory, write(tmp_path, "c.jsonl", [customer("c1", email=" Ada@Example.COM ", locale="pt_br")]))

    c1 = customers(factory)["c1"]
    assert (c1.email, c1.locale) == ("Ada@example.com", "pt-BR")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), ("Yes", True), ("1", True), ("false", False), ("no", False), ("0", False)],
)
def test_opt_in_words(factory: sessionmaker[Session], tmp_path: Path, value: str, expected: bool) -> None:
    """It reads true/false, yes/no and 1/0 in any case."""
    ingest(factory, write(tmp_path, "c.csv", [NEEDED, f"c1,a@example.com,2025-01-01,UTC,{value}"]))

    assert customers(factory)["c1"].marketing_opt_in is expected


def test_a_customer_twice_in_one_file_ends_as_the_later_row_says(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """It applies both records in order: the later one wins for the fields it gives."""
    lines = [customer("c1", email="a@example.com", plan="team", locale="de"), customer("c1", email="b@example.com")]
    report = ingest(factory, write(tmp_path, "c.jsonl", lines))

    assert (report.read, report.inserted, report.updated, report.ok) == (2, 1, 1, True)
    c1 = customers(factory)["c1"]
    assert (c1.email, c1.plan, c1.locale) == ("b@example.com", "team", "de")


BAD_ROWS = [
    ("empty id", ",a@example.com,,,,,,2025-01-01,UTC,,no", "customer_id is empty"),
    ("no email", "c2,,,,,,,2025-01-01,UTC,,no", "email is empty"),
    (
        "not an address",
        "c2,not-an-address,,,,,,2025-01-01,UTC,,no",
        "email is not one plain address (not a valid address",
    ),
    ("two mailboxes", 'c2,"evil>,<victim@example.com",,,,,,,UTC,,no', "email is not one plain address (2 addresses"),
    ("a display name", 'c2,"Eve <eve@example.com>",,,,,,,UTC,,no', "email is not one plain address (has a display"),
    ("negative value", "c2,a@example.com,,,,,-5,,UTC,,no", "lifetime_value must not be negative, got -5"),
    ("not a number", "c2,a@example.com,,,,,lots,,UTC,,no", "lifetime_value is not a number: 'lots'"),
    ("too much value", "c2,a@example.com,,,,,1e13,,UTC,,no", "lifetime_value is too large (at most 999999999999.99)"),
    ("more digits than decimal holds", "c2,a@example.com,,,,,1e30,,UTC,,no", "lifetime_value is too large"),
    ("bad date", "c2,a@example.com,,,,,,31/12/2024,UTC,,no", "first_purchase_at is not an ISO 8601 date-time"),
    (
        "the last second of year 9999",
        "c2,a@example.com,,,,,,9999-12-31T23:59:59Z,UTC,,no",
        "first_purchase_at is out of range",
    ),
    ("a year 1", "c2,a@example.com,,,,,,0001-01-01,UTC,,no", "first_purchase_at is out of range (years 1900 to 2199)"),
    (
        "unknown time zone",
        "c2,a@example.com,,,,,,,Mars/Olympus,,no",
        "timezone 'Mars/Olympus' is not an IANA time zone",
    ),
    (
        "zone in lower case",
        "c2,a@example.com,,,,,,,europe/berlin,,no",
        "timezone 'europe/berlin' is not an IANA time zone; did you mean 'Europe/Berlin'?",
    ),
    ("the machine's own zone", "c2,a@example.com,,,,,,,localtime,,no", "timezone 'localtime' is not an IANA time zone"),
    ("empty time zone", "c2,a@example.com,,,,,,,,,no", "timezone is empty"),
    (
        "a POSIX locale",
        "c2,a@example.com,,,,,,,UTC,de_DE.UTF-8,no",
        "locale 'de_DE.UTF-8' is not a BCP 47 language tag",
    ),
    ("bad flag", "c2,a@example.com,,,,,,,UTC,,maybe", "marketing_opt_in must be true or false (or yes/no, 1/0)"),
    ("empty consent", "c2,a@example.com,,,,,,,UTC,,", "marketing_opt_in is empty"),
    ("too few fields", "c2,a@example.com", "expected 11 fields, got 2"),
    ("plan too long", "c2,a@example.com,,,," + "p" * 101 + ",,,UTC,,no", "plan is longer than 100 characters"),
    ("ESC in the id", "c2\x1b[2J,a@example.com,,,,,,,UTC,,no", "customer_id contains a control character (U+001B)"),
    (
        "a zero-width id",
        "c\u200b2,a@example.com,,,,,,,UTC,,no",
        "customer_id contains an invisible or format character",
    ),
    ("an override in a name", "c2,a@example.com,\u202egnalb,,,,,,UTC,,no", "first_name contains a bidirectional"),
    ("NUL in a company", "c2,a@example.com,,,A\x00B,,,,UTC,,no", "company contains a control character (U+0000)"),
    ("a C1 control in a plan", "c2,a@example.com,,,,pro\x9b,,,UTC,,no", "plan contains a control character (U+009B)"),
]


@pytest.mark.parametrize(("row", "reason"), [case[1:] for case in BAD_ROWS], ids=[case[0] for case in BAD_ROWS])
def test_a_bad_csv_row_is_rejected(factory: sessionmaker[Session], tmp_path: Path, row: str, reason: str) -> None:
    """It reports FILE:LINE: reason for a bad row, writes it to the reject file as it was, and keeps the others."""
    path = write(tmp_path, "customers.csv", [HEADER, ADA, row, ADA.replace("c1,", "c3,", 1)])
    problems: list[Problem] = []

    report = ingest(factory, path, problems)

    assert (report.read, report.inserted, report.rejected, report.ok) == (3, 2, 1, False)
    assert str(problems[0]).startswith(f"{path}:3: {reason}")
    assert rejected_lines(report) == [HEADER.encode() + b"\n", row.encode() + b"\n"]
    assert reasons_of(report) == [{"line": 3, "reason": problems[0].message}]
    assert sorted(customers(factory)) == ["c1", "c3"]


def test_a_stray_quote_rejects_its_own_row_alone(factory: sessionmaker[Session], tmp_path: Path) -> None:
    """It stores every other row of a 3,000-row file with `"First99` at line 101, and its counts add up (issue 13)."""
    rows = [f"c{n},first{n}@example.com,First{n},Last,,,,2025-01-01,UTC,en,yes" for n in range(3000)]
    rows[99] = rows[99].replace("First99", '"First99')
    path = write(tmp_path, "customers.csv", [HEADER, *rows])
    problems: list[Problem] = []

    report = ingest(factory, path, problems)

    assert (report.read, report.inserted, report.rejected) == (3000, 2999, 1)
    assert [(p.line, p.message.split(" (")[0]) for p in problems] == [
        (101, "a quoted field is not closed within 100 lines or 1048576 bytes")
    ]
    assert rejected_lines(report)[1] == rows[99].encode() + b"\n"
    assert len(customers(factory)) == 2999


def test_a_record_over_lines_is_judged_whole(factory: sessionmaker[Session], tmp_path: Path) -> None:
    """It rejects a well-formed row whose quoted field holds a line break with all its lines, and numbers
    later rows by the lines they start on."""
    lines = [NEEDED + ",company", 'c1,a@example.com,2025-01-01,UTC,yes,"Two\nLines"', "c2,broken,2025-01-01,UTC,yes,x"]
    problems: list[Problem] = []

    report = ingest(factory, write(tmp_path, "customers.csv", lines), problems)

    assert [(p.line, p.message.split(" (")[0]) for p in problems] == [
        (2, "company contains a control character"),
        (4, "email is not one plain address"),
    ]
    assert rejected_lines(report)[1:3] == [b'c1,a@example.com,2025-01-01,UTC,yes,"Two\n', b'Lines"\n']


def test_bytes_that_are_not_utf8_reject_only_their_row(factory: sessionmaker[Session], tmp_path: Path) -> None:
    """It rejects a row with invalid UTF-8 and still ingests the rows around it, keeping the bytes as they were."""
    path = tmp_path / "customers.csv"
    path.write_bytes(
        b"customer_id,email,first_name,first_purchase_at,timezone,marketing_opt_in\r\n"
        b"c1,a@example.com,Ren\xe9,2025-01-01,UTC,yes\r\nc2,b@example.com,Ren\xc3\xa9,2025-01-01,UTC,yes\r\n"
    )
    problems: list[Problem] = []

    report = ingest(factory, path, problems)

    assert (report.inserted, report.rejected) == (1, 1)
    assert str(problems[0]) == f"{path}:2: first_name is not valid UTF-8"
    assert rejected_lines(report)[1] == b"c1,a@example.com,Ren\xe9,2025-01-01,UTC,yes\r\n"
    assert customers(factory)["c2"].first_name == "René"


def test_an_unknown_column_is_reported_once_and_ignored(factory: sessionmaker[Session], tmp_path: Path) -> None:
    """It reports FILE:1 for an unknown column, ingests the known columns, and fails the report."""
    path = write(
        tmp_path,
        "customers.csv",
        [NEEDED + ",shoe_size", "c1,a@example.com,2025-01-01,UTC,no,44", "c2,b@example.com,,UTC,no,41"],
    )
    problems: list[Problem] = []

    report = ingest(factory, path, problems)

    assert [str(p).split(" (")[0] for p in problems] == [f"{path}:1: unknown column 'shoe_size'"]
    assert (report.inserted, report.rejected, report.ok) == (2, 0, False)
    assert report.rejects_path is None


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("customer_id,first_name", "missing columns 'email', 'first_purchase_at', 'timezone', 'marketing_opt_in' ("),
        ("customer_id,email,marketing_opt_in", "missing columns 'first_purchase_at', 'timezone' (a new customer needs"),
        (NEEDED + ",email", "column 'email' appears twice"),
    ],
)
def test_a_header_without_the_required_columns_stops_the_ingest(
    factory: sessionmaker[Session], tmp_path: Path, header: str, message: str
) -> None:
    """It raises InputError at line 1 naming the columns, and ingests nothing, when no row could be right."""
    path = write(tmp_path, "customers.csv", [header, "c1,a@example.com,x"])

    with pytest.raises(InputError) as caught:
        ingest(factory, path)

    assert str(caught.value).startswith(f"{path}:1: {message}")
    assert customers(factory) == {}


BAD_LINES = [
    ("malformed", "{nope", "malformed JSON: "),
    ("an array", "[]", "expected a JSON object, got an array"),
    ("unknown key", orjson.dumps(customer("c2", vip=True)).decode(), "unknown field 'vip'"),
    ("missing fields", '{"customer_id": "c2", "email": "a@b.io"}', "missing fields 'first_purchase_at', 'timezone'"),
    ("a number for the id", orjson.dumps(customer(7)).decode(), "customer_id must be a non-empty string"),  # type: ignore[arg-type]
    ("a boolean for money", orjson.dumps(customer("c2", lifetime_value=True)).decode(), "lifetime_value must"),
    ("a list for a flag", orjson.dumps(customer("c2", marketing_opt_in=[])).decode(), "marketing_opt_in must"),
    ("a null time zone", orjson.dumps(customer("c2", timezone=None)).decode(), "timezone is empty"),
]


@pytest.mark.parametrize(("line", "reason"), [case[1:] for case in BAD_LINES], ids=[case[0] for case in BAD_LINES])
def test_a_bad_jsonl_line_is_rejected(factory: sessionmaker[Session], tmp_path: Path, line: str, reason: str) -> None:
    """It reports FILE:LINE: reason for a bad JSON line, writes the line as it was, and keeps the good ones."""
    path = write(tmp_path, "customers.jsonl", [orjson.dumps(customer("c1")).decode(), "", line])
    problems: list[Problem] = []

    report = ingest(factory, path, problems)

    assert (report.inserted, report.rejected) == (1, 1)
    assert str(problems[0]).startswith(f"{path}:3: {reason}")
    assert rejected_lines(report) == [line.encode() + b"\n"]
    assert report.rejects_path == tmp_path / "customers.jsonl.rejects.jsonl"


@pytest.mark.parametrize(("name", "content"), [("customers.xlsx", "x"), ("empty.csv", "")])
def test_files_that_cannot_be_read_are_input_errors(
    factory: sessionmaker[Session], tmp_path: Path, name: str, content: str
) -> None:
    """It raises InputError for an unknown extension and an empty CSV."""
    path = tmp_path / name
    path.write_text(content)

    with pytest.raises(InputError, match=name):
        ingest(factory, path)


def test_customers_from_an_api(factory: sessionmaker[Session]) -> None:
    """It upserts mappings from other sources with the same checks, naming the source in problems."""
    problems: list[Problem] = []

    report = upsert_customers(
        factory,
        [customer("c1"), ("crm", 12, customer("c2", email="nope"))],
        now=NOW,
        on_problem=problems.append,
    )

    assert (report.inserted, report.rejected) == (1, 1)
    assert [str(p) for p in problems] == [
        "crm:12: email is not one plain address (not a valid address (addr-spec local part with no domain)): 'nope'"
    ]


# --------------------------------------------------------------------------- update mode
def test_update_mode_changes_only_the_columns_given(factory: sessionmaker[Session], tmp_path: Path) -> None:
    """It updates stored customers with a file of fewer columns, keeps the rest and created_at, and
    rejects unknown ids."""
    ingest(factory, write(tmp_path, "first.csv", [HEADER, ADA]))
    later = NOW + timedelta(days=1)
    path = write(tmp_path, "consent.csv", ["customer_id,marketing_opt_in", "c1,no", "c9,yes", "c1,no"])

    report = ingest(factory, path, now=later, update_only=True)

    assert (report.read, report.inserted, report.updated, report.rejected) == (3, 0, 2, 1)
    assert reasons_of(report) == [
        {"line": 3, "reason": "unknown customer 'c9' (update mode changes only customers already stored)"}
    ]
    ada = customers(factory)["c1"]
    assert ada.marketing_opt_in is False
    assert (ada.email, ada.plan, ada.lifetime_value, ada.timezone) == (
        "ada@example.com",
        "enterprise",
        Decimal("75000.50"),
        "Europe/London",
    )
    assert (ada.created_at, ada.updated_at) == (NOW, later)
    assert sorted(customers(factory)) == ["c1"]


def test_update_mode_needs_only_the_id(factory: sessionmaker[Session], tmp_path: Path) -> None:
    """It refuses a header without customer_id in update mode, and a JSONL record of an unknown customer."""
    with pytest.raises(InputError, match="missing column 'customer_id'"):
        ingest(factory, write(tmp_path, "plans.csv", ["plan", "team"]), update_only=True)

    report = ingest(
        factory, write(tmp_path, "plans.jsonl", [{"customer_id": "ghost", "plan": "team"}]), update_only=True
    )

    assert (report.read, report.rejected) == (1, 1)


def test_a_partial_record_of_a_new_customer_points_to_update_mode(factory: sessionmaker[Session]) -> None:
    """It names the missing fields and how to change some fields only."""
    problems: list[Problem] = []

    upsert_customers(factory, [{"customer_id": "c1", "email": "a@example.com"}], now=NOW, on_problem=problems.append)

    assert problems[0].message == (
        "missing fields 'first_purchase_at', 'timezone', 'marketing_opt_in' (a new customer needs customer_id, email, "
        "first_purchase_at, timezone, marketing_opt_in; to change some fields of stored customers only, ingest in "
        "update mode (--update))"
    )
