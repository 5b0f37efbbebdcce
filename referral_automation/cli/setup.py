"""``init`` and ``validate``: the workspace and its configuration."""

from __future__ import annotations

from referral_automation.cli.app import app
from referral_automation.cli.common import (
    ConfigDirOption,
    DatabaseUrlOption,
    console,
    print_problem,
    settings_for,
    user_errors,
)
from referral_automation.cli.terminal import visible
from referral_automation.services.workspace.validate import validate_workspace


@app.command()
def init(database_url: DatabaseUrlOption = None, config_dir: ConfigDirOption = None) -> None:
    """Create or upgrade the database schema (Alembic upgrade head). Safe to run again."""
    from referral_automation.db.diagnosis import Target
    from referral_automation.db.migrate import upgrade_to_head

    settings = settings_for(database_url, config_dir)
    change = upgrade_to_head(settings.database_url)
    where = Target.of(settings.database_url).shown
    before, after = (", ".join(sorted(revisions)) for revisions in (change.before, change.after))
    if change.created:
        line = f"created the schema (revision {after}) in {where}"
    elif change.changed:
        line = f"upgraded the schema from revision {before} to {after} in {where}"
    else:
        line = f"the schema is up to date (revision {after}) in {where}"
    console.print(visible(line), markup=False)


@app.command()
def validate(database_url: DatabaseUrlOption = None, config_dir: ConfigDirOption = None) -> None:
    """Check the config and every template; print "ok", or one "path:line: message" line per problem (exit 1).

    Warnings (a rule that can never match, say) print as "path:line: warning: message" and leave the exit code alone.
    """
    settings = settings_for(database_url, config_dir)
    with user_errors():
        config = validate_workspace(settings)
    for warning in config.warnings:
        print_problem(warning)
    console.print("ok")
