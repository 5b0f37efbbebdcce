"""``preview``: render one email and write it as an HTML page (headers, HTML part, text part)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from referral_automation.cli.app import app
from referral_automation.cli.common import (
    ConfigDirOption,
    DatabaseUrlOption,
    console,
    open_database,
    settings_for,
    user_errors,
)


@app.command()
def preview(
    campaign: Annotated[str, typer.Argument(help="Campaign id (campaigns.yaml).")],
    variant: Annotated[str, typer.Option("--variant", help="Message variant id of the campaign.")],
    customer: Annotated[
        str | None, typer.Option("--customer", help="A customer id from the database (default: the sample customer).")
    ] = None,
    step: Annotated[int, typer.Option("--step", min=0, help="0 = the first email, 1.. = follow-ups.")] = 0,
    incentive: Annotated[
        str | None, typer.Option("--incentive", help="Incentive id (default: the campaign's first).")
    ] = None,
    locale: Annotated[
        str | None, typer.Option("--locale", help="Render in this locale (default: the customer's).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", dir_okay=False, help="File to write (default: preview-CAMPAIGN-VARIANT-stepN.html)."),
    ] = None,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Render one email with a real customer (or a sample one) and write it as one HTML page; print its path."""
    from referral_automation.config import load_config
    from referral_automation.services.workspace.preview import preview_email, write_preview

    settings = settings_for(database_url, config_dir)
    with user_errors(), ExitStack() as stack:
        # The database only for a real customer: the sample one needs none, not even a schema.
        sessions = stack.enter_context(open_database(settings)) if customer is not None else None
        email = preview_email(
            config=load_config(settings.config_dir),
            config_dir=settings.config_dir,
            templates_dir=settings.templates_dir,
            public_base_url=settings.public_base_url,
            campaign_id=campaign,
            variant=variant,
            sessions=sessions,
            customer_id=customer,
            step=step,
            incentive=incentive,
            locale=locale,
        )
        path = write_preview(email, out)
    console.print(str(path), markup=False)
