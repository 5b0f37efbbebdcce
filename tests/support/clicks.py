"""Clicks for the tests of ``responses.clicks`` and the web app's PostgreSQL writer: odd and hostile
agents and addresses, and what a database holds after them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import LinkClick, Response
from referral_automation.services.links.signer import LinkSigner
from tests.support.links import SIGNING_KEY

Factory = sessionmaker[Session]
SIGNER = LinkSigner(SIGNING_KEY)
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1.15"

AGENTS = [None, "", BROWSER, "Googlebot/2.1", "x" * 1000, "Ünïcödé \U0001f600 agent", "'; DROP TABLE link_clicks; --"]
IPS = [None, "203.0.113.7", "::ffff:203.0.113.7", "2001:db8::1", "not an ip", "999.1.1.1"]


def snapshot(factory: Factory, names: dict[str, str]) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The clicks and responses stored, each request named by ``names`` (its owner) instead of its id."""
    with factory() as session:
        clicks = session.execute(
            select(LinkClick.referral_request_id, LinkClick.clicked_at, LinkClick.ip_hash, LinkClick.user_agent,
                   LinkClick.automated).order_by(LinkClick.id)
        ).all()  # fmt: skip
        responses = session.execute(select(Response.referral_request_id, Response.kind).order_by(Response.id)).all()
    return (
        [(names[row[0]], *row[1:]) for row in clicks],
        [(names[str(row[0])], row[1]) for row in responses],
    )
