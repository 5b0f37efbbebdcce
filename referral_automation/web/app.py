"""``create_app``: the FastAPI app with its routers, its middleware and its shared context.

Everything a request needs is built once here (sessions, configuration, the link signer, the
Event Webhook verifier), so a request does its own work and no more. The engine's refusals map to
HTTP: ``NotFoundError`` 404, ``ConflictError`` 409, ``RefusedError`` 422, each with its reason as
``{"detail": ...}``, like FastAPI's own errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig, load_config
from referral_automation.db.session import session_factory
from referral_automation.errors import ConflictError, NotFoundError, RefusedError
from referral_automation.services.links.keys import accepted_keys, signing_key
from referral_automation.services.links.signer import LinkSigner
from referral_automation.settings import Settings, load_settings
from referral_automation.web.context import WebContext, system_clock
from referral_automation.web.limits import BodyLimit, SecurityHeaders
from referral_automation.web.routes import api, health, links, unsubscribe, webhooks

STATUS_OF = {NotFoundError: 404, ConflictError: 409, RefusedError: 422}


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = system_clock,
    sessions: sessionmaker[Session] | None = None,
    config: AppConfig | None = None,
) -> FastAPI:
    """The web app for ``settings`` (default: the environment); ``clock`` is injected for tests."""
    settings = settings or load_settings()
    sessions = sessions or session_factory(settings.database_url)
    config = config or load_config(settings.config_dir)
    key, accepted = signing_key(sessions, settings.secret_key), accepted_keys(sessions, settings.secret_key)
    signer = LinkSigner(key, settings.reply_address, accepted)
    context = WebContext(settings, sessions, config, signer, clock)
    _ = context.event_verifier  # a malformed public key is a start-up error, not a 500 per post

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await context.close()

    app = FastAPI(
        lifespan=lifespan,
        title="referral-automation",
        summary="SendGrid webhooks, referral links, unsubscribe links and the referral API.",
        version="0.1.0",
    )
    app.state.context = context
    for router in (webhooks.router, links.router, unsubscribe.router, api.router, health.router):
        app.include_router(router)
    for error_type, code in STATUS_OF.items():
        app.add_exception_handler(error_type, _answer_with(code))
    app.add_middleware(BodyLimit, webhook_limit=settings.web_max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app


def _answer_with(code: int) -> Callable[[Request, Exception], JSONResponse]:
    def answer(_request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=code)

    return answer


def app_from_environment() -> FastAPI:
    """The app for uvicorn's ``--factory`` (one per worker process), from the environment's settings."""
    return create_app()
