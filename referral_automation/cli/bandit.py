"""``bandit show CAMPAIGN``: the campaign's multi-armed test as the next detection run will see it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from referral_automation.cli.app import app
from referral_automation.cli.common import (
    ConfigDirOption,
    DatabaseUrlOption,
    JsonOption,
    NowOption,
    console,
    open_database,
    parse_now,
    print_json,
    settings_for,
    user_errors,
)
from referral_automation.cli.tables import listing
from referral_automation.cli.terminal import lines, visible

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
    from referral_automation.services.bandit.report import show_campaign

    settings = settings_for(database_url, config_dir)
    at = parse_now(now)
    with user_errors(), open_database(settings) as sessions:
        report = show_campaign(sessions, load_config(settings.config_dir), campaign, now=at)
    if as_json:
        print_json(report.as_json())
        return
    console.print(arms_table(report.table(), title=f"{campaign}: the multi-armed test at {at:%Y-%m-%d %H:%M} UTC"))
    for note in report.notes():
        console.print(visible(note), markup=False, style="bold red" if note.startswith("WARNING") else None)


def arms_table(rows: list[dict[str, str]], *, title: str) -> Table:
    """The report's rows with each value on the lines it breaks into: the arm's variant over its
    incentive, the rate over its interval, the IPW estimate over its standard error."""
    table = listing(title)
    for column in rows[0]:
        if column == "95 % interval":
            continue
        header = {"rate": "rate\n95 % interval", "share now": "share\nnow", "profit / send": "profit\n/ send",
                  "IPW / send": "IPW\n/ send"}.get(column, column)  # fmt: skip
        table.add_column(header, justify="left" if column == "arm" else "right", overflow="fold")
    for row in rows:
        values = dict(row)
        values["arm"] = values["arm"].replace(" × ", "\n× ", 1)
        values["rate"] = f"{values['rate']}\n{values.pop('95 % interval').replace(' %', '')}"
        values["IPW / send"] = values["IPW / send"].replace(" ± ", "\n± ", 1)
        table.add_row(*(lines(*value.split("\n")) for value in values.values()))
    return table
