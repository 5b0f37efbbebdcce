"""``referral-automation customers show ID [--why]``."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from referral_automation.cli import app
from referral_automation.services.detection.detect import detect_moments
from tests.support import ROOT
from tests.support.detect_factories import NOW, SHIPPED_CONFIG, add_customer, add_event, add_request

DAY = timedelta(days=1)


def show(db_url: str, *args: str) -> Result:
    options = ["--database-url", db_url, "--config-dir", str(ROOT / "config"), "--now", NOW.isoformat()]
    return CliRunner().invoke(app, ["customers", "show", *args, *options])


def test_why_says_which_guard_stops_a_customer_and_until_when(db_url: str) -> None:
    """It shows the profile, each moment and what became of it, and why a moment now would be blocked,
    on an 80-column terminal."""
    factory = _empty(db_url)
    add_customer(factory, "ada")
    add_request(factory, "ada", created_at=NOW - 20 * DAY)
    add_event(factory, "ada", "nps_submitted", at=NOW - DAY, score=10)
    detect_moments(factory, SHIPPED_CONFIG, now=NOW, batch_size=100)

    result = show(db_url, "ada", "--why")

    assert result.exit_code == 0, result.output
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert max(map(len, lines)) <= 80
    assert lines[0] == "Customer ada"
    assert "opted in        yes" in lines
    # The columns' widths follow the other moment's text (an id from a shared counter): look at words.
    (at,) = [i for i, line in enumerate(lines) if line.startswith("2026-03-03 10:00  nps_promoter: nps_submitted")]
    end = next(i for i in range(at + 1, len(lines)) if not lines[i].startswith(" "))
    row = lines[at:end]
    assert row[0].split()[-4:] == ["blocked", "by", "cooldown:", "a"]
    assert row[1].split()[:2] == ["(score", "10)"]
    assert "(cool-down 90 days)" in " ".join(" ".join(row).split())
    assert "Last asked on 2026-02-12 10:00 UTC: request r-earlie, sent." in lines
    assert lines[lines.index("Last asked on 2026-02-12 10:00 UTC: request r-earlie, sent.") + 1 :][:2] == [
        "A moment of truth now would be blocked by cooldown (rules nps_promoter,",
        "delighted_support, milestone):",
    ]
    assert any(line.startswith("  cooldown   blocks  a referral request was made on 2026-02-12") for line in lines)
    assert "until 2026-05-13 10:00 UTC" in result.stdout.replace("\n", " ")


def test_without_why_no_config_is_needed(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """It shows the story from the database alone, even with no config folder, and as JSON."""
    factory = _empty(db_url)
    add_customer(factory, "ada", opt_in=False)
    options = ["--database-url", db_url, "--config-dir", str(tmp_path / "none")]

    table = CliRunner().invoke(app, ["customers", "show", "ada", *options])
    document = CliRunner().invoke(app, ["customers", "show", "ada", "--json", *options])

    assert table.exit_code == 0, table.output
    assert "opted in        no: marketing email is not allowed" in table.stdout
    assert "No moments of truth: no event of this customer matched a rule." in table.stdout
    assert json.loads(document.stdout)["customer"]["marketing_opt_in"] is False
    assert json.loads(document.stdout)["verdicts"] == []


def _empty(db_url: str) -> sessionmaker[Session]:
    from referral_automation.db.session import session_factory

    return session_factory(db_url)
