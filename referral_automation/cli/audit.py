"""``audit list``: who did what, when: decisions, suppressions by hand, warnings of the runs."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
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
)
from referral_automation.cli.tables import audit_table
from referral_automation.services.inspection.audit import list_audit

audit_app = typer.Typer(help="The audit log: who did what, and when.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

#: ``7d``, ``12h``, ``30m``, ``2w``: a span back from ``--now``.
SPAN = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str | None, now: datetime) -> datetime | None:
    """``--since``: a span back from now (``7d``, ``12h``, ``30m``, ``2w``) or an ISO 8601 time."""
    if value is None:
        return None
    span = SPAN.match(value)
    if span:
        return now - timedelta(**{UNITS[span[2]]: int(span[1])})
    try:
        return parse_now(value)
    except typer.BadParameter:
        raise typer.BadParameter(
            f"{value!r} is neither a span (7d, 12h, 30m, 2w) nor an ISO 8601 time", param_hint="--since"
        ) from None


@audit_app.command("list")
def list_command(
    since: Annotated[
        str | None, typer.Option("--since", help="Only entries since then: 7d, 12h, 30m, 2w, or an ISO 8601 time.")
    ] = None,
    subject: Annotated[
        str | None, typer.Option("--subject", help="Only entries about this request id, customer id or address.")
    ] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only entries by this actor.")] = None,
    action: Annotated[str | None, typer.Option("--action", help="Only this action (approval_approved, …).")] = None,
    limit: LimitOption = DEFAULT_LIMIT,
    now: NowOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """List audit entries, the newest first."""
    start = parse_since(since, parse_now(now))
    settings = settings_for(database_url, config_dir)
    with open_database(settings) as sessions:
        entries = list_audit(sessions, since=start, subject=subject, actor=actor, action=action, limit=one_more(limit))
    shown = page(entries, limit, "audit entries")
    if as_json:
        print_json([entry.as_json() for entry in shown])
    elif not shown:
        console.print("no audit entries")
    else:
        console.print(audit_table(shown, title=f"Audit log ({len(shown)}, newest first; UTC)"))
