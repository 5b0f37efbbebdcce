"""The ingests under random and hostile input, on SQLite and PostgreSQL (issue 13).

Random JSON lines, customer CSV files and SendGrid event batches go through the ingest services;
whatever they hold, nothing raises, every line is either stored or in the reject file (byte for
byte, in order), the counts add up, and nothing is stored twice.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import load_config
from referral_automation.db.models import Base, Customer, JourneyEvent, Response
from referral_automation.services.ingest import ingest_customers_file, ingest_events_file
from referral_automation.services.responses.provider_events import parse_events, record_sendgrid_events
from tests.support import ROOT
from tests.support.factories import add_customer
from tests.support.ingest import NOW, lines_of, rejected_lines

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CONFIG = load_config(ROOT / "config")

#: Text as hostile as it comes: controls, NUL, bidirectional overrides, quotes, commas, non-ASCII.
TEXT = st.text(st.sampled_from([*'ab ,"\\\x00\x1b\x85\u202e\u200dé{}[]:', "\r"]), max_size=8)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=12,
)
TIMES = st.sampled_from(
    ["2026-03-01T09:30:00Z", "2026-03-01T09:30:00+05:30", "2026-03-01T09:30:00", "9999-12-31T23:59:59Z",
     "1899-01-01T00:00:00Z", "yesterday", "2026-W10-1T09:30:00Z"]
)  # fmt: skip


def _empty(factory: sessionmaker[Session]) -> None:
    """Every table emptied, children first (each example starts from nothing)."""
    with factory() as session, session.begin():
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


# --------------------------------------------------------------------------- journey events
EVENT = st.fixed_dictionaries(
    {
        "event_id": st.sampled_from(["e1", "e2", "e3"]) | TEXT,
        "customer_id": st.sampled_from(["c1", "c2", "ghost", "c1\x1b"]),
        "type": st.sampled_from(["purchase", "nps_submitted", "page_viewed", "x\u202ey", ""]),
        "occurred_at": TIMES | JSON,
    },
    optional={"properties": st.dictionaries(TEXT, JSON, max_size=3) | JSON, "extra": JSON},
)


def _line(event: dict[str, Any], extra: str = "") -> bytes:
    """An event as one JSON line, with ``extra`` text (no encoder would write it) before its type."""
    text = json.dumps(event, allow_nan=True)
    return text.replace('"type"', extra + '"type"', 1).encode("utf-8", "surrogatepass")


#: Events that pass every check, so each example also stores some.
GOOD_EVENT = st.fixed_dictionaries(
    {
        "event_id": st.sampled_from(["e1", "e2", "e3", "e4", "e5"]),
        "customer_id": st.sampled_from(["c1", "c2"]),
        "type": st.just("page_viewed"),
        "occurred_at": st.sampled_from(["2026-03-01T09:30:00Z", "2026-03-01T09:30:00.5+05:30"]),
        "properties": st.dictionaries(st.sampled_from(["a", "b"]), JSON, max_size=2),
    }
)
EVENT_LINE = st.one_of(
    GOOD_EVENT.map(_line),
    EVENT.map(_line),
    EVENT.map(lambda event: _line(event, '"x": ' + _deep(300) + ", ")),
    EVENT.map(lambda event: _line(event, '"x": "\\ud800\\u0000", ')),
    st.binary(max_size=30).map(lambda data: data.replace(b"\n", b"")),
)


@FUZZ
@given(st.lists(st.tuples(EVENT_LINE, st.sampled_from([b"\n", b"\r\n", b"\n\n"])), max_size=12), st.integers(1, 4))
def test_event_lines_are_stored_once_or_rejected_as_they_were(
    factory: sessionmaker[Session], lines: list[tuple[bytes, bytes]], batch_size: int
) -> None:
    """Any JSON lines: every non-blank line is stored (its event_id once) or in the reject file, byte for byte."""
    _empty(factory)
    add_customer(factory, "c1")
    add_customer(factory, "c2")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.jsonl"
        path.write_bytes(b"".join(line + end for line, end in lines))

        report = ingest_events_file(factory, CONFIG, path, now=NOW, batch_size=batch_size, writer_process=False)

        numbered = [(n, line) for n, line in enumerate(_physical(path.read_bytes()), start=1) if line.strip()]
        rejected = {entry["line"] for entry in _reasons(report)}
        assert (rejected_lines(report) if rejected else []) == [line for n, line in numbered if n in rejected]
        accepted = [orjson.loads(line)["event_id"] for n, line in numbered if n not in rejected]
    assert (report.read, report.inserted, report.duplicates) == (len(numbered), len(accepted), 0)
    assert report.read == report.inserted + report.rejected
    assert len(set(accepted)) == len(accepted)
    with factory() as session:
        assert sorted(session.scalars(select(JourneyEvent.event_id))) == sorted(accepted)


def _physical(data: bytes) -> list[bytes]:
    """The lines of ``data`` as the ingest reads them; a byte-order mark opening the input is no part of the first."""
    return lines_of(data.removeprefix(b"\xef\xbb\xbf"))


def _reasons(report: Any) -> list[dict[str, Any]]:
    if report.reasons_path is None:
        return []
    return [orjson.loads(line) for line in report.reasons_path.read_bytes().splitlines()]


# --------------------------------------------------------------------------- customers (CSV)
HEADER = ["customer_id", "email", "first_purchase_at", "timezone", "marketing_opt_in", "locale", "lifetime_value"]
#: Rows that pass every check, so each example also stores some.
GOOD_ROW = st.tuples(
    st.sampled_from(["c1", "c2", "c3", " c4 "]),
    st.sampled_from(["ada@example.com", "Bob@Example.ORG"]),
    st.sampled_from(["2025-01-01", "2025-01-01T10:00:00+02:00", ""]),
    st.sampled_from(["UTC", "Europe/Berlin"]),
    st.sampled_from(["yes", "no", "TRUE"]),
    st.sampled_from(["en", "pt_BR", "en-GB-oxendict"]),
    st.sampled_from(["0", "12.5", ""]),
)
ROW = GOOD_ROW | st.tuples(
    st.sampled_from(["c1", "c2", "c3"]) | TEXT,
    st.sampled_from(["ada@example.com", "evil>,<victim@example.com", "a@b"]) | TEXT,
    TIMES | TEXT,
    st.sampled_from(["UTC", "Europe/Berlin", "Mars/Base", ""]),
    st.sampled_from(["yes", "no", "maybe", ""]),
    st.sampled_from(["en", "pt_BR", "en-GB-oxendict", "not a tag"]),
    st.sampled_from(["0", "12.5", "1e30", "-1", "NaN"]) | TEXT,
)


def _csv_line(row: tuple[str, ...], quoted: bool) -> bytes:
    """One row as a CSV writer quotes it, or fields joined by commas as they are (stray quotes and all)."""
    if quoted:
        text = io.StringIO(newline="")
        csv.writer(text, lineterminator="\n").writerow(row)
        return text.getvalue().encode("utf-8", "surrogatepass")
    return ",".join(row).replace("\n", " ").replace("\r", " ").encode("utf-8", "surrogatepass") + b"\n"


@FUZZ
@given(st.lists(st.tuples(ROW, st.booleans()), max_size=12))
def test_customer_rows_are_stored_or_rejected_as_they_were(
    factory: sessionmaker[Session], rows: list[tuple[tuple[str, ...], bool]]
) -> None:
    """Any CSV rows, stray quotes included: each line is a stored customer's or in the reject file, and
    the counts add up."""
    _empty(factory)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "customers.csv"
        header = ",".join(HEADER).encode() + b"\n"
        path.write_bytes(header + b"".join(_csv_line(row, quoted) for row, quoted in rows))

        report = ingest_customers_file(factory, path, now=NOW, batch_size=3)

        lines = [line for line in _physical(path.read_bytes())[1:] if line.strip()]
        kept = _physical(report.rejects_path.read_bytes())[1:] if report.rejects_path else []
        accepted = _without(lines, kept)
        ids = [next(csv.reader([line.decode()]))[0].strip() for line in accepted]
    assert report.read == report.inserted + report.updated + report.rejected
    assert (report.inserted, report.updated) == (len(set(ids)), len(ids) - len(set(ids)))
    with factory() as session:
        assert sorted(session.scalars(select(Customer.customer_id))) == sorted(set(ids))


def _without(lines: list[bytes], rejected: list[bytes]) -> list[bytes]:
    """``lines`` without ``rejected``, which must be among them in the same order (a subsequence)."""
    left, kept = list(rejected), []
    for line in lines:
        if left and line == left[0]:
            left.pop(0)
        else:
            kept.append(line)
    assert left == [], f"rejected lines not in the input, or out of order: {left[:3]}"
    return kept


# --------------------------------------------------------------------------- SendGrid events
SG_EVENT = st.fixed_dictionaries(
    {
        "sg_event_id": st.sampled_from(["s1", "s2", "s3"]) | TEXT,
        "event": st.sampled_from(["delivered", "open", "bounce", "unsubscribe", "new_thing", "x\x1b"]),
        "email": st.sampled_from(["ann@example.com", "evil>,<victim@example.com"]) | TEXT,
        "timestamp": st.sampled_from([1772618400, 1772618400.5, 253402300799, -1]) | JSON,
    },
    optional={"sequence_step": JSON | st.sampled_from(["0", "1", "²"]), "referral_request_id": JSON, "x": JSON},
)
GOOD_SG_EVENT = st.fixed_dictionaries(
    {
        "sg_event_id": st.sampled_from(["s1", "s2", "s3", "s4"]),
        "event": st.sampled_from(["delivered", "open", "bounce", "group_resubscribe", "new_thing"]),
        "email": st.sampled_from(["ann@example.com", "Bob@Example.ORG"]),
        "timestamp": st.sampled_from([1772618400, 1772618400.5]),
    },
    optional={"sequence_step": st.sampled_from([0, "1"]), "category": st.lists(TEXT, max_size=2)},
)
ELEMENT = st.one_of(
    GOOD_SG_EVENT.map(json.dumps),
    SG_EVENT.map(lambda event: json.dumps(event, allow_nan=True)),
    SG_EVENT.map(lambda event: json.dumps(event).replace('"event"', '"x": ' + _deep(2000) + ', "event"', 1)),
    JSON.map(lambda value: json.dumps(value, allow_nan=True)),
    st.sampled_from(['"\\ud800"', "NaN", "oops", '{"a": "\\u0000"}']),
)


@FUZZ
@given(st.lists(ELEMENT, max_size=10), st.booleans())
def test_sendgrid_batches_record_each_good_event_once(
    factory: sessionmaker[Session], elements: list[str], cut: bool
) -> None:
    """Any batch: each element is an event recorded once by sg_event_id or one problem, never an exception."""
    _empty(factory)
    body = ("[" + ",\n".join(elements) + "]").encode("utf-8", "surrogatepass")
    if cut:
        body = body[: len(body) * 2 // 3]

    parsed = parse_events(body, source="webhook")
    report = record_sendgrid_events(factory, parsed.events, now=NOW, public_base_url="https://r.example.com")

    indexes = [int(p.path.rsplit("[", 1)[1].rstrip("]")) for p in parsed.problems if p.path != "webhook"]
    assert len(parsed.events) + len(set(indexes)) <= len(elements) + cut  # a cut may break in a further one
    if not cut:
        assert sorted(indexes) == sorted(set(indexes))
        assert len(parsed.events) + len(indexes) == len(elements)
    ids = {event["sg_event_id"] for event in parsed.events}
    assert (report.recorded, report.duplicates) == (len(ids), len(parsed.events) - len(ids))
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Response)) == len(ids)
