"""``referral-automation ingest sendgrid-events FILE``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner, Result

from referral_automation.cli import app
from referral_automation.db.models import Response, Suppression
from referral_automation.db.session import session_factory


def event(n: int, name: str = "delivered", **fields: Any) -> dict[str, Any]:
    return {"sg_event_id": f"sg-{n}", "event": name, "email": f"c{n}@example.com", "timestamp": 1772618400, **fields}


def run(db_url: str, *args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(app, ["ingest", "sendgrid-events", *args, "--database-url", db_url], input=stdin)


def test_good_events_are_recorded_and_bad_ones_reported(db_url: str, tmp_path: Path) -> None:
    """It records the good events, reports each bad one as FILE:[index]: reason and exits 1."""
    path = tmp_path / "events.json"
    path.write_text(json.dumps([event(1), {"event": "open"}, event(2, "bounce"), event(3, "unknown_thing")]))
    result = run(db_url, str(path), "--json")
    assert result.exit_code == 1
    assert f"{path}:[1]: missing sg_event_id, email, timestamp" in result.stderr
    assert json.loads(result.stdout)["recorded"] == 3
    with session_factory(db_url)() as session:
        assert sorted(session.scalars(select(Response.kind))) == ["bounced", "delivered", "provider_event"]
        assert list(session.scalars(select(Suppression.email))) == ["c2@example.com"]


def test_replaying_a_file_records_nothing_new(db_url: str, tmp_path: Path) -> None:
    """It exits 0 and records each sg_event_id once when the same file is ingested twice."""
    path = tmp_path / "events.json"
    path.write_text(json.dumps([event(1), event(2, "open")]))
    assert run(db_url, str(path)).exit_code == 0
    again = run(db_url, str(path), "--json")
    assert again.exit_code == 0, again.output
    assert (json.loads(again.stdout)["recorded"], json.loads(again.stdout)["duplicates"]) == (0, 2)


def test_a_file_that_is_not_an_array_is_one_line(db_url: str, tmp_path: Path) -> None:
    """It prints FILE: message for a file that is not a JSON array and exits 1."""
    path = tmp_path / "events.json"
    path.write_text('{"event": "open"}')
    result = run(db_url, str(path))
    assert result.exit_code == 1
    assert result.stderr.strip() == f"{path}: not a JSON array of events: expected a JSON array, got an object"


def test_a_missing_file_is_one_line(db_url: str, tmp_path: Path) -> None:
    """It names a file that cannot be read and exits 1."""
    result = run(db_url, str(tmp_path / "nowhere.json"))
    assert result.exit_code == 1
    assert result.stderr == f"{tmp_path / 'nowhere.json'}: cannot open: No such file or directory\n"


def test_poison_events_cost_only_themselves(db_url: str, tmp_path: Path) -> None:
    """It records the good events of a batch around a NUL, a lone surrogate, NaN, a deep array, long ids (issue 13)."""
    poison = [
        '{"sg_event_id": "p1", "event": "open", "email": "a@example.com", "timestamp": 1772618400, "x": "\\u0000"}',
        '{"sg_event_id": "p2", "event": "open", "email": "a@example.com", "timestamp": 1772618400, "x": "\\udfff"}',
        '{"sg_event_id": "p3", "event": "open", "email": "a@example.com", "timestamp": 1772618400, "x": NaN}',
        "[" * 100_000 + "]" * 100_000,
        json.dumps(event(4) | {"sg_event_id": "s" * 201}),
        json.dumps(event(5) | {"email": "e" * 300 + "@example.com"}),
    ]
    good = [json.dumps(event(n)) for n in range(10, 13)]
    path = tmp_path / "events.json"
    path.write_text("[" + ",".join([good[0], *poison, *good[1:]]) + "]")

    result = run(db_url, str(path), "--json")

    assert result.exit_code == 1
    assert [line.split(": ")[0] for line in result.stderr.splitlines()] == [f"{path}:[{i}]" for i in range(1, 7)]
    assert json.loads(result.stdout)["recorded"] == 3
    with session_factory(db_url)() as session:
        assert sorted(session.scalars(select(Response.external_id))) == ["sg-10", "sg-11", "sg-12"]


def test_events_are_read_from_standard_input(db_url: str) -> None:
    """It reads the batch from - ."""
    result = run(db_url, "-", "--json", stdin=json.dumps([event(1)]).encode())

    assert (result.exit_code, json.loads(result.stdout)["recorded"]) == (0, 1)
