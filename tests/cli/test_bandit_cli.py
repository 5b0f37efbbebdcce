"""``referral-automation bandit show CAMPAIGN``: the campaign's test per arm."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from referral_automation.cli import app
from referral_automation.domain.bandit import ArmKey
from referral_automation.domain.responses import ResponseKind
from tests.support import ROOT
from tests.support.bandit import add_outcomes, add_sends
from tests.support.factories import NOW

DAY = timedelta(days=1)


def run(db_url: str, *args: str) -> Result:
    options = ["--database-url", db_url, "--config-dir", str(ROOT / "config"), "--now", NOW.isoformat()]
    return CliRunner().invoke(app, ["bandit", "show", *args, *options])


def test_json_shows_every_arm_with_its_sends_and_outcomes(factory: sessionmaker[Session], db_url: str) -> None:
    """It prints one JSON document: the model, and per configured arm its sends, outcomes, posterior and share."""
    sent = add_sends(factory, [NOW - 10 * DAY] * 4, arm=ArmKey("direct_ask", "donation"), customer_id="c1")
    add_outcomes(factory, [(sent[0], ResponseKind.CONVERSION, NOW - 8 * DAY, {"value": 400})], now=NOW)

    result = run(db_url, "customer_referral", "--json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["campaign"], document["policy"], document["objective"]) == (
        "customer_referral",
        "thompson",
        "profit",
    )
    arms = {(arm["variant"], arm["incentive"]): arm for arm in document["arms"]}
    assert len(arms) == 6
    assert (arms[("direct_ask", "donation")]["sends"], arms[("direct_ask", "donation")]["outcomes"]) == (4, 1)
    assert sum(arm["propensity"] for arm in arms.values()) == pytest.approx(1.0)
    assert all(arm["low"] <= arm["mean"] <= arm["high"] for arm in arms.values())
    assert result.stderr == ""


def test_the_table_names_each_arm_and_the_checks(factory: sessionmaker[Session], db_url: str) -> None:
    """It prints a row per arm, then the model, the holdout's comparison and the allocation check."""
    result = run(db_url, "customer_referral")

    assert result.exit_code == 0, result.output
    assert "direct_ask" in result.stdout
    assert "× donation" in result.stdout
    table = result.stdout.split("policy thompson")[0]
    assert max(len(line) for line in table.splitlines()) <= 80
    assert "policy thompson, objective profit" in result.stdout
    assert "sample ratio:" in result.stdout


def test_an_unknown_campaign_is_a_user_error(factory: sessionmaker[Session], db_url: str) -> None:
    """It names the campaigns it knows and exits 1."""
    result = run(db_url, "partners")

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: unknown campaign 'partners' (the configuration has: customer_referral)"


def test_a_database_without_the_schema_says_to_init(tmp_path: Path) -> None:
    """It explains a database without tables in one line and exits 1."""
    result = run(f"sqlite:///{tmp_path}/empty.db", "customer_referral")

    assert result.exit_code == 1
    assert "run `referral-automation init`" in result.stderr
