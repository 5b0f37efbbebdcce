"""``suppressions list|add|remove``: the addresses never to be emailed, by hand."""

from __future__ import annotations

from typing import Annotated

import typer

from referral_automation.cli.app import app
from referral_automation.cli.common import (
    DEFAULT_LIMIT,
    ConfigDirOption,
    DatabaseUrlOption,
    JsonOption,
    LimitOption,
    NowOption,
    console,
    one_more,
    open_database,
    page,
    parse_now,
    print_json,
    settings_for,
    when,
)
from referral_automation.cli.tables import listing
from referral_automation.cli.terminal import cell, visible
from referral_automation.services.suppressions import (
    SuppressionChange,
    add_suppressions,
    list_suppressions,
    remove_suppressions,
)

suppressions_app = typer.Typer(help="Addresses that are never emailed: list, add, lift.", no_args_is_help=True)
app.add_typer(suppressions_app, name="suppressions")

EmailsArgument = Annotated[list[str], typer.Argument(metavar="EMAIL...", help="One or more email addresses.")]
ByOption = Annotated[str, typer.Option("--by", help="Who makes the change (kept in the audit log).")]
NoteOption = Annotated[str | None, typer.Option("--note", help="Why (kept in the audit log).")]


@suppressions_app.command("list")
def list_command(
    reason: Annotated[
        str | None, typer.Option("--reason", help="Only this reason: manual, unsubscribed, bounced, spam_reported…")
    ] = None,
    limit: LimitOption = DEFAULT_LIMIT,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """List suppressed addresses, the newest first, with why and since when."""
    settings = settings_for(database_url, config_dir)
    with open_database(settings) as sessions:
        views = list_suppressions(sessions, reason=reason, limit=one_more(limit))
    shown = page(views, limit, "suppressions")
    if as_json:
        print_json([view.as_json() for view in shown])
    elif not shown:
        console.print("no suppressed addresses")
    else:
        table = listing(f"Suppressed addresses ({len(shown)}, newest first; UTC)")
        table.add_column("email", overflow="fold", ratio=2)
        table.add_column("reason", overflow="fold", ratio=1)
        table.add_column("source", overflow="fold", ratio=1)
        table.add_column("since", no_wrap=True)
        for view in shown:
            table.add_row(cell(view.email), cell(view.reason), cell(view.source), cell(when(view.created_at)))
        console.print(table)


@suppressions_app.command("add")
def add_command(
    emails: EmailsArgument,
    by: ByOption,
    note: NoteOption = None,
    now: NowOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Suppress addresses (reason "manual"): nothing is sent to them from now on."""
    at = parse_now(now)
    settings = settings_for(database_url, config_dir)
    with open_database(settings) as sessions:
        changes = add_suppressions(sessions, emails, by=by, note=note, now=at)
    _report(changes, as_json, done="suppressed", undone="already suppressed")


@suppressions_app.command("remove")
def remove_command(
    emails: EmailsArgument,
    by: ByOption,
    note: NoteOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Also lift a bounce, spam report or unsubscribe (only if they asked to be mailed)."
        ),
    ] = False,
    now: NowOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Lift suppressions; one that was not added by hand needs --force."""
    at = parse_now(now)
    settings = settings_for(database_url, config_dir)
    with open_database(settings) as sessions:
        changes = remove_suppressions(sessions, emails, by=by, note=note, now=at, force=force)
    _report(changes, as_json, done="lifted", undone="was not suppressed")


def _report(changes: list[SuppressionChange], as_json: bool, *, done: str, undone: str) -> None:
    if as_json:
        print_json(
            [
                {"email": c.email, "changed": c.changed, "existing": c.existing.as_json() if c.existing else None}
                for c in changes
            ]
        )
        return
    for change in changes:
        line = f"{change.email}: {done}" if change.changed else f"{change.email}: {undone}"
        if change.existing is not None:
            line += f" ({change.existing.words()})"
        console.print(visible(line), markup=False)
