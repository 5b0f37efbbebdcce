"""``referrals held|accept|reject`` and ``rewards list|issue|cancel``."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from referral_automation.cli import app
from referral_automation.services.referrals.conversions import record_conversion
from referral_automation.services.referrals.inputs import ConversionIn, SignupIn
from referral_automation.services.referrals.signups import record_signup
from tests.support import ROOT
from tests.support.send import NOW, shipped_config
from tests.support.web import sent_request


def convert(factory: sessionmaker[Session], referee: str) -> None:
    conversion = ConversionIn.model_validate({"referee_email": referee, "value": 5})
    record_conversion(factory, conversion, config=shipped_config(), now=NOW)


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--database-url", db_url, "--config-dir", str(ROOT / "config")])


def test_a_held_referral_is_reviewed_and_its_rewards_issued(db_url: str, factory: sessionmaker[Session]) -> None:
    """It lists the held referral, accepts it (crediting its conversion), and issues the rewards after the window."""
    _, code = sent_request(factory, "ann")
    referral = record_signup(factory, SignupIn(code=code, email="x@mailinator.com"), now=NOW, source="test")
    record_conversion(
        factory,
        ConversionIn.model_validate({"referee_email": "x@mailinator.com", "value": 5}),
        config=shipped_config(),
        now=NOW,
    )
    assert referral.referral_id[:8] in run(db_url, "referrals", "held").stdout
    held = run(db_url, "referrals", "held", "--json")
    assert [item["referral_id"] for item in json.loads(held.stdout)] == [referral.referral_id]
    accepted = run(
        db_url, "referrals", "accept", referral.referral_id[:8], "--by", "dana", "--now", "2026-03-04T11:00:00"
    )
    assert accepted.exit_code == 0, accepted.output
    assert "accepted by dana" in accepted.stdout
    assert json.loads(run(db_url, "rewards", "issue", "--now", "2026-03-10T00:00:00", "--json").stdout) == {"issued": 0}
    assert json.loads(run(db_url, "rewards", "issue", "--now", "2026-04-10T00:00:00", "--json").stdout) == {"issued": 2}
    assert "issued" in run(db_url, "rewards", "list").stdout
    lines = json.loads(run(db_url, "rewards", "list", "--status", "issued", "--json").stdout)
    assert sorted(line["side"] for line in lines) == ["referee", "referrer"]


def test_deciding_twice_is_one_line_and_exit_1(db_url: str, factory: sessionmaker[Session]) -> None:
    """It refuses, in one line, to decide a referral that is not held."""
    _, code = sent_request(factory, "ann")
    referral = record_signup(factory, SignupIn(code=code, email="bob@corp.example"), now=NOW, source="test")
    result = run(db_url, "referrals", "reject", referral.referral_id, "--by", "dana")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: referral {referral.referral_id} is accepted, not held for review"


def test_a_refund_cancels_pending_rewards(db_url: str, factory: sessionmaker[Session]) -> None:
    """It cancels the pending rewards of a refunded referral."""
    _, code = sent_request(factory, "ann")
    record_signup(factory, SignupIn(code=code, email="bob@corp.example"), now=NOW, source="test")
    record_conversion(
        factory,
        ConversionIn.model_validate({"referee_email": "bob@corp.example", "value": 5}),
        config=shipped_config(),
        now=NOW,
    )
    result = run(db_url, "rewards", "cancel", "--referee-email", "bob@corp.example", "--by", "ops")
    assert "2 pending rewards cancelled" in result.stdout
