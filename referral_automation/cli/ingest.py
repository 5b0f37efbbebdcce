"""``ingest customers FILE`` and ``ingest events FILE``: load users' files, report every bad line.

FILE may be gzip-compressed (known by its first bytes), or ``-`` for standard input. Bad lines go
to stderr as ``FILE:LINE: reason`` as they are found, and to the reject file exactly as they were
(their reasons beside it); the summary goes to stdout, or one JSON document with ``--json``. Exit 1
if any line was rejected or the file had a problem, 0 otherwise. Other modules add commands to
``ingest_app``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
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
    user_errors,
)
from referral_automation.errors import Problem
from referral_automation.services.ingest.readers import IngestReport

ingest_app = typer.Typer(help="Load customers and journey events from files.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")

#: Files above this size get a progress bar (when stderr is a terminal).
PROGRESS_MIN_BYTES = 5 << 20

FileArgument = Annotated[
    Path, typer.Argument(help="The file to ingest (.gz too), or - for standard input.", show_default=False)
]
RejectsOption = Annotated[
    Path | None,
    typer.Option(
        "--rejects",
        help="Where to write rejected lines, as they were (default: FILE.rejects.jsonl or .csv beside FILE); "
        "their reasons go beside it (….reasons.jsonl).",
    ),
]


class FileFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


@ingest_app.command("customers")
def customers(
    file: FileArgument,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
    now: NowOption = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Customers per transaction.")] = 2000,
    rejects: RejectsOption = None,
    file_format: Annotated[
        FileFormat | None,
        typer.Option("--format", help="csv or jsonl (default: from FILE's extension; needed for -)."),
    ] = None,
    update_only: Annotated[
        bool,
        typer.Option(
            "--update",
            help="Only change customers already stored, with the columns FILE has (unknown customers are rejected).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Upsert customers from a CSV (header row) or JSONL file, by customer_id.

    A new customer needs customer_id, email, first_purchase_at, timezone and marketing_opt_in;
    with --update, a file of fewer columns changes those of stored customers.
    """
    from referral_automation.services.ingest import ingest_customers_file

    if _is_stdin(file) and file_format is None:
        raise typer.BadParameter("standard input has no extension: give --format csv or jsonl", param_hint="--format")
    settings = settings_for(database_url, config_dir)
    moment = parse_now(now)
    with user_errors(), open_database(settings) as sessions, _progress(file) as on_progress:
        report = ingest_customers_file(
            sessions,
            str(file),
            now=moment,
            batch_size=batch_size,
            rejects_path=rejects,
            on_problem=_print_problem,
            on_progress=on_progress,
            update_only=update_only,
            file_format=file_format.value if file_format else None,
        )
    _finish(report, as_json, [("inserted", report.inserted), ("updated", report.updated)])


@ingest_app.command("events")
def events(
    file: FileArgument,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
    now: NowOption = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Lines per transaction.")] = 50_000,
    rejects: RejectsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest journey events from a JSONL file (or - for standard input); idempotent by event_id."""
    from referral_automation.config import load_config
    from referral_automation.services.ingest import ingest_events_file

    settings = settings_for(database_url, config_dir)
    moment = parse_now(now)
    with user_errors(), open_database(settings) as sessions, _progress(file) as on_progress:
        config = load_config(settings.config_dir)
        report = ingest_events_file(
            sessions,
            config,
            str(file),
            now=moment,
            batch_size=batch_size,
            rejects_path=rejects,
            on_problem=_print_problem,
            on_progress=on_progress,
        )
    _finish(report, as_json, [("inserted", report.inserted), ("already known", report.duplicates)])


def _print_problem(problem: Problem) -> None:
    err_console.print(str(problem), markup=False, highlight=False)


def _is_stdin(file: Path) -> bool:
    return str(file) == "-"


@contextmanager
def _progress(path: Path) -> Iterator[Callable[[int], None] | None]:
    """A bar of bytes read on stderr, for big files and a person watching; otherwise nothing."""
    try:
        size = 0 if _is_stdin(path) else path.stat().st_size
    except OSError:
        size = 0
    if size < PROGRESS_MIN_BYTES or not err_console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, TimeRemainingColumn(), console=err_console, transient=True) as progress:
        task = progress.add_task(f"reading {path.name}", total=size)
        yield lambda done: progress.update(task, completed=done)


def _finish(report: IngestReport, as_json: bool, counts: list[tuple[str, int]]) -> None:
    """The summary (or ``--json`` counts), then exit 1 if anything was wrong."""
    if as_json:
        print_json(report.as_dict())
    else:
        table = Table(title=f"ingested {report.source}", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column(justify="right")
        for label, value in [("read", report.read), *counts, ("rejected", report.rejected)]:
            table.add_row(label, f"{value:,}")
        console.print(table)
        if report.rejects_path is not None:
            # On lines of their own, never folded, so they can be copied from any terminal.
            console.print(f"rejected lines written to {report.rejects_path}", markup=False)
            console.print(f"their reasons written to {report.reasons_path}", markup=False)
    if not report.ok:
        raise typer.Exit(1)
