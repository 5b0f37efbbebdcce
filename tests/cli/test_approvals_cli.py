"""``referral-automation approvals list|approve|reject``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from referral_automation.cli import app
from referral_automation.db.models import ApprovalDecision, ReferralRequest
from tests.support import ROOT
from tests.support.factories import NOW, add_customer, add_request

FRIDAY_EVENING = "2026-03-06T17:30:00Z"  # 18:30 in Berlin: the next opening is Monday 09:00 CET


def run(db_url: str, *args: str, config_dir: Path = ROOT / "config") -> Result:
    return CliRunner().invoke(
        app,
        ["approvals", *args, "--database-url", db_url, "--config-dir", str(config_dir)],
    )


def status_of(factory: sessionmaker[Session], request_id: str) -> str:
    with factory() as session:
        return session.scalars(select(ReferralRequest.status).where(ReferralRequest.id == request_id)).one()


def decisions_of(factory: sessionmaker[Session], request_id: str) -> list[tuple[str, str, str | None]]:
    with factory() as session:
        rows = session.scalars(select(ApprovalDecision).where(ApprovalDecision.referral_request_id == request_id))
        return [(row.decision, row.decided_by, row.note) for row in rows]


def test_list_shows_what_the_approver_needs(factory: sessionmaker[Session], db_url: str) -> None:
    """It lists pending requests with customer name, company, plan, lifetime value, reason, campaign, arm and dates."""
    request_id = add_request(factory, expires_in=timedelta(days=13))
    add_request(factory, status="scheduled")

    table = run(db_url, "list", "--now", NOW.isoformat())
    document = run(db_url, "list", "--json", "--now", NOW.isoformat())

    assert table.exit_code == 0, table.output
    assert max(map(len, table.stdout.splitlines())) <= 80
    assert [line.rstrip() for line in table.stdout.splitlines()[3:8]] == [
        f"{request_id[:8]}  Ada Lovelace, Analytical Engines (c1)",
        "          plan enterprise, lifetime value 75,000.00",
        "          why: plan 'enterprise' needs approval",
        "          customer_referral, arm gratitude / give50_get50",
        "          created 2026-03-03 10:00, expires 2026-03-17 10:00",
    ]
    assert json.loads(document.stdout) == [
        {
            "id": request_id,
            "customer_id": "c1",
            "customer_name": "Ada Lovelace",
            "company": "Analytical Engines",
            "plan": "enterprise",
            "lifetime_value": 75000.0,
            "reason": "plan 'enterprise' needs approval",
            "campaign": "customer_referral",
            "variant": "gratitude",
            "incentive": "give50_get50",
            "created_at": "2026-03-03T10:00:00+00:00",
            "expires_at": "2026-03-17T10:00:00+00:00",
            "overdue": False,
        }
    ]


def test_list_marks_overdue_requests(factory: sessionmaker[Session], db_url: str) -> None:
    """It marks a request whose approval window has closed as overdue."""
    add_request(factory, expires_in=timedelta(days=1))
    result = run(db_url, "list", "--now", (NOW + timedelta(days=2)).isoformat())
    assert "expires 2026-03-05 10:00 (overdue)" in result.stdout


def test_list_with_nothing_pending(factory: sessionmaker[Session], db_url: str) -> None:
    """It says so when nothing waits for approval."""
    assert run(db_url, "list").stdout.strip() == "no requests waiting for approval"
    assert json.loads(run(db_url, "list", "--json").stdout) == []


def test_approve_by_prefix_schedules_and_records(factory: sessionmaker[Session], db_url: str) -> None:
    """It approves by an 8-character prefix, says when the request will be sent, and records the decision."""
    request_id = add_request(factory)

    result = run(db_url, "approve", request_id[:8], "--by", "Maria", "--note", "key account", "--now", FRIDAY_EVENING)

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"approved {request_id} (customer c1) by Maria; scheduled for 2026-03-09 08:00 UTC"
    )
    assert status_of(factory, request_id) == "approved"
    assert decisions_of(factory, request_id) == [("approved", "Maria", "key account")]
    listed = CliRunner().invoke(app, ["requests", "list", "--json", "--database-url", db_url])
    assert json.loads(listed.stdout)[0]["decisions"][0]["decided_at"] == "2026-03-06T17:30:00+00:00"


def test_reject_records_the_decision(factory: sessionmaker[Session], db_url: str) -> None:
    """It rejects by full id and records who, when and why."""
    request_id = add_request(factory)
    result = run(db_url, "reject", request_id, "--by", "Joe", "--note", "in renewal talks", "--now", NOW.isoformat())
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"rejected {request_id} (customer c1) by Joe"
    assert status_of(factory, request_id) == "rejected"
    assert decisions_of(factory, request_id) == [("rejected", "Joe", "in renewal talks")]


def test_deciding_twice_fails_the_second_time(factory: sessionmaker[Session], db_url: str) -> None:
    """It refuses a second decision with exit 1 and says what the request already is."""
    request_id = add_request(factory)
    assert run(db_url, "approve", request_id, "--by", "Maria", "--now", NOW.isoformat()).exit_code == 0
    again = run(db_url, "reject", request_id, "--by", "Joe", "--now", NOW.isoformat())
    assert again.exit_code == 1
    assert again.stderr.strip() == f"error: request {request_id} is approved, not pending approval"
    assert decisions_of(factory, request_id) == [("approved", "Maria", None)]


def test_deciding_too_late_expires_the_request(factory: sessionmaker[Session], db_url: str) -> None:
    """It refuses a decision after the approval window with exit 1 and marks the request expired."""
    request_id = add_request(factory, expires_in=timedelta(days=1))
    result = run(db_url, "approve", request_id, "--by", "Maria", "--now", (NOW + timedelta(days=1)).isoformat())
    assert result.exit_code == 1
    assert "expired at 2026-03-05 10:00 UTC without a decision" in result.stderr
    assert status_of(factory, request_id) == "expired"
    assert decisions_of(factory, request_id) == [("expired", "system", "no decision by 2026-03-05 10:00 UTC")]


ID_CASES = [
    ("too-short", "aaaaaaa", "error: give at least 8 characters of the request id, not 'aaaaaaa'"),
    ("unknown", "ffffffff", "error: no referral request has an id starting with 'ffffffff'"),
    ("ambiguous", "aaaaaaaa", "error: 'aaaaaaaa' is ambiguous: it starts the ids "
     "aaaaaaaa-0000-5000-8000-000000000001, aaaaaaaa-0000-5000-8000-000000000002; give more characters"),
]  # fmt: skip


@pytest.mark.parametrize("command", ["approve", "reject"])
@pytest.mark.parametrize(("ref", "message"), [c[1:] for c in ID_CASES], ids=[c[0] for c in ID_CASES])
def test_a_bad_id_exits_1_with_a_clear_message(
    factory: sessionmaker[Session], db_url: str, command: str, ref: str, message: str
) -> None:
    """It refuses an id that is too short, unknown or ambiguous, with exit 1 and one line on stderr."""
    add_request(factory, request_id="aaaaaaaa-0000-5000-8000-000000000001")
    add_request(factory, request_id="aaaaaaaa-0000-5000-8000-000000000002")
    result = run(db_url, command, ref, "--by", "Maria")
    assert result.exit_code == 1
    assert result.stderr.strip() == message
    assert result.stdout == ""


USAGE_CASES = [
    ("no-by", ["approve", "aaaaaaaa"], "--by"),
    ("no-id", ["reject", "--by", "Maria"], "ID"),
    ("bad-now", ["approve", "aaaaaaaa", "--by", "Maria", "--now", "next tuesday"], "--now"),
]


@pytest.mark.parametrize(("args", "mentioned"), [c[1:] for c in USAGE_CASES], ids=[c[0] for c in USAGE_CASES])
def test_usage_errors_exit_2(factory: sessionmaker[Session], db_url: str, args: list[str], mentioned: str) -> None:
    """It treats a missing --by or id, or an unreadable --now, as a usage error (exit 2)."""
    result = run(db_url, *args)
    assert result.exit_code == 2
    assert mentioned in result.stderr


def test_approve_with_a_broken_config_reports_its_problems(
    factory: sessionmaker[Session], db_url: str, tmp_path: Path
) -> None:
    """It reports the config's problems as path:line: message and decides nothing."""
    request_id = add_request(factory)
    for name in ("events.yaml", "triggers.yaml", "campaigns.yaml"):
        (tmp_path / name).write_text((ROOT / "config" / name).read_text())
    (tmp_path / "campaigns.yaml").write_text(
        (tmp_path / "campaigns.yaml").read_text().replace('end: "17:00"', "end: 17:00")
    )
    result = run(db_url, "approve", request_id, "--by", "Maria", config_dir=tmp_path)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{tmp_path / 'campaigns.yaml'}:")
    assert "send_window.end: write the time in quotes" in result.stderr
    assert status_of(factory, request_id) == "pending_approval"


def test_an_unknown_time_zone_is_warned_about(factory: sessionmaker[Session], db_url: str) -> None:
    """It warns on stderr when the customer's time zone is unknown and the window is read in UTC."""
    add_customer(factory, "c9", timezone="Moon/Tranquility")
    request_id = add_request(factory, "c9")
    result = run(db_url, "approve", request_id, "--by", "Maria", "--now", FRIDAY_EVENING)
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == "warning: customer c9: unknown time zone 'Moon/Tranquility': using UTC"
    assert "scheduled for 2026-03-09 09:00 UTC" in result.stdout
