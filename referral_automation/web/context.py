"""What every request handler shares, built once when the app starts: settings, sessions, the
configuration, the link signer, the Event Webhook verifier and the clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, partial
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sendgrid.helpers.eventwebhook import EventWebhook
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from referral_automation.config import AppConfig
from referral_automation.errors import ReferralAutomationError
from referral_automation.services.links.signer import LinkSigner
from referral_automation.services.referrals.conversions import LedgerPolicy
from referral_automation.services.responses.clicks import Click, record_clicks
from referral_automation.settings import Settings
from referral_automation.web.clicks import ClickBatcher
from referral_automation.web.postgres_clicks import PostgresClickWriter

T = TypeVar("T")


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class WebContext:
    settings: Settings
    sessions: sessionmaker[Session]
    config: AppConfig
    signer: LinkSigner
    clock: Callable[[], datetime] = system_clock
    landing_pages: dict[str, str] = field(init=False)
    #: SQLite lets one writer in at a time: its writes go to one thread of their own, in order,
    #: instead of many threads taking turns through SQLite's busy handler (which sleeps up to
    #: 100 ms between tries). PostgreSQL's go to the shared threadpool and run side by side.
    _sqlite_writer: ThreadPoolExecutor | None = field(init=False)
    #: Referral-link clicks, written in batches (``web.clicks``); on PostgreSQL on the event loop.
    _clicks: ClickBatcher = field(init=False)
    _postgres_clicks: PostgresClickWriter | None = field(init=False)

    def __post_init__(self) -> None:
        self.landing_pages = {cid: campaign.landing_page for cid, campaign in self.config.campaigns.campaigns.items()}
        bind = self.sessions.kw.get("bind")
        sqlite = bind is not None and bind.dialect.name == "sqlite"
        self._sqlite_writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer") if sqlite else None
        self._postgres_clicks = None
        if bind is not None and bind.dialect.name == "postgresql" and bind.dialect.driver == "psycopg":
            self._postgres_clicks = PostgresClickWriter.for_engine(bind, self.signer, self._write_clicks)
        self._clicks = ClickBatcher(self._postgres_clicks.write if self._postgres_clicks else self._write_clicks)

    async def write(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)`` off the event loop (on SQLite, on the one writer thread)."""
        call = partial(function, *args, **kwargs)
        if self._sqlite_writer is None:
            return await run_in_threadpool(call)
        return await asyncio.get_running_loop().run_in_executor(self._sqlite_writer, call)

    async def record_click(self, click: Click) -> str | None:
        """Keep ``click`` (with the others arriving meanwhile); its request's campaign, None if unknown."""
        return await self._clicks.record(click)

    async def _write_clicks(self, clicks: Sequence[Click]) -> list[str | None]:
        return await self.write(record_clicks, self.sessions, clicks, signer=self.signer)

    async def close(self) -> None:
        """Finish what the SQLite writer thread was given; close the clicks' connection."""
        if self._postgres_clicks is not None:
            await self._postgres_clicks.close()
        if self._sqlite_writer is not None:
            self._sqlite_writer.shutdown(wait=True)

    def now(self) -> datetime:
        return self.clock()

    @cached_property
    def event_verifier(self) -> EventWebhook | None:
        """SendGrid's verifier for ``SENDGRID_WEBHOOK_PUBLIC_KEY``, or ``None`` when no key is set."""
        key = self.settings.sendgrid_webhook_public_key
        if key is None:
            return None
        try:
            return EventWebhook(key.get_secret_value().strip())
        except (ValueError, TypeError) as error:
            raise ReferralAutomationError(
                "SENDGRID_WEBHOOK_PUBLIC_KEY is not a base64 ECDSA public key (copy it from SendGrid's "
                f"Mail Settings, Signed Event Webhook): {type(error).__name__}"
            ) from None

    @property
    def ledger_policy(self) -> LedgerPolicy:
        return LedgerPolicy(self.settings.refund_window_days, self.settings.default_currency)

    def landing_url(self, campaign: str, code: str) -> str | None:
        """The campaign's landing page with ``ref={code}`` (replacing any ``ref`` it had)."""
        page = self.landing_pages.get(campaign)
        if page is None:
            return None
        parts = urlsplit(page)
        query = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name != "ref"]
        return urlunsplit(parts._replace(query=urlencode([*query, ("ref", code)])))
