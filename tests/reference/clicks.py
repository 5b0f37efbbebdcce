"""The ORM way of referral-link clicks, one at a time: the reference for ``responses.clicks.record_clicks``."""

from __future__ import annotations

from sqlalchemy import exists, insert, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import LinkClick, ReferralRequest, Response
from referral_automation.domain.inbound import is_automated_agent
from referral_automation.domain.responses import ResponseKind
from referral_automation.services.links.signer import LinkSigner
from referral_automation.services.responses.clicks import MAX_USER_AGENT, Click
from referral_automation.services.responses.record import ResponseInput, record_in_session


def record_click(session_factory: sessionmaker[Session], click: Click, *, signer: LinkSigner) -> str | None:
    """The click kept, the first person's click a response; the code's campaign or ``None``."""
    clicked_before = exists().where(
        Response.referral_request_id == ReferralRequest.id, Response.kind == ResponseKind.REFERRAL_CLICKED.value
    )
    query = select(ReferralRequest.id, ReferralRequest.campaign, clicked_before).where(
        ReferralRequest.code == click.code
    )
    with session_factory() as session, session.begin():
        row = session.execute(query).first()
        if row is None:
            return None
        request_id, campaign, before = row
        automated = is_automated_agent(click.user_agent)
        session.execute(
            insert(LinkClick),
            {
                "referral_request_id": request_id,
                "clicked_at": click.at,
                "ip_hash": signer.hash_ip(click.ip) if click.ip else None,
                "user_agent": (click.user_agent or "")[:MAX_USER_AGENT],
                "automated": automated,
            },
        )
        if not before and not automated:
            first = ResponseInput(
                kind=ResponseKind.REFERRAL_CLICKED,
                occurred_at=click.at,
                source="link",
                referral_request_id=request_id,
                external_id=f"referral-click:{request_id}",
            )
            record_in_session(session, [first], now=click.at)
        return str(campaign)
