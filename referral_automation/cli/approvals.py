"""``approvals list|approve|reject``: a person decides on requests to important customers."""

from __future__ import annotations

from datetime import datetime
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
    err_console,
    open_database,
    parse_now,
    print_json,
    settings_for,
    when,
)
from referral_automation.cli.tables import listing
from referral_automation.cli.terminal import cell, lines, visible
from referral_automation.services.approvals.decide import DecisionResult, PendingApproval

approvals_app = typer.Typer(help="Requests that wait for a person's approval.", no_args_is_help=True)
app.add_typer(approvals_app, name="approvals")

IdArgument = Annotated[str, typer.Argument(metavar="ID", help="The request id, or its first 8 characters or more.")]
ByOption = Annotated[str, typer.Option("--by", help="Who decides (stored with the decision).")]
NoteOption = Annotated[str | None, typer.Option("--note", help="Why (stored with the decision).")]


@approvals_app.command("list")
def list_command(
    as_json: JsonOption = False,
    now: NowOption = None,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """List the requests waiting for approval, the soonest to expire first."""
    from referral_automation.services.approvals.decide import list_pending

    at = parse_now(now)
    settings = settings_for(database_url, config_dir)
    with open_database(settings) as sessions:
        pending = list_pending(sessions)
    if as_json:
        print_json([item.as_json(at) for item in pending])
        return
    if not pending:
        console.print("no requests waiting for approval")
        return
    console.print(pending_table(pending, at=at))


def pending_table(pending: list[PendingApproval], *, at: datetime) -> Table:
    """One entry a request, a few short lines each, so nothing folds on an 80-column terminal."""
    table = listing(f"Waiting for approval ({len(pending)}, the soonest to expire first; times in UTC)")
    table.add_column("id", no_wrap=True)
    table.add_column("request", overflow="fold")
    for item in pending:
        who = ", ".join(part for part in (item.customer_name or item.customer_id, item.company) if part)
        if item.customer_name:
            who += f" ({item.customer_id})"
        dates = f"created {when(item.created_at)}, expires {when(item.expires_at)}"
        table.add_row(
            cell(item.id[:8]),
            lines(
                who,
                f"plan {item.plan or '-'}, lifetime value {item.lifetime_value:,.2f}",
                f"why: {item.reason or 'approval required'}",
                f"{item.campaign}, arm {item.variant} / {item.incentive}",
                dates + (" (overdue)" if item.overdue(at) else ""),
            ),
        )
    return table


@approvals_app.command("approve")
def approve_command(
    request_id: IdArgument,
    by: ByOption,
    note: NoteOption = None,
    now: NowOption = None,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Approve a request: it is sent at the next opening of its send window."""
    from referral_automation.config import load_config
    from referral_automation.services.approvals.decide import approve

    at = parse_now(now)
    settings = settings_for(database_url, config_dir)
    config = load_config(settings.config_dir)
    with open_database(settings) as sessions:
        result = approve(sessions, request_ref=request_id, by=by, note=note, now=at, config=config)
    report(result)


@approvals_app.command("reject")
def reject_command(
    request_id: IdArgument,
    by: ByOption,
    note: NoteOption = None,
    now: NowOption = None,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Reject a request: it is never sent."""
    from referral_automation.services.approvals.decide import reject

    at = parse_now(now)
    settings = settings_for(database_url, config_dir)
    with open_database(settings) as sessions:
        result = reject(sessions, request_ref=request_id, by=by, note=note, now=at)
    report(result)


def report(result: DecisionResult) -> None:
    """One line on what the decision did (and a warning on stderr if the time zone was unknown)."""
    if result.zone_warning:
        err_console.print(visible(f"warning: customer {result.customer_id}: {result.zone_warning}"), markup=False)
    line = f"{result.decision} {result.request_id} (customer {result.customer_id}) by {result.decided_by}"
    if result.scheduled_for is not None:
        line += f"; scheduled for {when(result.scheduled_for)} UTC"
    console.print(visible(line), markup=False)
