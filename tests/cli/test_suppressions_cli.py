"""``referral-automation suppressions list|add|remove``."""

from __future__ import annotations

import json

from typer.testing import CliRunner, Result

from referral_automation.cli import app
from tests.support.factories import NOW


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["suppressions", *args, "--database-url", db_url, "--now", NOW.isoformat()])


def listing(db_url: str) -> Result:
    return CliRunner().invoke(app, ["suppressions", "list", "--database-url", db_url])


def test_add_list_and_remove(db_url: str) -> None:
    """It suppresses addresses by hand, lists them, and lifts them, saying what each did."""
    added = run(db_url, "add", "Ada@Example.com", "bob@example.com", "--by", "Maria", "--note", "asked")
    again = run(db_url, "add", "ada@example.com", "--by", "Maria")
    table = listing(db_url)
    removed = run(db_url, "remove", "ada@example.com", "--by", "Joe", "--json")

    assert added.stdout.splitlines() == ["ada@example.com: suppressed", "bob@example.com: suppressed"]
    assert again.stdout == "ada@example.com: already suppressed (manual via operator on 2026-03-04)\n"
    assert table.exit_code == 0, table.output
    assert [line.split()[:3] for line in table.stdout.splitlines()[3:]] == [
        ["ada@example.com", "manual", "operator"], ["bob@example.com", "manual", "operator"]]  # fmt: skip
    assert json.loads(removed.stdout)[0]["changed"] is True
    assert "ada@example.com" not in listing(db_url).stdout


def test_lifting_a_provider_suppression_needs_force(db_url: str) -> None:
    """It refuses to lift an unsubscribe without --force, in one line, and lifts it with --force."""
    from referral_automation.db.session import session_factory
    from tests.support.detect_factories import suppress

    suppress(session_factory(db_url), "ada@example.com", reason="unsubscribed")

    refused = run(db_url, "remove", "ada@example.com", "--by", "Joe")
    forced = run(db_url, "remove", "ada@example.com", "--by", "Joe", "--force")

    assert refused.exit_code == 1
    assert refused.stderr.splitlines() == [
        "error: ada@example.com is suppressed: unsubscribed via test on 2026-03-04: lifting it needs force "
        "(only if they asked to be mailed again)"
    ]
    assert forced.stdout == "ada@example.com: lifted (unsubscribed via test on 2026-03-04)\n"
