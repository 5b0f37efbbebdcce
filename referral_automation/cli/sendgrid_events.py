"""``ingest sendgrid-events FILE``: replay or backfill SendGrid Event Webhook batches.

The file is what the Event Webhook posts: one JSON array of events (gzip-compressed or not, or
``-`` for standard input). Bad items are reported as ``FILE:[index]: reason`` on stderr and the
good ones are still recorded (exit 1 if any was bad); every ``sg_event_id`` is recorded once, so
replaying a file is harmless.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
    user_errors,
)
from referral_automation.cli.ingest import ingest_app


@ingest_app.command("sendgrid-events")
def sendgrid_events(
    file: Annotated[
        Path,
        typer.Argument(help="A JSON array of events, as SendGrid's Event Webhook posts it (.gz too; - reads stdin)."),
    ],
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
    now: NowOption = None,
    json_output: JsonOption = False,
) -> None:
    """Record SendGrid events (delivered, open, click, bounce, unsubscribe, ...) once each by sg_event_id."""
    from referral_automation.services.responses.provider_events import read_event_file, record_sendgrid_events

    settings = settings_for(database_url, config_dir)
    moment = parse_now(now)
    with user_errors(), open_database(settings) as sessions:
        parsed = read_event_file(str(file))
        for problem in parsed.problems:
            err_console.print(str(problem), markup=False, highlight=False)
        report = record_sendgrid_events(sessions, parsed.events, now=moment, public_base_url=settings.public_base_url)
    counts = {
        "events": len(parsed.events),
        "rejected": len(parsed.problems),
        "recorded": report.recorded,
        "duplicates": report.duplicates,
        "unknown_requests": report.unknown_requests,
        "suppressions_added": report.suppressions_added,
        "suppressions_lifted": report.suppressions_lifted,
        "follow_ups_stopped": report.follow_ups_stopped,
    }
    if json_output:
        print_json(counts)
    else:
        console.print(
            f"{report.recorded} events recorded, {report.duplicates} duplicates, {len(parsed.problems)} rejected "
            f"({report.suppressions_added} suppressions added, {report.suppressions_lifted} lifted)"
        )
    if parsed.problems:
        raise typer.Exit(1)
