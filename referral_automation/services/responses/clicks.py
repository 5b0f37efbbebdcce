"""Referral-link clicks (``GET /r/{code}``): every click kept, the first one a response.

The redirect is the hottest path of the web app, so clicks are written in batches: the web app
gathers the clicks that arrive while its last write runs (``web.clicks``) and ``record_clicks``
stores them in one transaction: one indexed read for all their codes (each request by its unique
code, with whether it was clicked before, from the responses' (request, kind) index) and one
executemany of the inserts. A transaction's fixed cost (the session, BEGIN, COMMIT) is most of a
lone click's, so under load a batch costs little more than one click.

The first click by a person (not a link checker: ``domain.inbound.is_automated_agent``) is also a
``referral_clicked`` response, which stops the request's follow-ups; its ``external_id``
(``referral-click:<request>``) keeps two first clicks at once from both counting.

No address is stored: the client's IP is kept as a keyed hash (``LinkSigner.hash_ip``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import LinkClick
from referral_automation.db.sql import Driver
from referral_automation.domain.inbound import is_automated_agent
from referral_automation.domain.responses import ResponseKind
from referral_automation.services.links.signer import LinkSigner
from referral_automation.services.responses.record import ResponseInput, record_in_session

clicks_table: Table = LinkClick.__table__  # type: ignore[assignment]
MAX_USER_AGENT = 300

#: The request by its unique code, and whether a person's first click was recorded (the responses'
#: (request, kind) index). Through the driver: SQLAlchemy's statement caching and result rows cost
#: more than both queries on this path (``tests/reference/clicks.py`` is the plain way).
_BY_CODES = (
    "SELECT r.code, r.id, r.campaign, EXISTS (SELECT 1 FROM responses s WHERE s.referral_request_id = r.id"
    f" AND s.kind = '{ResponseKind.REFERRAL_CLICKED.value}') FROM referral_requests r WHERE r.code {Driver.IN_LIST}"
)
_INSERT = (
    "INSERT INTO link_clicks (referral_request_id, clicked_at, ip_hash, user_agent, automated) VALUES (?, ?, ?, ?, ?)"
)


@dataclass(frozen=True, slots=True)
class Click:
    """A click as the web app saw it."""

    code: str
    ip: str | None
    user_agent: str | None
    at: datetime


def record_clicks(
    session_factory: sessionmaker[Session], clicks: Sequence[Click], *, signer: LinkSigner
) -> list[str | None]:
    """Record ``clicks`` in one transaction, in order, each as if alone (``tests/reference/clicks.py``
    does one at a time); the campaign of each click's request (``None`` for an unknown code)."""
    with session_factory() as session, session.begin():
        driver = Driver(session)
        codes = list(dict.fromkeys(click.code for click in clicks))
        found = {code: (request_id, campaign, bool(clicked)) for code, request_id, campaign, clicked in
                 driver.select_in(_BY_CODES, codes)}  # fmt: skip
        rows: list[tuple[Any, ...]] = []
        firsts: list[ResponseInput] = []
        campaigns: list[str | None] = []
        for click in clicks:
            hit = found.get(click.code)
            if hit is None:
                campaigns.append(None)
                continue
            request_id, campaign, clicked_before = hit
            automated = is_automated_agent(click.user_agent)
            ip_hash = signer.hash_ip(click.ip) if click.ip else None
            agent = (click.user_agent or "")[:MAX_USER_AGENT]
            rows.append((request_id, driver.timestamp_in(click.at), ip_hash, agent, automated))
            if not clicked_before and not automated:
                firsts.append(_first_click(request_id, click.at))
                found[click.code] = (request_id, campaign, True)
            campaigns.append(str(campaign))
        driver.execute_many(_INSERT, rows)
        if firsts:
            record_in_session(session, firsts, now=max(first.occurred_at for first in firsts))
        return campaigns


def _first_click(request_id: str, at: datetime) -> ResponseInput:
    return ResponseInput(
        kind=ResponseKind.REFERRAL_CLICKED,
        occurred_at=at,
        source="link",
        referral_request_id=request_id,
        external_id=f"referral-click:{request_id}",
    )
