"""The Typer application every command module registers its commands on, and its error handler.

Whatever a command raises ends here (``ReferralGroup.invoke``): it is reported as one line on
stderr (``common.report``) and the command exits 1. Usage mistakes stay Click's (exit 2), and
``--debug`` (or ``REFERRAL_DEBUG=1``) lets the traceback through for whoever needs it.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from referral_automation.cli.common import report


class ReferralGroup(TyperGroup):
    """The top-level command group: runs the command, and turns any error into one line, exit 1."""

    def invoke(self, ctx: Any) -> Any:  # Typer's vendored click.Context, which it does not export
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # exits and usage errors: Click's own
            raise
        except Exception as error:
            report(error)
            if ctx.params.get("debug"):
                raise
            raise typer.Exit(1) from error


app = typer.Typer(
    name="referral-automation",
    help="Ask happy customers for referrals at the right moment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=ReferralGroup,
)


@app.callback()
def options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", envvar="REFERRAL_DEBUG", help="Show the traceback of an error (or set REFERRAL_DEBUG=1)."
        ),
    ] = False,
) -> None:
    """Ask happy customers for referrals at the right moment."""
