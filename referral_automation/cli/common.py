"""Options every command shares, and how the CLI reports user errors (exit 1, ``path:line: message``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from referral_automation.errors import ProblemsError, ReferralAutomationError
from referral_automation.settings import Settings, load_settings

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


def settings_for(database_url: str | None, config_dir: Path | None) -> Settings:
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


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the engine's errors into ``path:line: message`` lines on stderr and exit 1."""
    try:
        yield
    except ProblemsError as error:
        for problem in error.problems:
            err_console.print(str(problem), markup=False)
        raise typer.Exit(1) from error
    except ReferralAutomationError as error:
        err_console.print(f"error: {error}", markup=False)
        raise typer.Exit(1) from error


def print_json(document: object) -> None:
    """One JSON document on stdout, nothing else."""
    import json

    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
