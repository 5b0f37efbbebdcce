"""``init`` and ``validate``: the workspace and its configuration."""

from __future__ import annotations

from referral_automation.cli.app import app
from referral_automation.cli.common import (
    ConfigDirOption,
    DatabaseUrlOption,
    console,
    settings_for,
    user_errors,
)
from referral_automation.services.workspace.validate import validate_workspace


@app.command()
def init(database_url: DatabaseUrlOption = None, config_dir: ConfigDirOption = None) -> None:
    """Create or upgrade the database schema (Alembic upgrade head). Safe to run again."""
    from referral_automation.db.migrate import upgrade_to_head

    settings = settings_for(database_url, config_dir)
    with user_errors():
        upgrade_to_head(settings.database_url)
    console.print("schema is up to date")


@app.command()
def validate(database_url: DatabaseUrlOption = None, config_dir: ConfigDirOption = None) -> None:
    """Check the config and every template; print "ok", or one "path:line: message" line per problem (exit 1)."""
    settings = settings_for(database_url, config_dir)
    with user_errors():
        validate_workspace(settings)
    console.print("ok")
