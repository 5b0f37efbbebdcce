"""``GET /healthz``: the app answers and its database does."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from referral_automation.web.deps import Context

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Health of the app and its database")
async def healthz(context: Context) -> JSONResponse:
    """200 when the database answers a query on the schema (``referral_requests``), else 503."""

    def check() -> dict[str, Any]:
        with context.sessions() as session:
            session.execute(text("SELECT 1 FROM referral_requests LIMIT 1"))
        return {"status": "ok", "database": "ok"}

    try:
        return JSONResponse(await run_in_threadpool(check))
    except SQLAlchemyError as error:
        # The error's class only: its text may carry the URL, and with it a password.
        reason = f"unavailable ({type(error).__name__}); is the schema initialised (`referral-automation init`)?"
        return JSONResponse({"status": "unavailable", "database": reason}, status_code=503)
