"""Referral-link clicks: every click kept without an address, the first person's click a response."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.migrate import upgrade_to_head
from referral_automation.db.models import LinkClick, Response
from referral_automation.db.session import session_factory
from referral_automation.services.links.signer import LinkSigner
from referral_automation.services.responses.clicks import Click, record_clicks
from tests.reference.clicks import record_click as plain_record_click
from tests.support.clicks import AGENTS, BROWSER, IPS, SIGNER, snapshot
from tests.support.send import NOW, request_row
from tests.support.web import sent_request

Factory = sessionmaker[Session]


def record_click(factory: Factory, click: Click, *, signer: LinkSigner) -> str | None:
    """One click written alone (a batch of one, as the web app writes a lone click)."""
    return record_clicks(factory, [click], signer=signer)[0]


def click(code: str, *, ip: str = "203.0.113.7", agent: str = BROWSER, minutes: int = 0) -> Click:
    return Click(code=code, ip=ip, user_agent=agent, at=NOW + timedelta(minutes=minutes))


def test_clicks_are_kept_with_a_keyed_ip_hash(factory: Factory) -> None:
    """It stores each click with a keyed hash of the IP (never the address) and the campaign to redirect to."""
    _, code = sent_request(factory, "ann")
    assert record_click(factory, click(code), signer=SIGNER) == "customer_referral"
    assert record_click(factory, click(code, ip="::ffff:203.0.113.7", minutes=1), signer=SIGNER) == "customer_referral"
    with factory() as session:
        rows = list(session.execute(select(LinkClick)).scalars())
    assert len(rows) == 2
    assert rows[0].ip_hash == rows[1].ip_hash == SIGNER.hash_ip("203.0.113.7")
    assert "203.0.113.7" not in rows[0].ip_hash


def test_the_first_click_stops_follow_ups_once(factory: Factory) -> None:
    """It records one referral_clicked response for the first click, however many follow."""
    request_id, code = sent_request(factory, "ann")
    for minute in range(3):
        record_click(factory, click(code, minutes=minute), signer=SIGNER)
    with factory() as session:
        kinds = list(session.execute(select(Response.kind)).scalars())
    assert kinds == ["referral_clicked"]
    assert request_row(factory, request_id).next_followup_at is None


def test_a_link_checker_is_nobodys_response(factory: Factory) -> None:
    """It keeps a preview fetcher's click, marked automated, and leaves the follow-ups alone."""
    request_id, code = sent_request(factory, "ann")
    record_click(factory, click(code, agent="Slackbot-LinkExpanding 1.0"), signer=SIGNER)
    with factory() as session:
        (row,) = session.execute(select(LinkClick)).scalars()
        assert row.automated
        assert session.execute(select(Response)).first() is None
    assert request_row(factory, request_id).next_followup_at is not None


def test_an_unknown_code_records_nothing(factory: Factory) -> None:
    """It answers None for a code no request has, and stores nothing."""
    sent_request(factory, "ann")
    assert record_click(factory, click("unknowncode1"), signer=SIGNER) is None
    with factory() as session:
        assert session.execute(select(LinkClick)).first() is None


def test_the_driver_path_agrees_with_the_plain_way(factory: Factory, tmp_path: Path) -> None:
    """It stores exactly what the ORM reference stores, for the same clicks on hostile and odd input."""
    reference_url = f"sqlite:///{tmp_path}/reference.db"
    upgrade_to_head(reference_url)
    reference = session_factory(reference_url)
    ours = {name: sent_request(factory, name) for name in ("ann", "bob")}
    theirs = {name: sent_request(reference, name) for name in ("ann", "bob")}
    rng = random.Random(7)
    for minute in range(60):
        name = rng.choice(["ann", "bob", None])
        at, ip, agent = NOW + timedelta(minutes=minute), rng.choice(IPS), rng.choice(AGENTS)
        mine = Click(ours[name][1] if name else "unknowncode1", ip, agent, at)
        plain = Click(theirs[name][1] if name else "unknowncode1", ip, agent, at)
        assert record_click(factory, mine, signer=SIGNER) == plain_record_click(reference, plain, signer=SIGNER)
    assert snapshot(factory, {rid: name for name, (rid, _) in ours.items()}) == snapshot(
        reference, {rid: name for name, (rid, _) in theirs.items()}
    )


def test_a_batch_stores_what_one_click_at_a_time_stores(factory: Factory, tmp_path: Path) -> None:
    """It stores, for clicks written in batches of random sizes (the same code several times in one,
    unknown codes among them), exactly what the plain way stores one click at a time."""
    reference_url = f"sqlite:///{tmp_path}/reference.db"
    upgrade_to_head(reference_url)
    reference = session_factory(reference_url)
    ours = {name: sent_request(factory, name) for name in ("ann", "bob", "cy")}
    theirs = {name: sent_request(reference, name) for name in ("ann", "bob", "cy")}
    rng = random.Random(11)
    mine: list[Click] = []
    expected: list[str | None] = []
    for minute in range(80):
        name = rng.choice(["ann", "bob", "cy", None])
        at, ip, agent = NOW + timedelta(minutes=minute), rng.choice(IPS), rng.choice(AGENTS)
        plain = Click(theirs[name][1] if name else "unknowncode1", ip, agent, at)
        mine.append(Click(ours[name][1] if name else "unknowncode1", ip, agent, at))
        expected.append(plain_record_click(reference, plain, signer=SIGNER))
    answers: list[str | None] = []
    while mine:
        size = rng.randint(1, 12)
        answers += record_clicks(factory, mine[:size], signer=SIGNER)
        del mine[:size]
    assert answers == expected
    assert None in expected
    assert "customer_referral" in expected
    assert snapshot(factory, {rid: name for name, (rid, _) in ours.items()}) == snapshot(
        reference, {rid: name for name, (rid, _) in theirs.items()}
    )
