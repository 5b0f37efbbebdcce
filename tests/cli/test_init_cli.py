"""``referral-automation init``: it says what it did to the schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from typer.testing import CliRunner

from referral_automation.cli import app
from referral_automation.db.migrate import alembic_config, head_revisions

HEAD = "".join(head_revisions())


def test_init_says_whether_it_created_upgraded_or_found_the_schema_up_to_date(tmp_path: Path) -> None:
    """It says it created the schema on a new database, that it is up to date after, and from which
    revision it upgraded an older one."""
    url = f"sqlite:///{tmp_path / 'referral.db'}"
    runner = CliRunner()

    created = runner.invoke(app, ["init", "--database-url", url])
    again = runner.invoke(app, ["init", "--database-url", url])
    command.downgrade(alembic_config(url), "0003")
    upgraded = runner.invoke(app, ["init", "--database-url", url])

    assert [created.exit_code, again.exit_code, upgraded.exit_code] == [0, 0, 0]
    assert created.stdout == f"created the schema (revision {HEAD}) in {url}\n"
    assert again.stdout == f"the schema is up to date (revision {HEAD}) in {url}\n"
    assert upgraded.stdout == f"upgraded the schema from revision 0003 to {HEAD} in {url}\n"


def test_init_never_shows_the_password(tmp_path: Path) -> None:
    """It names the database without its password."""
    result = CliRunner().invoke(app, ["init", "--database-url", "postgresql://ada:secret@127.0.0.1:1/referral"])
    assert result.exit_code == 1
    assert "secret" not in result.output
    assert "ada:***@" in result.stderr
