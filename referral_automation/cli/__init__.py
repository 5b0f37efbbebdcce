"""The ``referral-automation`` command line: thin commands that parse, call a service, print.

Each command group lives in its own module and registers itself on ``app`` when imported below.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="referral-automation",
    help="Ask happy customers for referrals at the right moment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules register themselves on ``app`` when imported (kept sorted).
from referral_automation.cli import approvals as _approvals  # noqa: E402,F401
from referral_automation.cli import demo as _demo  # noqa: E402,F401
from referral_automation.cli import ingest as _ingest  # noqa: E402,F401
from referral_automation.cli import preview as _preview  # noqa: E402,F401
from referral_automation.cli import requests as _requests  # noqa: E402,F401
from referral_automation.cli import run as _run  # noqa: E402,F401
from referral_automation.cli import sendgrid_events as _sendgrid_events  # noqa: E402,F401
from referral_automation.cli import setup as _setup  # noqa: E402,F401


def main() -> None:
    app()
