"""The Typer application every command module registers its commands on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="referral-automation",
    help="Ask happy customers for referrals at the right moment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
