"""``web [--host] [--port]``: the web app under uvicorn (webhooks, referral links, unsubscribe, API).

Before serving, it says on stderr what would make the app refuse or mislead: a missing API or
inbound token (those endpoints answer 401), unsigned events allowed, links pointing at localhost.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from referral_automation.cli.app import app
from referral_automation.cli.common import (
    ConfigDirOption,
    DatabaseUrlOption,
    err_console,
    open_database,
    settings_for,
    user_errors,
)
from referral_automation.settings import Settings


def startup_warnings(settings: Settings, *, workers: int = 1) -> list[str]:
    """What an operator should hear before the app takes traffic."""
    warnings = []
    if workers > 1 and settings.database_url.startswith("sqlite"):
        warnings.append("several workers on SQLite take turns at its one writer: one worker serves it better")
    if settings.api_token is None:
        warnings.append("REFERRAL_API_TOKEN is not set: /api/referrals and /api/conversions answer 401")
    if settings.inbound_token is None:
        warnings.append("REFERRAL_INBOUND_TOKEN is not set: /webhooks/sendgrid/inbound answers 401")
    if settings.sendgrid_webhook_public_key is None:
        if settings.webhook_allow_unsigned:
            warnings.append("REFERRAL_WEBHOOK_ALLOW_UNSIGNED is on: anyone can post events (development only)")
        else:
            warnings.append("SENDGRID_WEBHOOK_PUBLIC_KEY is not set: /webhooks/sendgrid/events answers 403")
    if settings.secret_key is None:
        warnings.append("REFERRAL_SECRET_KEY is not set: links are signed with the key kept in the database")
    return warnings


@app.command("web")
def web(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Worker processes.")] = 1,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request (tokens are in paths).")] = False,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Serve webhooks, referral links, unsubscribe links and the referral API (OpenAPI at /docs)."""
    import uvicorn

    from referral_automation.web.app import create_app

    settings = settings_for(database_url, config_dir)
    with user_errors(), open_database(settings) as sessions:
        application = create_app(settings, sessions=sessions)  # configuration and key problems, before serving
    for warning in startup_warnings(settings, workers=workers):
        err_console.print(f"warning: {warning}", markup=False)
    err_console.print(f"serving on http://{host}:{port} (OpenAPI at /docs)", markup=False)
    if workers == 1:
        uvicorn.run(application, host=host, port=port, access_log=access_log, log_level="warning")
        return
    # Each worker process builds its own app from the environment: the command's options go there first.
    os.environ["REFERRAL_DATABASE_URL"] = settings.database_url
    os.environ["REFERRAL_CONFIG_DIR"] = str(settings.config_dir.resolve())
    uvicorn.run(
        "referral_automation.web.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level="warning",
    )
