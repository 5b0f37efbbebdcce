"""Options every command shares, and how the CLI reports a mistake: one line, exit 1.

Every error reaches the user the same way, whichever command raised it (``report``, called by
the application's own handler in ``cli.app`` and by ``user_errors``):

* a problem in a file: ``path:line: message``, one line per problem (warnings as
  ``path:line: warning: message``);
* anything else the engine refuses (settings, database, a bad id): ``error: what: what to do``;
* an error the engine did not expect: ``error: unexpected …``, with the way to the traceback
  (``--debug`` or ``REFERRAL_DEBUG=1``), which is otherwise never shown.

Every line is made ``visible`` first: messages quote customers' ids and files' contents.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from referral_automation.cli.terminal import visible
from referral_automation.errors import Problem, ProblemsError, ReferralAutomationError, SettingsError
from referral_automation.settings import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

#: Human output goes to stdout unless ``--json`` is asked for; problems always go to stderr.
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL (default: $REFERRAL_DATABASE_URL or sqlite:///referral.db)."),
]
ConfigDirOption = Annotated[
    Path | None,
    typer.Option("--config-dir", help="Directory of the YAML config (default: $REFERRAL_CONFIG_DIR or ./config)."),
]
NowOption = Annotated[
    str | None,
    typer.Option("--now", help="Act as if it were this ISO 8601 time (naive means UTC). Default: the clock."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else there.")]
LimitOption = Annotated[
    int, typer.Option("--limit", min=0, help="At most this many, the newest first (0: all of them).")
]
#: How many rows a listing shows unless ``--limit`` says otherwise.
DEFAULT_LIMIT = 50
Row = TypeVar("Row")

DEBUG_HINT = "run again with --debug (or REFERRAL_DEBUG=1) for the traceback, and please report it"


def settings_for(database_url: str | None, config_dir: Path | None) -> Settings:
    """The settings, with the command's ``--database-url`` and ``--config-dir`` applied (``SettingsError``)."""
    return load_settings(database_url=database_url, config_dir=config_dir)


def parse_now(value: str | None) -> datetime:
    """``--now`` as an aware UTC datetime; a bad value is a usage error (exit 2)."""
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 date-time", param_hint="--now") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def when(value: datetime | None) -> str:
    """A time for tables: minutes, UTC (JSON keeps full ISO 8601)."""
    return "" if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M}"


@contextmanager
def open_database(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Sessions of the settings' database, once its schema is known to be this version's.

    A database that cannot be reached, has no schema or an older one is a ``DatabaseError``
    before the command does anything; a driver error inside the block is reported as what it
    means (``db.diagnosis``: a missing privilege, a locked file), never as a traceback.
    """
    from referral_automation.db.diagnosis import diagnose
    from referral_automation.db.migrate import require_current_schema
    from referral_automation.db.session import session_factory

    require_current_schema(settings.database_url)
    try:
        yield session_factory(settings.database_url)
    except DBAPIError as error:
        problem = diagnose(error, settings.database_url)
        if problem is None:
            raise
        raise problem from error


def print_problem(problem: Problem) -> None:
    """One ``path:line: message`` line on stderr."""
    err_console.print(visible(problem), markup=False, highlight=False)


def report(error: BaseException) -> None:
    """The line(s) on stderr that tell the user what went wrong and what to do about it."""
    from referral_automation.db.diagnosis import diagnose

    lines: list[str]
    if isinstance(error, ProblemsError):
        for problem in error.problems:
            print_problem(problem)
        return
    if isinstance(error, SettingsError):
        lines = error.messages
    elif isinstance(error, ReferralAutomationError):
        lines = [str(error)]
    elif isinstance(error, SQLAlchemyError):
        lines = [str(diagnose(error) or f"the database failed: {type(error).__name__}: {error}")]
    elif isinstance(error, OSError) and error.filename is not None:
        lines = [f"{error.filename}: {error.strerror or error}"]
    else:
        lines = [f"unexpected {type(error).__name__}: {error} ({DEBUG_HINT})"]
    for line in lines:
        err_console.print(f"error: {visible(line)}", markup=False, highlight=False)


@contextmanager
def user_errors() -> Iterator[None]:
    """The engine's own errors in the block reported by ``report`` (exit 1). The application's
    handler (``cli.app``) does the same for every command; this keeps a command's mistakes from
    reaching code after the block."""
    try:
        yield
    except ReferralAutomationError as error:
        report(error)
        raise typer.Exit(1) from error


def print_json(document: object) -> None:
    """One JSON document on stdout, nothing else (non-ASCII and control characters escaped)."""
    import json

    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def one_more(limit: int) -> int | None:
    """How many rows to ask a service for: one more than ``limit`` tells whether there are more (0: all)."""
    return limit + 1 if limit else None


def page(rows: list[Row], limit: int, noun: str) -> list[Row]:
    """The first ``limit`` of ``rows`` (fetched with ``one_more``), saying so on stderr when there were more."""
    say_limited(bool(limit) and len(rows) > limit, limit, noun)
    return rows[:limit] if limit else rows


def say_limited(more: bool, limit: int, noun: str) -> None:
    """A note on stderr when a listing stopped at ``limit`` with more left."""
    if more:
        err_console.print(
            f"note: the newest {limit} {noun} are shown; --limit N shows more, --limit 0 all", markup=False
        )
