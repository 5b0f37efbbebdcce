"""``bandit show CAMPAIGN``: the campaign's multi-armed test as the next detection run will see it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from referral_automation.cli.app import app
from referral_automation.cli.common import (
    ConfigDirOption,
    DatabaseUrlOption,
    JsonOption,
    NowOption,
    console,
    parse_now,
    print_json,
    settings_for,
    user_errors,
)
from referral_automation.cli.requests import database_errors

bandit_app = typer.Typer(help="The multi-armed test of each campaign's variants × incentives.", no_args_is_help=True)
app.add_typer(bandit_app, name="bandit")


@bandit_app.command("show")
def show_command(
    campaign: Annotated[str, typer.Argument(help="Campaign id (campaigns.yaml).")],
    as_json: JsonOption = False,
    now: NowOption = None,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Per arm: sends, outcomes, the rate with its 95 % interval, the chance of being best, the share it gets
    now, the expected profit and the IPW estimate per send; then the holdout and the allocation check."""
    from referral_automation.config import load_config
    from referral_automation.db.session import session_factory
    from referral_automation.services.bandit.report import show_campaign

    settings = settings_for(database_url, config_dir)
    at = parse_now(now)
    with user_errors(), database_errors(settings.database_url):
        report = show_campaign(
            session_factory(settings.database_url), load_config(settings.config_dir), campaign, now=at
        )
    if as_json:
        print_json(report.as_json())
        return
    rows = report.table()
    title = f"{campaign}: the multi-armed test at {at:%Y-%m-%d %H:%M} UTC"
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in rows[0]:
        table.add_column(column, justify="left" if column == "arm" else "right", overflow="fold")
    for row in rows:
        table.add_row(*(Text(value) for value in row.values()))
    console.print(table)
    for note in report.notes():
        console.print(note, markup=False, style="bold red" if note.startswith("WARNING") else None)
