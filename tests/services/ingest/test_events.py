"""Ingesting journey events from JSONL: bad lines rejected with FILE:LINE, good lines kept, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from referral_automation.errors import InputError, Problem
from referral_automation.services.ingest import ingest_event_records
from referral_automation.services.ingest.readers import MAX_KEPT_PROBLEMS, MAX_LINE_BYTES
from tests.support.ingest import NOW, Workspace, event, reasons_of, rejected_lines


def _nps(score: Any) -> dict[str, Any]:
    return event("bad", type="nps_submitted", properties={"score": score})


def _nested(depth: int) -> str:
    """An event line whose ``properties.deep`` nests ``depth`` levels (as text: orjson writes no
    more than 254)."""
    line = orjson.dumps(event("bad", properties={"amount": 1, "deep": None})).decode()
    return line.replace("null", "[" * depth + "]" * depth)


BAD_LINES: list[tuple[str, str | dict[str, Any], str]] = [
    ("malformed JSON", '{"event_id": "bad",', "malformed JSON: "),
    ("not an object", "[1, 2]", "expected a JSON object, got an array"),
    ("a bare string", '"hello"', 'expected a JSON object, got a string ("hello")'),
    ("invalid UTF-8", b'{"event_id": "\xff"}'.decode("latin-1"), "malformed JSON: "),
    (
        "missing fields",
        {"event_id": "bad", "type": "purchase"},
        "missing fields 'customer_id', 'occurred_at'",
    ),
    (
        "unknown field",
        {**event("bad"), "source": "crm"},
        "unknown field 'source' (an event has customer_id, event_id, occurred_at, properties, type)",
    ),
    ("event_id a number", event(42), "event_id must be a non-empty string, got an integer (42)"),
    ("empty customer_id", event("bad", customer_id=""), 'customer_id must be a non-empty string, got a string ("")'),
    ("blank type", event("bad", type="  "), 'type must be a non-empty string, got a string ("  ")'),
    ("event_id too long", event("e" * 201), "event_id is longer than 200 characters"),
    ("properties an array", event("bad", properties=[1]), "properties must be an object, got an array"),
    ("properties null", event("bad", properties=None), "properties must be an object, got null"),
    ("time without zone", event("bad", occurred_at="2026-03-01T09:30:00"), "occurred_at has no time zone"),
    ("a date alone", event("bad", occurred_at="2026-03-01"), "occurred_at has no time zone"),
    (
        "time not ISO 8601",
        event("bad", occurred_at="yesterday"),
        "occurred_at is not an ISO 8601 date-time: 'yesterday'",
    ),
    (
        "time a number",
        event("bad", occurred_at=1772357400),
        "occurred_at must be an ISO 8601 string, got an integer (1772357400)",
    ),
    ("unknown customer", event("bad", customer_id="ghost"), "unknown customer 'ghost'"),
    (
        "required property missing",
        event("bad", type="nps_submitted", properties={"comment": "great"}),
        "nps_submitted: property 'score' is required",
    ),
    ("boolean for an integer", _nps(True), "nps_submitted: property 'score' must be an integer, got a boolean (true)"),
    ("fraction for an integer", _nps(9.5), "nps_submitted: property 'score' must be an integer, got a number (9.5)"),
    ("above the maximum", _nps(11), "nps_submitted: property 'score' must be at most 10, got 11"),
    (
        "below the minimum",
        event("bad", type="ticket_resolved", properties={"ticket_id": "T1", "csat": 0}),
        "ticket_resolved: property 'csat' must be at least 1, got 0",
    ),
    (
        "string for a number",
        event("bad", properties={"amount": "12"}),
        "purchase: property 'amount' must be a number, got a string (\"12\")",
    ),
    (
        "number for a string",
        event("bad", type="milestone_reached", properties={"name": 1000}),
        "milestone_reached: property 'name' must be a string, got an integer (1000)",
    ),
    (
        "NUL character",
        event("bad", properties={"amount": 1, "note": "a\u0000b"}),
        "properties.note contains a NUL character (\\u0000), which the database cannot store",
    ),
    ("properties nested too deep", _nested(40), "properties.deep" + "[0]" * 30 + " nests deeper than 32 levels"),
    ("nested past orjson's limit", _nested(2000), "nests deeper than 32 levels of objects and arrays"),
    ("a year past the range", event("bad", occurred_at="9999-12-31T23:59:59Z"), "occurred_at is out of range"),
    ("a year before the range", event("bad", occurred_at="1899-12-31T23:59:59+00:00"), "occurred_at is out of range"),
    (
        "ESC in a customer_id",
        event("bad", customer_id="c1\u001b]0;owned\u0007"),
        "customer_id contains a control character (U+001B)",
    ),
    (
        "a bidirectional override in an event_id",
        event("e\u202eevil"),
        "event_id contains a bidirectional control character (U+202E RIGHT-TO-LEFT OVERRIDE)",
    ),
    ("a C1 control in a type", event("bad", type="purchase\u0085"), "type contains a control character (U+0085)"),
    ("DEL in a type", event("bad", type="purch\u007fase"), "type contains a control character (U+007F)"),
]


@pytest.mark.parametrize(("line", "reason"), [case[1:] for case in BAD_LINES], ids=[case[0] for case in BAD_LINES])
def test_a_bad_line_is_rejected_and_the_good_lines_are_kept(
    ws: Workspace, line: str | dict[str, Any], reason: str
) -> None:
    """It reports FILE:LINE: reason, writes the line to the reject file, and stores the lines around it."""
    path = ws.write("events.jsonl", [event("e1"), line, event("e2")])
    if isinstance(line, str) and "\xff" in line:  # write the invalid UTF-8 byte itself
        path.write_bytes(path.read_bytes().replace("\xff".encode(), b"\xff"))

    report = ws.ingest(path)

    assert (report.read, report.inserted, report.rejected, report.ok) == (3, 2, 1, False)
    assert len(ws.problems) == 1
    assert str(ws.problems[0]).startswith(f"{path}:2: {reason}")
    assert rejected_lines(report) == [path.read_bytes().splitlines(keepends=True)[1]]
    [reject] = reasons_of(report)
    assert reject["line"] == 2
    assert reject["reason"].startswith(reason)
    assert ws.stored_ids() == ["e1", "e2"]


def test_rejects_come_in_line_order_and_blank_lines_count(ws: Workspace) -> None:
    """It numbers lines as an editor does (blank lines included) and reports rejects in that order."""
    path = ws.write(
        "events.jsonl",
        [event("e1", customer_id="ghost"), "", "   ", event("e2"), "{", event("e3", occurred_at="2026-03-01 10:00")],
    )

    report = ws.ingest(path)

    assert (report.read, report.inserted, report.rejected) == (4, 1, 3)
    assert [(p.line, p.message.split(":")[0]) for p in ws.problems] == [
        (1, "unknown customer 'ghost'"),
        (5, "malformed JSON"),
        (6, "occurred_at has no time zone"),
    ]
    assert [r["line"] for r in reasons_of(report)] == [1, 5, 6]


def test_unknown_event_types_are_stored_as_they_come(ws: Workspace) -> None:
    """It stores an event of a type events.yaml does not name, with whatever properties it has."""
    path = ws.write("events.jsonl", [event("e1", type="page_viewed", properties={"path": "/app", "ms": 12.5})])

    report = ws.ingest(path)

    assert (report.inserted, report.ok) == (1, True)
    [stored] = ws.stored()
    assert (stored.type, stored.properties) == ("page_viewed", {"path": "/app", "ms": 12.5})


def test_what_is_stored(ws: Workspace) -> None:
    """It stores times as aware UTC, properties as given (extras too) or {}, and ingested_at = now."""
    lines = [
        event("e1", occurred_at="2026-03-01T10:30:00.123456+05:30", properties={"amount": 12, "currency": "EUR"}),
        {key: value for key, value in event("e2", type="signed_up").items() if key != "properties"},
        event("e3", type="nps_submitted", occurred_at="2026-03-01T09:00:00-08:00", properties={"score": 10}),
    ]
    ws.ingest(ws.write("events.jsonl", lines))

    e1, e2, e3 = ws.stored()
    assert e1.occurred_at == datetime(2026, 3, 1, 5, 0, 0, 123456, tzinfo=UTC)
    assert e1.properties == {"amount": 12, "currency": "EUR"}
    assert (e2.type, e2.properties) == ("signed_up", {})
    assert e3.occurred_at == datetime(2026, 3, 1, 17, 0, tzinfo=UTC)
    assert {e.ingested_at for e in (e1, e2, e3)} == {NOW}
    assert e1.seq < e2.seq < e3.seq


def test_re_ingesting_a_file_inserts_nothing(ws: Workspace) -> None:
    """It skips events already stored, counts them as already known, and reports no problem."""
    path = ws.write("events.jsonl", [event(f"e{i}") for i in range(7)])
    first = ws.ingest(path, batch_size=3)

    second = ws.ingest(path, batch_size=3)

    assert (first.inserted, first.duplicates) == (7, 0)
    assert (second.read, second.inserted, second.duplicates, second.rejected, second.ok) == (7, 0, 7, 0, True)
    assert second.rejects_path is None
    assert not (path.parent / "events.jsonl.rejects.jsonl").exists()
    assert len(ws.stored()) == 7


def test_an_event_stored_before_is_already_known_not_bad(ws: Workspace) -> None:
    """It counts a line whose event_id an earlier ingest stored as already known, and keeps the new ones."""
    ws.ingest(ws.write("monday.jsonl", [event("e1"), event("e2")]))

    report = ws.ingest(ws.write("tuesday.jsonl", [event("e2"), event("e3")]))

    assert (report.inserted, report.duplicates, report.rejected, report.ok) == (1, 1, 0, True)
    assert ws.stored_ids() == ["e1", "e2", "e3"]


@pytest.mark.parametrize("batch_size", [5000, 2], ids=["same batch", "across batches"])
def test_a_repeated_event_id_in_one_file_rejects_the_later_line(ws: Workspace, batch_size: int) -> None:
    """It keeps the first line of an event_id and rejects later ones, naming the first line."""
    lines = [event("e1"), event("e2"), "", event("e3"), event("e1", customer_id="c2"), event("e4"), event("e2")]
    path = ws.write("events.jsonl", lines)

    report = ws.ingest(path, batch_size=batch_size)

    assert (report.inserted, report.duplicates, report.rejected) == (4, 0, 2)
    assert [str(p) for p in ws.problems] == [
        f"{path}:5: duplicate event_id 'e1' (first at line 1)",
        f"{path}:7: duplicate event_id 'e2' (first at line 2)",
    ]
    assert ws.stored_ids() == ["e1", "e2", "e3", "e4"]
    assert ws.stored()[0].customer_id == "c1"


def test_a_repeat_of_a_rejected_line_is_judged_on_its_own(ws: Workspace) -> None:
    """It stores a later line whose event_id only appeared earlier on a rejected line."""
    path = ws.write("events.jsonl", [event("e1", type="nps_submitted", properties={"score": 99}), event("e1")])

    report = ws.ingest(path, batch_size=1)

    assert (report.inserted, report.rejected) == (1, 1)
    assert ws.stored_ids() == ["e1"]


def test_an_overlong_line_is_rejected_without_being_parsed(ws: Workspace) -> None:
    """It rejects a line longer than the bound unparsed, writes all of it to the reject file, and goes on."""
    huge = '{"event_id": "big", "pad": "' + "x" * MAX_LINE_BYTES + '"}'
    path = ws.write("events.jsonl", [event("e1"), huge, event("e2")])

    report = ws.ingest(path)

    assert (report.inserted, report.rejected) == (2, 1)
    assert str(ws.problems[0]) == f"{path}:2: line is longer than {MAX_LINE_BYTES} bytes"
    assert rejected_lines(report) == [huge.encode() + b"\n"]
    assert ws.stored_ids() == ["e1", "e2"]


def test_the_reject_file_can_be_chosen(ws: Workspace, tmp_path: Path) -> None:
    """It writes rejects where it is told to, and their reasons beside them."""
    path = ws.write("events.jsonl", ["nope"])
    target = tmp_path / "elsewhere" / "bad.jsonl"
    target.parent.mkdir()

    report = ws.ingest(path, rejects_path=target)

    assert (report.rejects_path, report.reasons_path) == (target, tmp_path / "elsewhere" / "bad.reasons.jsonl")
    assert target.read_bytes() == b"nope\n"
    assert reasons_of(report)[0].keys() == {"line", "reason"}
    assert not (tmp_path / "events.jsonl.rejects.jsonl").exists()


def test_a_reject_file_can_be_fixed_and_ingested_again(ws: Workspace) -> None:
    """It writes rejected lines byte for byte (CR LF, invalid UTF-8 and all), so fixing them is all a re-run needs."""
    good = orjson.dumps(event("e1"))
    no_zone = orjson.dumps(event("e2", occurred_at="2026-03-01T09:30:00"))
    bad_bytes = b'{"event_id": "e3", "note": "caf\xe9"}'
    path = ws.folder / "events.jsonl"
    path.write_bytes(good + b"\r\n" + no_zone + b"\r\n\r\n" + bad_bytes)

    report = ws.ingest(path)

    assert rejected_lines(report) == [no_zone + b"\r\n", bad_bytes + b"\n"]
    assert [(r["line"], r["reason"].split(":")[0]) for r in reasons_of(report)] == [
        (2, "occurred_at has no time zone"),
        (4, "malformed JSON"),
    ]
    assert report.reasons_path == ws.folder / "events.jsonl.rejects.reasons.jsonl"
    fixed = ws.folder / "fixed.jsonl"
    fixed.write_bytes(rejected_lines(report)[0].replace(b'09:30:00"', b'09:30:00Z"'))
    assert ws.ingest(fixed).inserted == 1
    assert ws.stored_ids() == ["e1", "e2"]


def test_the_reject_file_cannot_be_the_input(ws: Workspace) -> None:
    """It refuses, before reading anything, to write its reasons over the input."""
    path = ws.write("events.reasons.jsonl", [event("e1")])

    with pytest.raises(InputError, match="the reject file cannot be the input file"):
        ws.ingest(path, rejects_path=ws.folder / "events.jsonl")

    assert ws.stored_ids() == []


def test_a_missing_file_is_an_input_error(ws: Workspace, tmp_path: Path) -> None:
    """It raises InputError naming the file when it cannot be opened."""
    with pytest.raises(InputError) as caught:
        ws.ingest(tmp_path / "missing.jsonl")

    assert str(caught.value) == f"{tmp_path / 'missing.jsonl'}: cannot open: No such file or directory"


def test_the_report_keeps_only_the_first_problems(ws: Workspace) -> None:
    """It keeps the first problems in the report but writes and reports every one."""
    path = ws.write("events.jsonl", [event(f"e{i}", customer_id="ghost") for i in range(MAX_KEPT_PROBLEMS + 30)])

    report = ws.ingest(path, batch_size=50)

    assert report.rejected == report.problem_count == MAX_KEPT_PROBLEMS + 30
    assert len(report.problems) == MAX_KEPT_PROBLEMS
    assert len(ws.problems) == len(rejected_lines(report)) == len(reasons_of(report)) == MAX_KEPT_PROBLEMS + 30


def test_progress_is_reported_in_bytes(ws: Workspace) -> None:
    """It reports the bytes read after each batch, ending with the size of the file."""
    path = ws.write("events.jsonl", [event(f"e{i}") for i in range(5)])
    seen: list[int] = []

    ws.ingest(path, batch_size=2, on_progress=seen.append)

    assert seen == sorted(seen)
    assert seen[-1] == path.stat().st_size
    assert len(seen) >= 3


def test_records_from_other_sources_get_the_same_checks(ws: Workspace) -> None:
    """It ingests mappings and (source, line, record) tuples, naming their source in problems."""
    records: list[Any] = [
        event("a1"),
        event("a2", occurred_at="2026-03-01T10:00:00"),
        ("crm-export", 7, orjson.dumps(event("a3")).decode()),
        ("crm-export", 8, "{broken"),
        ("crm-export", 9, event("a1")),
        event("a4", properties={"amount": float("inf")}),
    ]
    problems: list[Problem] = []

    report = ingest_event_records(ws.factory, ws.config, records, now=NOW, source="api", on_problem=problems.append)

    assert (report.read, report.inserted, report.rejected) == (6, 2, 4)
    assert [str(p).split(": ")[0:2] for p in problems] == [
        ["api:2", "occurred_at has no time zone"],
        ["crm-export:8", "malformed JSON"],
        ["crm-export:9", "duplicate event_id 'a1' (first at line 1)"],
        ["api:6", "properties.amount holds a number that is not finite (inf)"],
    ]  # in the order the records came
    assert ws.stored_ids() == ["a1", "a3"]


def test_records_repeated_across_batches_are_rejected(ws: Workspace) -> None:
    """It rejects a record whose event_id an earlier batch of the same call stored."""
    problems: list[Problem] = []

    report = ingest_event_records(
        ws.factory,
        ws.config,
        [event("a1"), event("a2"), event("a1")],
        now=NOW,
        batch_size=1,
        on_problem=problems.append,
    )

    assert (report.inserted, report.duplicates, report.rejected) == (2, 0, 1)
    assert [str(p) for p in problems] == ["api:3: duplicate event_id 'a1' (first earlier in this input)"]
