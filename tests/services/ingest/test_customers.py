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
from tests.support.ingest import NOW, rejects_of

HEADER = (
    "customer_id,email,first_name,last_name,company,plan,lifetime_value,first_purchase_at,"
    "timezone,locale,marketing_opt_in"
)
ADA = (
    "c1,ada@example.com,Ada,Lovelace,Analytical Engines,enterprise,75000.50,2025-01-15T08:00:00,Europe/London,en-GB,yes"
)


def write(folder: Path, name: str, lines: list[str] | list[dict[str, Any]]) -> Path:
    path = folder / name
    text = "".join((line if isinstance(line, str) else orjson.dumps(line).decode()) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
    return path


def ingest(
    factory: sessionmaker[Session], path: Path, problems: list[Problem] | None = None, **options: Any
) -> IngestReport:
    options.setdefault("now", NOW)
    return ingest_customers_file(factory, path, on_problem=(problems if problems is not None else []).append, **options)


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
        {"customer_id": "c1", "email": "ada@example.com", "lifetime_value": 12.5, "marketing_opt_in": True},
        {"customer_id": "c2", "email": "bob@example.com", "lifetime_value": "7", "marketing_opt_in": "No",
         "first_purchase_at": "2025-06-01T12:00:00+02:00", "timezone": None},
    ]  # fmt: skip
    report = ingest(factory, write(tmp_path, f"customers{suffix}", lines))

    assert (report.inserted, report.ok) == (2, True)
    stored = customers(factory)
    assert (stored["c1"].lifetime_value, stored["c1"].marketing_opt_in) == (Decimal("12.50"), True)
    assert (stored["c2"].lifetime_value, stored["c2"].marketing_opt_in) == (Decimal("7.00"), False)
    assert stored["c2"].first_purchase_at == datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
    assert stored["c2"].timezone == "UTC"


def test_empty_and_missing_fields_get_the_defaults(factory: sessionmaker[Session], tmp_path: Path) -> None:
    """It gives a new customer UTC, en, 0, no opt-in and empty text where the file says nothing."""
    ingest(factory, write(tmp_path, "customers.csv", [HEADER, "c1,ada@example.com,,,,,,,,,", "c2,bob@example.com"]))

    for customer in customers(factory).values():
        assert (customer.timezone, customer.locale, customer.lifetime_value) == ("UTC", "en", Decimal(0))
        assert (customer.marketing_opt_in, customer.first_purchase_at, customer.plan) == (False, None, "")


def test_an_unknown_time_zone_is_stored_as_given(factory: sessionmaker[Session], tmp_path: Path) -> None:
    """It keeps a time zone it does not know (sending falls back to UTC with a warning)."""
    ingest(factory, write(tmp_path, "customers.csv", ["customer_id,email,timezone", "c1,a@example.com,Mars/Olympus"]))

    assert customers(factory)["c1"].timezone == "Mars/Olympus"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), ("Yes", True), ("1", True), ("false", False), ("no", False), ("0", False)],
)
def test_opt_in_words(factory: sessionmaker[Session], tmp_path: Path, value: str, expected: bool) -> None:
    """It reads true/false, yes/no and 1/0 in any case."""
    ingest(factory, write(tmp_path, "c.csv", ["customer_id,email,marketing_opt_in", f"c1,a@example.com,{value}"]))

    assert customers(factory)["c1"].marketing_opt_in is expected


def test_an_upsert_updates_only_the_fields_given(factory: sessionmaker[Session], tmp_path: Path) -> None:
    """It updates a known customer with the columns of the new file and keeps the rest and created_at."""
    ingest(factory, write(tmp_path, "first.csv", [HEADER, ADA]))
    later = NOW + timedelta(days=1)

    report = ingest(
        factory,
        write(tmp_path, "consent.csv", ["customer_id,email,marketing_opt_in", "c1,ada@new.example,no", "c9,x@y.io,1"]),
        now=later,
    )

    assert (report.read, report.inserted, report.updated) == (2, 1, 1)
    ada = customers(factory)["c1"]
    assert (ada.email, ada.marketing_opt_in) == ("ada@new.example", False)
    assert (ada.plan, ada.lifetime_value, ada.timezone) == ("enterprise", Decimal("75000.50"), "Europe/London")
    assert (ada.created_at, ada.updated_at) == (NOW, later)


def test_a_customer_twice_in_one_file_ends_as_the_later_row_says(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """It applies both records in order: the later one wins for the fields it gives."""
    lines = [
        {"customer_id": "c1", "email": "a@example.com", "plan": "team", "locale": "de"},
        {"customer_id": "c1", "email": "b@example.com", "plan": "business"},
    ]
    report = ingest(factory, write(tmp_path, "c.jsonl", lines))

    assert (report.read, report.inserted, report.updated, report.ok) == (2, 1, 1, True)
    c1 = customers(factory)["c1"]
    assert (c1.email, c1.plan, c1.locale) == ("b@example.com", "business", "de")


BAD_ROWS = [
    ("empty id", ",a@example.com,,,,,,,,,", "customer_id is empty"),
    ("no email", "c2,,,,,,,,,,", "email is empty"),
    ("not an address", "c2,not-an-address,,,,,,,,,", "email does not look like an address: 'not-an-address'"),
    ("negative value", "c2,a@example.com,,,,,-5,,,,", "lifetime_value must not be negative, got -5"),
    ("not a number", "c2,a@example.com,,,,,lots,,,,", "lifetime_value is not a number: 'lots'"),
    ("too much value", "c2,a@example.com,,,,,1e13,,,,", "lifetime_value is too large (at most 999999999999.99)"),
    ("bad date", "c2,a@example.com,,,,,,31/12/2024,,,", "first_purchase_at is not an ISO 8601 date-time"),
    ("bad flag", "c2,a@example.com,,,,,,,,,maybe", "marketing_opt_in must be true or false (or yes/no, 1/0)"),
    ("too few fields", "c2,a@example.com", "expected 11 fields, got 2"),
    ("plan too long", "c2,a@example.com,,,," + "p" * 101 + ",,,,,", "plan is longer than 100 characters"),
]


@pytest.mark.parametrize(("row", "reason"), [case[1:] for case in BAD_ROWS], ids=[case[0] for case in BAD_ROWS])
def test_a_bad_csv_row_is_rejected(factory: sessionmaker[Session], tmp_path: Path, row: str, reason: str) -> None:
    """It reports FILE:LINE: reason for a bad row, writes it to the reject file, and keeps the others."""
    path = write(tmp_path, "customers.csv", [HEADER, ADA, row, ADA.replace("c1,", "c3,", 1)])
    problems: list[Problem] = []

    report = ingest(factory, path, problems)

    assert (report.read, report.inserted, report.rejected, report.ok) == (3, 2, 1, False)
    assert str(problems[0]).startswith(f"{path}:3: {reason}")
    [reject] = rejects_of(tmp_path / "customers.csv.rejects.jsonl")
    assert (reject["line"], reject["raw"]) == (3, row)
    assert sorted(customers(factory)) == ["c1", "c3"]


BAD_LINES = [
    ("malformed", "{nope", "malformed JSON: "),
    ("an array", "[]", "expected a JSON object, got an array"),
    ("unknown key", '{"customer_id": "c2", "email": "a@example.com", "vip": true}', "unknown field 'vip'"),
    ("missing email", '{"customer_id": "c2"}', "missing field 'email'"),
    ("a number for the id", '{"customer_id": 7, "email": "a@example.com"}', "customer_id must be a string"),
    ("a boolean for money", '{"customer_id": "c2", "email": "a@b.io", "lifetime_value": true}', "lifetime_value must"),
    ("a list for a flag", '{"customer_id": "c2", "email": "a@b.io", "marketing_opt_in": []}', "marketing_opt_in must"),
]


@pytest.mark.parametrize(("line", "reason"), [case[1:] for case in BAD_LINES], ids=[case[0] for case in BAD_LINES])
def test_a_bad_jsonl_line_is_rejected(factory: sessionmaker[Session], tmp_path: Path, line: str, reason: str) -> None:
    """It reports FILE:LINE: reason for a bad JSON line and keeps the good ones."""
    good = '{"customer_id": "c1", "email": "ada@example.com"}'
    path = write(tmp_path, "customers.jsonl", [good, "", line])
    problems: list[Problem] = []

    report = ingest(factory, path, problems)

    assert (report.inserted, report.rejected) == (1, 1)
    assert str(problems[0]).startswith(f"{path}:3: {reason}")
    assert rejects_of(tmp_path / "customers.jsonl.rejects.jsonl")[0]["raw"] == line


def test_a_quoted_field_over_two_lines_is_numbered_by_its_first_line(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """It accepts a multi-line quoted field and numbers later rows by the lines they start on."""
    lines = ["customer_id,email,company", 'c1,a@example.com,"Two\nLines"', "c2,broken,x"]
    problems: list[Problem] = []

    ingest(factory, write(tmp_path, "customers.csv", lines), problems)

    assert customers(factory)["c1"].company == "Two\nLines"
    assert [p.line for p in problems] == [4]


def test_bytes_that_are_not_utf8_reject_only_their_row(factory: sessionmaker[Session], tmp_path: Path) -> None:
    """It rejects a row with invalid UTF-8 and still ingests the rows around it."""
    path = tmp_path / "customers.csv"
    path.write_bytes(b"customer_id,email,first_name\nc1,a@example.com,Ren\xe9\nc2,b@example.com,Ren\xc3\xa9\n")
    problems: list[Problem] = []

    report = ingest(factory, path, problems)

    assert (report.inserted, report.rejected) == (1, 1)
    assert str(problems[0]) == f"{path}:2: first_name is not valid UTF-8"
    assert customers(factory)["c2"].first_name == "René"


def test_an_unknown_column_is_reported_once_and_ignored(factory: sessionmaker[Session], tmp_path: Path) -> None:
    """It reports FILE:1 for an unknown column, ingests the known columns, and fails the report."""
    path = write(
        tmp_path, "customers.csv", ["customer_id,email,shoe_size", "c1,a@example.com,44", "c2,b@example.com,41"]
    )
    problems: list[Problem] = []

    report = ingest(factory, path, problems)

    assert [str(p).split(" (")[0] for p in problems] == [f"{path}:1: unknown column 'shoe_size'"]
    assert (report.inserted, report.rejected, report.ok) == (2, 0, False)
    assert report.rejects_path is None


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("customer_id,first_name", "missing column 'email'"),
        ("customer_id,email,email", "column 'email' appears twice"),
    ],
)
def test_a_header_without_the_required_columns_stops_the_ingest(
    factory: sessionmaker[Session], tmp_path: Path, header: str, message: str
) -> None:
    """It raises InputError at line 1 and ingests nothing when no row could be right."""
    path = write(tmp_path, "customers.csv", [header, "c1,a@example.com,x"])

    with pytest.raises(InputError) as caught:
        ingest(factory, path)

    assert str(caught.value) == f"{path}:1: {message}"
    assert customers(factory) == {}


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
        [{"customer_id": "c1", "email": "a@example.com"}, ("crm", 12, {"customer_id": "c2", "email": "nope"})],
        now=NOW,
        on_problem=problems.append,
    )

    assert (report.inserted, report.rejected) == (1, 1)
    assert [str(p) for p in problems] == ["crm:12: email does not look like an address: 'nope'"]
