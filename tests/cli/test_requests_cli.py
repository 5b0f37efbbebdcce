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


def test_the_table_shows_the_last_decision(factory: sessionmaker[Session], db_url: str) -> None:
    """It prints a table whose decision column says who decided what, when and why."""
    decided = add_request(factory, "c1", status="approved")
    add_decision(factory, decided, "approved", by="Maria", at=NOW - timedelta(hours=1), note="key account")
    waiting = add_request(factory, "c2", created_at=NOW)

    result = run(db_url, "list")

    assert result.exit_code == 0, result.output
    assert "approved by Maria at 2026-03-04 09:00 UTC: key account" in result.stdout
    assert "waiting for approval: plan 'enterprise' needs approval" in result.stdout
    assert decided[:8] in result.stdout
    assert waiting[:8] in result.stdout
    assert result.stdout.index(waiting[:8]) < result.stdout.index(decided[:8])


def test_no_requests(factory: sessionmaker[Session], db_url: str) -> None:
    """It says so when there is nothing to list, and prints an empty JSON array with --json."""
    assert run(db_url, "list").stdout.strip() == "no referral requests"
    assert json.loads(run(db_url, "list", "--json").stdout) == []


def test_a_database_without_schema_is_a_clear_error(tmp_path: Path) -> None:
    """It explains a database without tables in one line and exits 1, without a traceback."""
    result = run(f"sqlite:///{tmp_path / 'empty.db'}", "list")
    assert result.exit_code == 1
    assert "error: cannot use the database" in result.stderr
    assert "referral-automation init" in result.stderr
    assert "Traceback" not in result.output
