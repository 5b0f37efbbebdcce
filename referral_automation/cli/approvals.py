"""``approvals list|approve|reject``: a person decides on requests to important customers."""

from __future__ import annotations

from datetime import UTC, datetime
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
    parse_now,
    print_json,
    settings_for,
    user_errors,
)
from referral_automation.cli.requests import database_errors, when
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
    from referral_automation.db.session import session_factory
    from referral_automation.services.approvals.decide import list_pending

    at = parse_now(now)
    settings = settings_for(database_url, config_dir)
    with user_errors(), database_errors(settings.database_url):
        pending = list_pending(session_factory(settings.database_url))
    if as_json:
        print_json([item.as_json(at) for item in pending])
        return
    if not pending:
        console.print("no requests waiting for approval")
        return
    console.print(pending_table(pending, at=at))


def pending_table(pending: list[PendingApproval], *, at: datetime) -> Table:
    table = Table(title=f"Waiting for approval ({len(pending)}; times in UTC)")
    for column in ("id", "customer", "plan", "lifetime value", "reason", "campaign", "arm", "created", "expires"):
        table.add_column(column, overflow="fold", no_wrap=column in ("id", "created", "expires"))
    for item in pending:
        customer = ", ".join(part for part in (item.customer_name or item.customer_id, item.company) if part)
        expires = when(item.expires_at) + (" (overdue)" if item.overdue(at) else "")
        table.add_row(
            item.id[:8],
            customer,
            item.plan,
            f"{item.lifetime_value:,.2f}",
            item.reason or "",
            item.campaign,
            f"{item.variant} / {item.incentive}",
            when(item.created_at),
            expires,
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
    from referral_automation.db.session import session_factory
    from referral_automation.services.approvals.decide import approve

    at = parse_now(now)
    settings = settings_for(database_url, config_dir)
    with user_errors(), database_errors(settings.database_url):
        config = load_config(settings.config_dir)
        result = approve(
            session_factory(settings.database_url), request_ref=request_id, by=by, note=note, now=at, config=config
        )
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
    from referral_automation.db.session import session_factory
    from referral_automation.services.approvals.decide import reject

    at = parse_now(now)
    settings = settings_for(database_url, config_dir)
    with user_errors(), database_errors(settings.database_url):
        result = reject(session_factory(settings.database_url), request_ref=request_id, by=by, note=note, now=at)
    report(result)


def report(result: DecisionResult) -> None:
    """One line on what the decision did (and a warning on stderr if the time zone was unknown)."""
    if result.zone_warning:
        err_console.print(f"warning: customer {result.customer_id}: {result.zone_warning}", markup=False)
    line = f"{result.decision} {result.request_id} (customer {result.customer_id}) by {result.decided_by}"
    if result.scheduled_for is not None:
        line += f"; scheduled for {result.scheduled_for.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    console.print(line, markup=False)
