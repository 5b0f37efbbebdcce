"""``run detect|send|follow-ups|all``: one run of a Prefect flow, now.

The flows (``flows/``, installed as ``referral_automation.flows``) pull in Prefect, so they are
imported only when this command runs. ``flow_runner`` does the running: settings through the environment, quiet
Prefect logs, no heartbeat. Without a Prefect server a temporary one is used, which this command
says on stderr; with ``--json`` stdout carries only the counts.
"""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Annotated, Any

import typer

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
from referral_automation.config import load_config
from referral_automation.errors import ReferralAutomationError


class FlowName(StrEnum):
    detect = "detect"
    send = "send"
    follow_ups = "follow-ups"
    all = "all"


@app.command("run")
def run(
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
    with user_errors():
        load_config(settings.config_dir)  # config mistakes as path:line lines, before Prefect starts
        from referral_automation.cli import flow_runner

        flow_runner.load_flow(flow.value)
        link_warning = settings.public_url_warning() if flow is not FlowName.detect else None
        if link_warning:
            err_console.print(f"warning: {link_warning}", markup=False)
        if flow_runner.is_ephemeral():
            err_console.print(flow_runner.EPHEMERAL_HINT, markup=False)
        try:
            counts = flow_runner.run_flow(flow.value, now=moment, settings=settings)
        except ReferralAutomationError:
            raise
        except Exception as error:  # the CLI reports any failure of the run as one line, exit 1
            err_console.print(f"error: the {flow.value} flow failed: {type(error).__name__}: {error}", markup=False)
            raise typer.Exit(1) from error
    if json_output:
        print_json(counts)
    else:
        _print_counts(flow.value, counts)


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
