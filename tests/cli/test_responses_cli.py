"""``responses record …``: replies, referrals, conversions and suppressions from the back office."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from referral_automation.cli import app
from referral_automation.db.models import Referral, Response, RewardEntry, Suppression
from tests.support import ROOT
from tests.support.send import request_row
from tests.support.web import sent_request

NOW = "2026-03-04T10:00:00Z"


def run(db_url: str, *args: str) -> Result:
    command = [
        "responses",
        "record",
        *args,
        "--now",
        NOW,
        "--database-url",
        db_url,
        "--config-dir",
        str(ROOT / "config"),
    ]
    return CliRunner().invoke(app, command, env={"REFERRAL_SECRET_KEY": "k" * 40})


def count(factory: sessionmaker[Session], model: type) -> int:
    with factory() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_a_referral_and_its_conversion(db_url: str, factory: sessionmaker[Session]) -> None:
    """It records a sign-up and its conversion through the API's services, with --json documents."""
    _, code = sent_request(factory, "ann")
    signed = run(db_url, "referral", "--code", code, "--email", "bob@corp.example", "--name", "Bob", "--json")
    assert signed.exit_code == 0, signed.output
    assert json.loads(signed.stdout)["recorded"][0]["status"] == "accepted"
    converted = run(db_url, "conversion", "--referee-email", "bob@corp.example", "--value", "80", "--json")
    assert converted.exit_code == 0, converted.output
    assert json.loads(converted.stdout)["recorded"][0]["created"] is True
    assert count(factory, RewardEntry) == 2


def test_a_file_of_signups_reports_bad_lines_and_keeps_the_rest(
    db_url: str, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """It records the good lines of a file, reports each bad one as FILE:LINE: reason, and exits 1."""
    _, code = sent_request(factory, "ann")
    path = tmp_path / "signups.jsonl"
    lines = [
        {"code": code, "email": "bob@corp.example"},
        {"code": code, "email": "not an address"},
        {"code": code, "email": "ann@example.com"},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n{broken\n" + "[" * 100_000 + "\n")
    result = run(db_url, "referral", "--file", str(path))
    assert result.exit_code == 1
    assert f"{path}:2: email:" in result.stderr
    assert f"{path}:3: self-referral" in result.stderr
    assert f"{path}:4: not JSON" in result.stderr
    assert f"{path}:5: not JSON" in result.stderr  # nested past Python's recursion limit: one bad line
    assert count(factory, Referral) == 1
    again = run(db_url, "referral", "--file", str(path))
    assert f"{path}:1: bob@corp.example was already referred" in again.stderr


def test_a_reply_stops_follow_ups(db_url: str, factory: sessionmaker[Session]) -> None:
    """It records an OK reply on the request named, and its follow-ups stop."""
    request_id, _ = sent_request(factory, "ann")
    result = run(db_url, "reply", "--request", request_id, "--text", "OK, happy to")
    assert result.exit_code == 0, result.output
    assert f"replied_ok recorded on {request_id}" in result.stdout
    assert request_row(factory, request_id).next_followup_at is None


def test_a_reply_needs_a_request_or_a_sender(db_url: str) -> None:
    """It is a usage error (exit 2) to give neither --request nor --from."""
    assert run(db_url, "reply", "--text", "OK").exit_code == 2


def test_a_suppression(db_url: str, factory: sessionmaker[Session]) -> None:
    """It suppresses an address by hand, refusing one that is not exactly one address."""
    assert run(db_url, "suppression", "--email", "Bob@Corp.example", "--reason", "bounced").exit_code == 0
    bad = run(db_url, "suppression", "--email", "a@b.example, c@d.example")
    assert bad.exit_code == 1
    assert "options: email or reason" in bad.stderr
    with factory() as session:
        assert list(session.execute(select(Suppression.email))) == [("bob@corp.example",)]
    assert count(factory, Response) == 1
