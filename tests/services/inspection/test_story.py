"""One request's story: customer, moment in words, arm, decisions, messages, responses, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import JourneyEvent, Message, Moment, ReferralRequest, Response
from referral_automation.db.shared import insert_audit
from referral_automation.services.inspection.lookup import NotFoundError
from referral_automation.services.inspection.story import request_story
from tests.support.detect_factories import add_event, suppress
from tests.support.factories import NOW, add_decision, add_request

HOUR = timedelta(hours=1)


def message(request_id: str, step: int, status: str, provider_id: str | None, error: str | None = None) -> Message:
    at = NOW + step * HOUR
    return Message(id=f"{request_id[:8]}-{step}", referral_request_id=request_id, sequence_step=step, status=status,
                   provider="sendgrid", provider_message_id=provider_id, subject=f"Subject {step}", content_hash="h",
                   created_at=at, sent_at=at if status == "sent" else None, error=error)  # fmt: skip


def audit(subject_type: str, subject_id: str, action: str, **details: object) -> dict[str, object]:
    return {"at": NOW, "actor": "tester", "action": action, "subject_type": subject_type, "subject_id": subject_id,
            "details": details}  # fmt: skip


@pytest.fixture
def story_request(factory: sessionmaker[Session]) -> str:
    """A request of c1 from an NPS of 10, approved, sent and followed up once, with responses and audit lines."""
    request_id = add_request(factory, "c1", status="sent", sent_at=NOW, followups_sent=1)
    other = add_request(factory, "c1", status="rejected")
    add_decision(factory, request_id, "approved", by="Maria", at=NOW - HOUR, note="go")
    add_event(factory, "c1", "nps_submitted", at=NOW - 2 * HOUR, event_id="ev-nps", score=10)
    suppress(factory, "c1@example.com", reason="spam_reported")
    with factory() as session, session.begin():
        seq = session.query(JourneyEvent.seq).filter_by(event_id="ev-nps").scalar()
        moment_id = session.get_one(ReferralRequest, request_id).moment_id
        session.execute(update(Moment).where(Moment.id == moment_id).values(event_seq=seq))
        session.add_all([message(request_id, 0, "sent", "sg-0"), message(request_id, 1, "failed", None, "bounced")])
        session.add(Response(referral_request_id=request_id, kind="opened", occurred_at=NOW + HOUR, source="sendgrid"))
        insert_audit(session, [
            audit("referral_request", request_id, "approval_approved", note="go"),
            audit("customer", "c1", "timezone_fallback", referral_request_id=request_id),
            audit("customer", "c1", "timezone_fallback", referral_request_id=other),
            audit("referral_request", other, "approval_rejected"),
        ])  # fmt: skip
    return request_id


def test_the_story_tells_everything_about_the_request(factory: sessionmaker[Session], story_request: str) -> None:
    """It gathers the customer (suppressed), the moment in words, decisions, messages with provider ids,
    responses, follow-ups and the audit lines about this request only."""
    story = request_story(factory, story_request[:8])

    assert story.request.id == story_request
    assert (story.customer.customer_id, story.customer.name, story.customer.suppression) == (
        "c1", "Ada Lovelace", "spam reported via test on 2026-03-04")  # fmt: skip
    assert story.moment is not None
    assert story.moment.words() == "nps_submitted (score 10) on 2026-03-03 09:00 UTC, rule nps_promoter"
    assert [d.summary() for d in story.request.decisions] == ["approved by Maria at 2026-03-04 09:00 UTC: go"]
    assert [(m.step, m.status, m.provider_message_id, m.error) for m in story.messages] == [
        (0, "sent", "sg-0", None),
        (1, "failed", None, "bounced"),
    ]
    assert [(r.kind, r.source) for r in story.responses] == [("opened", "sendgrid")]
    assert [(a.subject_type, a.action) for a in story.audit] == [
        ("referral_request", "approval_approved"),
        ("customer", "timezone_fallback"),
    ]
    document = story.as_json()
    assert document["messages"][0]["provider_message_id"] == "sg-0"
    assert document["moment"]["event_id"] == "ev-nps"


def test_an_ambiguous_prefix_is_refused(factory: sessionmaker[Session]) -> None:
    """It asks for more characters when a prefix names two requests."""
    add_request(factory, "c1", request_id="abcdefgh-0000-5000-8000-000000000001")
    add_request(factory, "c2", request_id="abcdefgh-0000-5000-8000-000000000002")
    with pytest.raises(NotFoundError, match="is ambiguous"):
        request_story(factory, "abcdefgh")


def test_a_request_from_a_time_rule_has_no_event(factory: sessionmaker[Session]) -> None:
    """It words a moment without an event as its time-based rule coming due."""
    request_id = add_request(factory, "c1")
    with factory() as session, session.begin():
        session.execute(update(Moment).values(rule_id="settled_in", source_key="time:settled_in"))
    story = request_story(factory, request_id)
    assert story.moment is not None
    assert story.moment.words() == "time-based rule settled_in came due on 2026-03-03 09:00 UTC"
    assert story.messages == ()
    assert story.responses == ()
