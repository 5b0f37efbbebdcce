"""Referral-link clicks (``GET /r/{code}``): every click kept, the first one a response.

The redirect is the hottest path of the web app, so clicks are written in batches: the web app
gathers the clicks that arrive while its last write runs (``web.clicks``) and ``record_clicks``
stores them in one transaction: one indexed read for all their codes (each request by its unique
code, with whether it was clicked before, from the responses' (request, kind) index) and one
insert of them all (SQLite: an executemany; PostgreSQL: the read and the insert are one statement,
``SELECT_AND_INSERT_POSTGRES``, one round trip). A transaction's fixed cost (the session, BEGIN,
COMMIT) is most of a lone click's, so under load a batch costs little more than one click. On
PostgreSQL the web app runs that statement on its event loop (``web.postgres_clicks``) and comes
back here only for a batch with a first click.

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
from referral_automation.db.sql import Driver, aware
from referral_automation.domain.inbound import is_automated_agent
from referral_automation.domain.responses import ResponseKind
from referral_automation.services.links.signer import LinkSigner
from referral_automation.services.responses.record import ResponseInput, record_in_session

clicks_table: Table = LinkClick.__table__  # type: ignore[assignment]
MAX_USER_AGENT = 300

#: The request by its unique code, and whether a person's first click was recorded (the responses'
#: (request, kind) index). Through the driver: SQLAlchemy's statement caching and result rows cost
#: more than both queries on this path (``tests/reference/clicks.py`` is the plain way).
_SELECT_BY_CODES = (
    "SELECT r.code, r.id, r.campaign, EXISTS (SELECT 1 FROM responses s WHERE s.referral_request_id = r.id"
    f" AND s.kind = '{ResponseKind.REFERRAL_CLICKED.value}') FROM referral_requests r WHERE r.code {Driver.IN_LIST}"
)
_INSERT = (
    "INSERT INTO link_clicks (referral_request_id, clicked_at, ip_hash, user_agent, automated) VALUES (?, ?, ?, ?, ?)"
)
#: PostgreSQL: the same lookup and the inserts in one statement, so a batch costs one round trip
#: and the commit (the clicks arrive as column arrays, ``postgres_parameters``, in psycopg's own
#: ``%s`` placeholders, which ``Driver`` passes on as they are; ``position`` keeps their order).
#: The lateral ``LIMIT 1`` probes the (request, kind) index per request: an ``EXISTS`` may be
#: planned as a hash of every recorded first click, which grows with the program.
#: With its last parameter false it inserts nothing when a person's first click is among the
#: clicks (a response must be recorded with them): the web app runs it alone, committed as it runs
#: (``web.postgres_clicks``), and leaves such a batch to ``record_clicks``.
SELECT_AND_INSERT_POSTGRES = f"""
WITH given (position, code, clicked_at, ip_hash, user_agent, automated) AS (
    SELECT * FROM unnest(%s::int[], %s::text[], %s::timestamptz[], %s::text[], %s::text[], %s::boolean[])
), found (code, id, campaign, clicked) AS (
    SELECT r.code, r.id, r.campaign, first_click.id IS NOT NULL FROM referral_requests r
    LEFT JOIN LATERAL (
        SELECT s.id FROM responses s
        WHERE s.referral_request_id = r.id AND s.kind = '{ResponseKind.REFERRAL_CLICKED.value}' LIMIT 1
    ) first_click ON true
    WHERE r.code IN (SELECT code FROM given)
), kept AS (
    INSERT INTO link_clicks (referral_request_id, clicked_at, ip_hash, user_agent, automated)
    SELECT found.id, given.clicked_at, given.ip_hash, given.user_agent, given.automated
    FROM given JOIN found ON found.code = given.code
    WHERE %s OR NOT EXISTS (
        SELECT 1 FROM given g JOIN found f ON f.code = g.code WHERE NOT f.clicked AND NOT g.automated
    )
    ORDER BY given.position
)
SELECT code, id, campaign, clicked FROM found
"""


@dataclass(frozen=True, slots=True)
class Click:
    """A click as the web app saw it."""

    code: str
    ip: str | None
    user_agent: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class StoredClick:
    """A click as stored: the IP already hashed, the user agent cut to its column."""

    code: str
    at: datetime
    ip_hash: str | None
    user_agent: str
    automated: bool

    @classmethod
    def of(cls, click: Click, signer: LinkSigner) -> StoredClick:
        return cls(
            code=click.code,
            at=click.at,
            ip_hash=signer.hash_ip(click.ip) if click.ip else None,
            user_agent=(click.user_agent or "")[:MAX_USER_AGENT],
            automated=is_automated_agent(click.user_agent),
        )


#: Each code's request: (request id, campaign, whether a person's first click is recorded).
Found = dict[str, tuple[str, str, bool]]


def record_clicks(
    session_factory: sessionmaker[Session], clicks: Sequence[Click], *, signer: LinkSigner
) -> list[str | None]:
    """Record ``clicks`` in one transaction, in order, each as if alone (``tests/reference/clicks.py``
    does one at a time); the campaign of each click's request (``None`` for an unknown code)."""
    stored = [StoredClick.of(click, signer) for click in clicks]
    with session_factory() as session, session.begin():
        driver = Driver(session)
        if driver.postgres:
            parameters = postgres_parameters(stored, with_first_clicks=True)
            found = found_in(driver.select(SELECT_AND_INSERT_POSTGRES, parameters))
        else:
            found = _insert_sqlite(driver, stored)
        campaigns, firsts = settle(stored, found)
        if firsts:
            record_in_session(session, firsts, now=max(first.occurred_at for first in firsts))
        return campaigns


def settle(stored: Sequence[StoredClick], found: Found) -> tuple[list[str | None], list[ResponseInput]]:
    """Each click's campaign (``None``: unknown code), and the first clicks by a person, in order,
    to record as responses (a code's first click in the batch, when none was recorded before)."""
    clicked = {code for code, (_, _, before) in found.items() if before}
    campaigns: list[str | None] = []
    firsts: list[ResponseInput] = []
    for click in stored:
        hit = found.get(click.code)
        if hit is None:
            campaigns.append(None)
            continue
        request_id, campaign, _ = hit
        if click.code not in clicked and not click.automated:
            firsts.append(_first_click(request_id, click.at))
            clicked.add(click.code)
        campaigns.append(campaign)
    return campaigns, firsts


def found_in(rows: Sequence[Sequence[Any]]) -> Found:
    """``Found`` from rows of (code, request id, campaign, clicked before)."""
    return {code: (request_id, str(campaign), bool(clicked)) for code, request_id, campaign, clicked in rows}


def postgres_parameters(stored: Sequence[StoredClick], *, with_first_clicks: bool) -> tuple[Any, ...]:
    """``SELECT_AND_INSERT_POSTGRES``'s column arrays, and whether it inserts a batch with a first click."""
    return (
        list(range(len(stored))),
        [click.code for click in stored],
        [aware(click.at) for click in stored],
        [click.ip_hash for click in stored],
        [click.user_agent for click in stored],
        [click.automated for click in stored],
        with_first_clicks,
    )


def _insert_sqlite(driver: Driver, stored: Sequence[StoredClick]) -> Found:
    codes = list(dict.fromkeys(click.code for click in stored))
    found = found_in(list(driver.select_in(_SELECT_BY_CODES, codes)))
    rows = [
        (found[click.code][0], driver.timestamp_in(click.at), click.ip_hash, click.user_agent, click.automated)
        for click in stored
        if click.code in found
    ]
    driver.execute_many(_INSERT, rows)
    return found


def _first_click(request_id: str, at: datetime) -> ResponseInput:
    return ResponseInput(
        kind=ResponseKind.REFERRAL_CLICKED,
        occurred_at=at,
        source="link",
        referral_request_id=request_id,
        external_id=f"referral-click:{request_id}",
    )
