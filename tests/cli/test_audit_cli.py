"""``referral-automation audit list``."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner, Result

from referral_automation.cli import app
from referral_automation.cli.audit import parse_since
from tests.support.factories import NOW


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--database-url", db_url, "--now", NOW.isoformat()])


def test_the_log_shows_what_people_did(db_url: str) -> None:
    """It lists what was done by hand, newest first, and filters by --since and --actor."""
    run(db_url, "suppressions", "add", "ada@example.com", "--by", "Maria", "--note", "phone call")
    later = ["--now", "2026-03-10T10:00:00Z"]
    CliRunner().invoke(
        app, ["suppressions", "remove", "ada@example.com", "--by", "Joe", "--database-url", db_url, *later]
    )

    table = CliRunner().invoke(app, ["audit", "list", "--database-url", db_url])
    recent = CliRunner().invoke(app, ["audit", "list", "--since", "2d", "--json", "--database-url", db_url, *later])
    by_maria = run(db_url, "audit", "list", "--actor", "Maria", "--json")

    assert table.exit_code == 0, table.output
    lines = [line.rstrip() for line in table.stdout.splitlines()]
    assert max(map(len, lines)) <= 80
    assert lines[3:7] == [
        "2026-03-10 10:00  Joe: suppression_removed (email ada@example.com)",
        "                  reason: manual; source: operator",
        "2026-03-04 10:00  Maria: suppression_added (email ada@example.com)",
        "                  note: phone call",
    ]
    assert [entry["action"] for entry in json.loads(recent.stdout)] == ["suppression_removed"]
    assert [entry["details"] for entry in json.loads(by_maria.stdout)] == [{"note": "phone call"}]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7d", "2026-02-25T10:00:00+00:00"), ("12h", "2026-03-03T22:00:00+00:00"), ("2w", "2026-02-18T10:00:00+00:00"),
     ("30m", "2026-03-04T09:30:00+00:00"), ("2026-03-01", "2026-03-01T00:00:00+00:00")],
)  # fmt: skip
def test_since_takes_a_span_or_a_time(value: str, expected: str) -> None:
    """It reads --since as a span back from now or as an ISO 8601 time."""
    since = parse_since(value, NOW)
    assert since is not None
    assert since.isoformat() == expected
