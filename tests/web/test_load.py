"""The loopback load test: 1,000 signed Event Webhook posts of 100 events each from 8 concurrent
clients to a real ``referral-automation web`` (uvicorn), on SQLite and PostgreSQL.

None may be lost or duplicated: every post is answered 200, and the database holds exactly one
response per ``sg_event_id``, though one post in twenty is sent twice (as SendGrid retries).
Throughput is the benchmark's business (``benchmarks/web.py``), not this test's.
"""

from __future__ import annotations

import time

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import LinkClick, Response
from tests.support.web import EventKey
from tests.support.webload import Call, event_posts, run_clients, seed_requests, served

POSTS, PER_POST, CLIENTS = 1000, 100, 8


@pytest.mark.slow
@pytest.mark.xdist_group("loopback-load")
def test_no_event_is_lost_or_duplicated_under_load(
    db_url: str, factory: sessionmaker[Session], event_key: EventKey
) -> None:
    """It records 100,000 events from 8 concurrent clients exactly once each, retried posts included."""
    requests = [request_id for request_id, _ in seed_requests(db_url, 200)]
    timestamp = str(int(time.time()))
    bodies = event_posts(requests, posts=POSTS, per_post=PER_POST, timestamp=int(timestamp))
    calls = [Call("POST", "/webhooks/sendgrid/events", event_key.headers(body, timestamp), body) for body in bodies]
    retries = calls[::20]
    work = [calls[client::CLIENTS] + retries[client::CLIENTS] for client in range(CLIENTS)]
    environment = {
        "REFERRAL_DATABASE_URL": db_url,
        "SENDGRID_WEBHOOK_PUBLIC_KEY": event_key.public_key,
        "REFERRAL_SECRET_KEY": "load-test-secret-key-0123456789abcdef",
    }
    with served(environment) as server:
        answers, _ = run_clients(server, work)

    assert len(answers) == POSTS + len(retries)
    assert {answer.status for answer in answers} == {200}
    assert sum(orjson.loads(answer.body)["recorded"] for answer in answers) == POSTS * PER_POST
    with factory() as session:
        stored, distinct = session.execute(
            select(func.count(), func.count(func.distinct(Response.external_id))).where(
                Response.external_id.like("load-%")
            )
        ).one()
    assert (stored, distinct) == (POSTS * PER_POST, POSTS * PER_POST)


@pytest.mark.slow
@pytest.mark.xdist_group("loopback-load")
def test_no_click_is_lost_under_load(db_url: str, factory: sessionmaker[Session]) -> None:
    """It keeps every one of 4,000 redirects from 8 concurrent clients (written in batches) and
    records one first-click response per request, the unknown codes answered 404 and kept nowhere."""
    pairs = seed_requests(db_url, 100)
    calls = [Call("GET", f"/r/{pairs[n % len(pairs)][1]}", {"User-Agent": "Mozilla/5.0 (load)"}) for n in range(4000)]
    calls += [Call("GET", f"/r/unknowncode{n:04d}", {"User-Agent": "Mozilla/5.0 (load)"}) for n in range(200)]
    environment = {"REFERRAL_DATABASE_URL": db_url, "REFERRAL_SECRET_KEY": "load-test-secret-key-0123456789abcdef"}
    with served(environment) as server:
        answers, _ = run_clients(server, [calls[client::CLIENTS] for client in range(CLIENTS)])

    statuses = [answer.status for answer in answers]
    assert (statuses.count(302), statuses.count(404), len(statuses)) == (4000, 200, 4200)
    with factory() as session:
        clicks = session.execute(select(func.count()).select_from(LinkClick)).scalar_one()
        firsts = session.execute(
            select(func.count(), func.count(func.distinct(Response.referral_request_id))).where(
                Response.kind == "referral_clicked"
            )
        ).one()
    assert clicks == 4000
    assert tuple(firsts) == (100, 100)
