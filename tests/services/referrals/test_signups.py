"""Referees signing up with a code: counted once, refused when it is the advocate, held when it looks wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Referral, ReferralRequest, Response
from referral_automation.domain.statuses import ReferralStatus
from referral_automation.errors import ConflictError, NotFoundError, RefusedError
from referral_automation.services.referrals.inputs import SignupIn
from referral_automation.services.referrals.signups import ReviewPolicy, record_signup
from tests.support.send import NOW
from tests.support.web import sent_request


def signup(code: str, email: str, **fields: object) -> SignupIn:
    return SignupIn(code=code, email=email, **fields)  # type: ignore[arg-type]


def referrals(factory: sessionmaker[Session]) -> list[Referral]:
    with factory() as session:
        return list(session.execute(select(Referral).order_by(Referral.created_at)).scalars())


def response_kinds(factory: sessionmaker[Session], request_id: str) -> list[str]:
    with factory() as session:
        query = select(Response.kind).where(Response.referral_request_id == request_id)
        return sorted(session.execute(query).scalars())


def test_a_signup_counts_as_a_referral_and_stops_follow_ups(
    factory: sessionmaker[Session], advocate: tuple[str, str]
) -> None:
    """It records the referee and a referral response on the advocate's request, whose follow-ups stop."""
    request_id, code = advocate
    result = record_signup(factory, signup(code, "Bob@Corp.example", name="Bob Builder"), now=NOW, source="test")
    assert result.status is ReferralStatus.ACCEPTED
    (row,) = referrals(factory)
    assert (row.referee_email, row.referee_canonical, row.referee_name) == (
        "Bob@corp.example",
        "bob@corp.example",
        "Bob Builder",
    )
    assert response_kinds(factory, request_id) == ["referral"]
    with factory() as session:
        request = session.get(ReferralRequest, request_id)
        assert request is not None
        assert request.next_followup_at is None


def test_an_unknown_code_is_not_found(factory: sessionmaker[Session], advocate: tuple[str, str]) -> None:
    """It refuses a well-formed code no request has, and records nothing."""
    with pytest.raises(NotFoundError, match="no referral request has the code"):
        record_signup(factory, signup("nobodyhasthis", "bob@corp.example"), now=NOW, source="test")
    assert referrals(factory) == []


@pytest.mark.parametrize("address", ["ann@example.com", "ANN@Example.com"])
def test_the_advocate_cannot_refer_themselves(
    factory: sessionmaker[Session], advocate: tuple[str, str], address: str
) -> None:
    """It refuses the advocate's own mailbox, however it is spelled."""
    with pytest.raises(RefusedError, match="self-referral"):
        record_signup(factory, signup(advocate[1], address), now=NOW, source="test")
    assert referrals(factory) == []


def test_a_gmail_alias_of_the_advocate_is_a_self_referral(factory: sessionmaker[Session]) -> None:
    """It refuses a Gmail address with dots and a +tag that delivers to the advocate's mailbox."""
    _, code = sent_request(factory, "gina", email="gina.lopez@gmail.com")
    with pytest.raises(RefusedError):
        record_signup(factory, signup(code, "G.i.n.a.Lopez+friend@googlemail.com"), now=NOW, source="test")


def test_the_same_referee_twice_is_one_referral(factory: sessionmaker[Session], advocate: tuple[str, str]) -> None:
    """It refuses a second sign-up of the same mailbox (another spelling, another code) as a conflict."""
    _, other_code = sent_request(factory, "carl")
    record_signup(factory, signup(advocate[1], "dee.dee@gmail.com"), now=NOW, source="test")
    with pytest.raises(ConflictError, match="already referred"):
        record_signup(factory, signup(other_code, "deedee+promo@gmail.com"), now=NOW, source="test")
    assert len(referrals(factory)) == 1


def test_a_disposable_address_is_held_for_review(factory: sessionmaker[Session], advocate: tuple[str, str]) -> None:
    """It keeps a throwaway address's sign-up, held with its reason, and counts nothing yet."""
    request_id, code = advocate
    result = record_signup(factory, signup(code, "x1@mailinator.com"), now=NOW, source="test")
    assert result.status is ReferralStatus.HELD
    assert result.reasons == ("disposable address domain: mailinator.com",)
    assert response_kinds(factory, request_id) == []


def test_a_code_used_far_more_than_usual_is_held(factory: sessionmaker[Session], advocate: tuple[str, str]) -> None:
    """It holds the sign-ups of a code once its use in the window passes the floor."""
    policy = ReviewPolicy(window=timedelta(hours=24), floor=3, factor=5.0)
    statuses = [
        record_signup(factory, signup(advocate[1], f"friend{i}@corp.example"), now=NOW, source="t", policy=policy)
        for i in range(5)
    ]
    assert [s.status for s in statuses] == ["accepted"] * 3 + ["held"] * 2
    assert "unusual code use" in statuses[-1].reasons[0]


def test_use_outside_the_window_does_not_count(factory: sessionmaker[Session], advocate: tuple[str, str]) -> None:
    """It counts only the sign-ups inside the window before this one."""
    policy = ReviewPolicy(window=timedelta(hours=24), floor=1, factor=5.0)
    old = signup(advocate[1], "early@corp.example", occurred_at=NOW - timedelta(days=3))
    record_signup(factory, old, now=NOW, source="t", policy=policy)
    assert record_signup(
        factory, signup(advocate[1], "late@corp.example"), now=NOW, source="t", policy=policy
    ).status == (ReferralStatus.ACCEPTED)
