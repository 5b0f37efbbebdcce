"""``run detect|send|follow-ups|all``: one run of a Prefect flow, now.

The flows (``flows/``, installed as ``referral_automation.flows``) pull in Prefect, so they are
imported only when this command runs. ``flow_runner`` does the running: settings through the environment, quiet
Prefect logs, no heartbeat. Without a Prefect server a temporary one is used, which this command
says on stderr; with ``--json`` stdout carries only the counts.

Everything a run needs is checked before Prefect starts, so a mistake is one line and not a failed
flow run: the config, the database and its schema, and (for the flows that send) the sender's
settings, such as the SendGrid key.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from enum import StrEnum
from typing import Annotated, Any

import typer
from sqlalchemy.exc import DBAPIError

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
)
from referral_automation.config import AppConfig, load_config
from referral_automation.email.senders import make_sender
from referral_automation.errors import ReferralAutomationError, SettingsError
from referral_automation.settings import Settings


class FlowFailedError(ReferralAutomationError):
    """A flow run that ended in an error its own batches did not record."""


class FlowName(StrEnum):
    detect = "detect"
    send = "send"
    follow_ups = "follow-ups"
    all = "all"


@app.command("run")
def run(
    ctx: typer.Context,
    flow: Annotated[FlowName, typer.Argument(help="Which flow: detect, send, follow-ups, or all three in order.")],
    now: NowOption = None,
    json_output: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Run one Prefect flow once (on a temporary Prefect server unless PREFECT_API_URL is set)."""
    moment = parse_now(now)
    settings = settings_for(database_url, config_dir)
    # Before prefect is imported: its console handler is configured at import time.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    config = load_config(settings.config_dir)  # config mistakes as path:line lines, before Prefect starts
    from referral_automation.cli import flow_runner

    flow_runner.load_flow(flow.value)
    if flow is not FlowName.detect:
        check_sender(settings, config)
        link_warning = settings.public_url_warning()
        if link_warning:
            err_console.print(f"warning: {link_warning}", markup=False)
    quiet = nullcontext() if ctx.find_root().params.get("debug") else flow_runner.without_tracebacks()
    with open_database(settings), quiet:
        if flow_runner.is_ephemeral():
            err_console.print(flow_runner.EPHEMERAL_HINT, markup=False)
        try:
            counts = flow_runner.run_flow(flow.value, now=moment, settings=settings)
        except (ReferralAutomationError, DBAPIError):
            raise
        except Exception as error:
            raise FlowFailedError(f"the {flow.value} flow failed: {type(error).__name__}: {error}") from error
    if json_output:
        print_json(counts)
    else:
        _print_counts(flow.value, counts)


def check_sender(settings: Settings, config: AppConfig) -> None:
    """Build the run's sender once, so its settings' mistakes are one line before any flow runs.

    Without ``SENDGRID_API_KEY`` the key can only come from a Prefect Secret block, which needs a
    Prefect server to hold it: with none configured, say so at once rather than start a temporary
    server to look for it.
    """
    from referral_automation.cli import flow_runner
    from referral_automation.email.senders.sendgrid import SECRET_BLOCK

    key = settings.sendgrid_api_key
    if settings.email_backend == "sendgrid" and not (key and key.get_secret_value()) and flow_runner.is_ephemeral():
        raise SettingsError(
            [
                "SENDGRID_API_KEY is not set, and without PREFECT_API_URL there is no Prefect server whose "
                f"Secret block {SECRET_BLOCK!r} could hold the key: set SENDGRID_API_KEY (or PREFECT_API_URL)"
            ]
        )
    make_sender(settings, config.delivery)


def _print_counts(name: str, counts: Any, indent: str = "") -> None:
    console.print(f"{indent}{name}:", markup=False)
    for key, value in counts.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            _print_counts(key, value, indent + "  ")
        elif isinstance(value, dict):
            shown = ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
            console.print(f"{indent}  {key.replace('_', ' ')}: {shown}", markup=False)
        else:
            console.print(f"{indent}  {key.replace('_', ' ')}: {value}", markup=False)
