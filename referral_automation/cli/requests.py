"""``requests list``: what was asked of whom, its status and every decision on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from referral_automation.cli.app import app
from referral_automation.cli.common import (
    ConfigDirOption,
    DatabaseUrlOption,
    JsonOption,
    console,
    err_console,
    print_json,
    settings_for,
    user_errors,
)
from referral_automation.domain.statuses import RequestStatus
from referral_automation.services.inspection.requests import RequestSummary, list_requests

requests_app = typer.Typer(help="Referral requests: list them with their status and decisions.", no_args_is_help=True)
app.add_typer(requests_app, name="requests")


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """A database that is unreachable or has no schema yet: one line on stderr and exit 1, no traceback."""
    try:
        yield
    except (OperationalError, ProgrammingError) as error:
        shown = make_url(url).render_as_string(hide_password=True)
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        missing = any(sign in reason for sign in ("no such table", "does not exist"))
        hint = " (run `referral-automation init` to create the schema)" if missing else ""
        err_console.print(f"error: cannot use the database {shown}: {reason}{hint}", markup=False)
        raise typer.Exit(1) from error


def when(value: datetime | None) -> str:
    """A time for tables: minutes, UTC (JSON keeps full ISO 8601)."""
    return "" if value is None else f"{value:%Y-%m-%d %H:%M}"


@requests_app.command("list")
def list_command(
    status: Annotated[RequestStatus | None, typer.Option("--status", help="Only requests in this status.")] = None,
    customer: Annotated[str | None, typer.Option("--customer", help="Only this customer's requests.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many (the newest).")] = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """List referral requests, newest first."""
    from referral_automation.db.session import session_factory

    settings = settings_for(database_url, config_dir)
    with user_errors(), database_errors(settings.database_url):
        views = list_requests(
            session_factory(settings.database_url),
            status=None if status is None else status.value,
            customer_id=customer,
            limit=limit,
        )
    if as_json:
        print_json([view.as_json() for view in views])
        return
    if not views:
        console.print("no referral requests")
        return
    console.print(requests_table(views))


def requests_table(views: list[RequestSummary]) -> Table:
    table = Table(title=f"Referral requests ({len(views)}, newest first; times in UTC)")
    for column in ("id", "customer", "campaign", "status", "arm", "scheduled", "sent", "follow-ups", "decision"):
        table.add_column(column, overflow="fold", no_wrap=column in ("id", "scheduled", "sent"))
    for view in views:
        table.add_row(
            view.id[:8],
            view.customer_id,
            view.campaign,
            view.status,
            f"{view.variant} / {view.incentive}",
            when(view.scheduled_for),
            when(view.sent_at),
            str(view.followups_sent),
            decision_text(view),
        )
    return table


def decision_text(view: RequestSummary) -> str:
    """The last decision ("approved by Maria at …: note"), or why the request waits for one."""
    if view.last_decision is not None:
        return view.last_decision.summary()
    if view.status == RequestStatus.PENDING_APPROVAL:
        return f"waiting for approval: {view.approval_reason}"
    return ""
