"""``referral-automation requests list``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from referral_automation.cli import app
from referral_automation.services.inspection.requests import REQUEST_STATUSES
from tests.support.factories import NOW, add_decision, add_request

PROMISED = {"id", "customer_id", "campaign", "status", "variant", "incentive", "code", "scheduled_for", "sent_at",
            "followups_sent", "approval_required", "approval_reason", "decisions"}  # fmt: skip


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["requests", *args, "--database-url", db_url])


def test_json_lists_every_request_newest_first_with_its_decisions(factory: sessionmaker[Session], db_url: str) -> None:
    """It prints one JSON array, newest first, each request with the promised fields and every decision."""
    older = add_request(factory, "c1", status="approved", created_at=NOW - timedelta(days=2))
    newer = add_request(factory, "c2", status="scheduled", created_at=NOW - timedelta(hours=2))
    add_decision(factory, older, "approved", by="Maria", at=NOW - timedelta(days=1), note="go")

    result = run(db_url, "list", "--json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [item["id"] for item in document] == [newer, older]
    assert all(set(item) >= PROMISED for item in document)
    assert document[1]["decisions"] == [
        {"decision": "approved", "decided_by": "Maria", "decided_at": "2026-03-03T10:00:00+00:00", "note": "go"}
    ]
    assert document[0]["decisions"] == []
    assert result.stderr == ""


FILTER_CASES = [
    ("status", ["--status", "sent"], ["sent-c1"]),
    ("customer", ["--customer", "c2"], ["pending-c2"]),
    ("both", ["--status", "sent", "--customer", "c2"], []),
    ("limit", ["--limit", "1"], ["sent-c1"]),
]


@pytest.mark.parametrize(("args", "expected"), [c[1:] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES])
def test_filters(factory: sessionmaker[Session], db_url: str, args: list[str], expected: list[str]) -> None:
    """It filters by status and customer and limits to the newest few."""
    made = {
        "pending-c2": add_request(factory, "c2", created_at=NOW - timedelta(days=2)),
        "sent-c1": add_request(factory, "c1", status="sent", created_at=NOW - timedelta(days=1)),
    }
    names = {value: key for key, value in made.items()}
    result = run(db_url, "list", "--json", *args)
    assert result.exit_code == 0, result.output
    assert [names[item["id"]] for item in json.loads(result.stdout)] == expected


def test_an_unknown_status_is_a_usage_error(factory: sessionmaker[Session], db_url: str) -> None:
    """It refuses a status that does not exist with exit 2, listing the ones that do."""
    result = run(db_url, "list", "--status", "done")
    assert result.exit_code == 2
    assert "done" in result.stderr
    assert all(status in result.stderr for status in REQUEST_STATUSES)


def test_the_table_shows_the_last_decision_at_80_columns(factory: sessionmaker[Session], db_url: str) -> None:
    """It prints a table no wider than 80 columns whose status column says who decided what, when and why."""
    decided = add_request(factory, "c1", status="approved")
    add_decision(factory, decided, "approved", by="Maria", at=NOW - timedelta(hours=1), note="key account")
    waiting = add_request(factory, "c2", created_at=NOW)

    result = run(db_url, "list")

    assert result.exit_code == 0, result.output
    rows = [line.rstrip() for line in result.stdout.splitlines()]
    assert max(map(len, rows)) <= 80
    assert rows[1].split() == ["id", "customer", "status", "/", "decision", "sent", "/", "due", "f-u"]
    assert rows[3:9] == [
        f"{waiting[:8]}  c2        pending_approval                                          0",
        "                    waiting for approval: plan",
        "                    'enterprise' needs approval",
        f"{decided[:8]}  c1        approved                              2026-03-03 10:00    0",
        "                    approved by Maria at 2026-03-04",
        "                    09:00 UTC: key account",
    ]


def test_no_requests(factory: sessionmaker[Session], db_url: str) -> None:
    """It says so when there is nothing to list, and prints an empty JSON array with --json."""
    assert run(db_url, "list").stdout.strip() == "no referral requests"
    assert json.loads(run(db_url, "list", "--json").stdout) == []


def test_a_database_without_schema_is_a_clear_error(tmp_path: Path) -> None:
    """It explains a database without tables in one line and exits 1, without a traceback."""
    path = tmp_path / "empty.db"
    path.touch()
    result = run(f"sqlite:///{path}", "list")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: the database has no referral-automation schema yet (sqlite:///{path}): "
        "run `referral-automation init` to create it\n"
    )


def test_show_tells_the_whole_story_at_80_columns(factory: sessionmaker[Session], db_url: str) -> None:
    """It shows a request by its id prefix: customer, moment, arm, approval, messages, follow-ups and audit,
    in lines no wider than 80 columns."""
    request_id = add_request(factory, "c1", status="approved")
    add_decision(factory, request_id, "approved", by="Maria", at=NOW - timedelta(hours=1), note="key account")

    result = run(db_url, "show", request_id[:8])

    assert result.exit_code == 0, result.output
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert max(map(len, lines)) <= 80
    assert lines[0] == f"Referral request {request_id}"
    for expected in ("status      approved", "customer    c1 (Ada Lovelace, Analytical Engines) <c1@example.com>",
                     "campaign    customer_referral, arm gratitude / give50_get50",
                     "approval    needed: plan 'enterprise' needs approval",
                     "            approved by Maria at 2026-03-04 09:00 UTC: key account",
                     "follow-ups  0 sent; none to come", "No messages yet.", "No responses yet."):  # fmt: skip
        assert expected in lines


def test_show_as_json(factory: sessionmaker[Session], db_url: str) -> None:
    """It prints the whole story as one JSON object with the list's fields and the story's."""
    request_id = add_request(factory, "c1", status="scheduled")
    document = json.loads(run(db_url, "show", request_id, "--json").stdout)
    assert set(document) >= PROMISED | {"customer", "moment", "messages", "responses", "audit", "next_followup_at"}
    assert document["customer"]["email"] == "c1@example.com"


def test_the_list_stops_at_its_limit_and_says_so(factory: sessionmaker[Session], db_url: str) -> None:
    """It shows the newest 50 by default, says on stderr that there are more, and shows all with --limit 0."""
    for hours in range(51):
        add_request(factory, "c1", status="sent", created_at=NOW - timedelta(hours=hours))
    default, everything = run(db_url, "list", "--json"), run(db_url, "list", "--json", "--limit", "0")
    assert len(json.loads(default.stdout)) == 50
    assert default.stderr == "note: the newest 50 requests are shown; --limit N shows more, --limit 0 all\n"
    assert len(json.loads(everything.stdout)) == 51
    assert everything.stderr == ""
