"""PostgreSQL's clicks on the event loop (``web.postgres_clicks``): what the plain way stores, one
round trip a batch, a batch with a first click handed to ``record_clicks``, and a connection that
went away replaced rather than failing the redirects."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.migrate import upgrade_to_head
from referral_automation.db.models import LinkClick, Response
from referral_automation.db.session import session_factory
from referral_automation.services.responses.clicks import Click, record_clicks
from referral_automation.web import postgres_clicks
from referral_automation.web.postgres_clicks import PostgresClickWriter
from tests.reference.clicks import record_click as plain_record_click
from tests.support.clicks import AGENTS, BROWSER, IPS, SIGNER, snapshot
from tests.support.databases import truncate_postgres
from tests.support.send import NOW
from tests.support.web import sent_request

pytestmark = pytest.mark.postgres
Factory = sessionmaker[Session]


@pytest.fixture
def postgres(postgres_schema_url: str) -> Factory:
    truncate_postgres(postgres_schema_url)
    return session_factory(postgres_schema_url)


class Fallback:
    """``record_clicks`` as the web app calls it (in the threadpool there), counting its batches."""

    def __init__(self, factory: Factory) -> None:
        self.factory = factory
        self.batches: list[list[str]] = []

    async def __call__(self, clicks: Sequence[Click]) -> list[str | None]:
        self.batches.append([click.code for click in clicks])
        return record_clicks(self.factory, clicks, signer=SIGNER)


def writer_for(factory: Factory, fallback: Fallback, *, timeout: float = 10.0) -> PostgresClickWriter:
    return PostgresClickWriter.for_engine(factory.kw["bind"], SIGNER, fallback, timeout=timeout)


def write(writer: PostgresClickWriter, clicks: Sequence[Click]) -> list[str | None]:
    """One batch on a loop of its own, as the test client may run one loop per request."""
    return asyncio.run(writer.write(clicks))


def stored_clicks(factory: Factory) -> int:
    with factory() as session:
        return int(session.execute(select(func.count()).select_from(LinkClick)).scalar_one())


def test_batches_store_what_one_click_at_a_time_stores(postgres: Factory, tmp_path: Path) -> None:
    """It stores, for batches of random sizes with first clicks, repeats, link checkers, hostile
    agents and unknown codes, exactly what the ORM reference stores one click at a time."""
    reference_url = f"sqlite:///{tmp_path}/reference.db"
    upgrade_to_head(reference_url)
    reference = session_factory(reference_url)
    names = ("ann", "bob", "cy", "dee")
    ours = {name: sent_request(postgres, name) for name in names}
    theirs = {name: sent_request(reference, name) for name in names}
    fallback = Fallback(postgres)
    writer = writer_for(postgres, fallback)
    rng = random.Random(5)
    mine: list[Click] = []
    expected: list[str | None] = []
    for minute in range(120):
        name = rng.choice([*names, None])
        at, ip, agent = NOW + timedelta(minutes=minute), rng.choice(IPS), rng.choice(AGENTS)
        expected.append(plain_record_click(reference, Click(theirs[name][1] if name else "unknowncode1", ip, agent, at),
                                           signer=SIGNER))  # fmt: skip
        mine.append(Click(ours[name][1] if name else "unknowncode1", ip, agent, at))
    answers: list[str | None] = []

    async def all_batches() -> None:
        while mine:
            size = rng.randint(1, 12)
            answers.extend(await writer.write(mine[:size]))
            del mine[:size]
        await writer.close()

    asyncio.run(all_batches())
    assert answers == expected
    assert 1 <= len(fallback.batches) <= len(names)  # only batches with a person's first click
    assert snapshot(postgres, {rid: name for name, (rid, _) in ours.items()}) == snapshot(
        reference, {rid: name for name, (rid, _) in theirs.items()}
    )


def test_a_batch_without_a_first_click_is_one_statement_and_needs_no_fallback(postgres: Factory) -> None:
    """It keeps repeat clicks with its own statement, committed as it runs, without the threadpool."""
    _, code = sent_request(postgres, "ann")
    fallback = Fallback(postgres)
    writer = writer_for(postgres, fallback)
    assert write(writer, [Click(code, "203.0.113.7", BROWSER, NOW)]) == ["customer_referral"]
    assert fallback.batches == [[code]]  # the first click, with its response
    assert write(writer, [Click(code, "203.0.113.8", BROWSER, NOW), Click("unknowncode1", None, None, NOW)]) == [
        "customer_referral",
        None,
    ]
    assert len(fallback.batches) == 1
    assert stored_clicks(postgres) == 2
    with postgres() as session:
        assert session.execute(select(func.count()).select_from(Response)).scalar_one() == 1


def test_a_connection_that_went_away_while_idle_is_replaced(postgres: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    """It checks a connection idle for a while and opens a new one when the server closed it, so
    the redirects after a database restart still answer."""
    _, code = sent_request(postgres, "ann")
    writer = writer_for(postgres, Fallback(postgres))
    monkeypatch.setattr(postgres_clicks, "IDLE_CHECK_SECONDS", 0.0)  # every pause is long enough

    async def scenario() -> list[str | None]:
        await writer.write([Click(code, None, BROWSER, NOW)])
        terminate_click_connections(postgres)
        answer = await writer.write([Click(code, None, BROWSER, NOW)])
        await writer.close()
        return answer

    assert asyncio.run(scenario()) == ["customer_referral"]
    assert stored_clicks(postgres) == 2


def test_a_statement_that_fails_fails_its_batch_and_the_next_batch_reconnects(postgres: Factory) -> None:
    """It answers the batch that lost its connection with the error (not retried: it may have
    committed), and the next batch works on a new connection."""
    _, code = sent_request(postgres, "ann")
    writer = writer_for(postgres, Fallback(postgres))

    async def scenario() -> tuple[BaseException | None, list[str | None]]:
        await writer.write([Click(code, None, BROWSER, NOW)])
        terminate_click_connections(postgres)
        error: BaseException | None = None
        try:
            await writer.write([Click(code, None, BROWSER, NOW)])
        except Exception as failure:
            error = failure
        answer = await writer.write([Click(code, None, BROWSER, NOW)])
        await writer.close()
        return error, answer

    error, answer = asyncio.run(scenario())
    assert error is not None
    assert answer == ["customer_referral"]
    assert stored_clicks(postgres) == 2


def test_a_statement_over_its_time_is_cancelled_in_the_server(postgres: Factory) -> None:
    """It gives up a batch stuck behind a lock after its time limit, cancels it in the server (the
    clicks are not stored later behind the redirect's back), and the next batch goes on."""
    _, code = sent_request(postgres, "ann")
    writer = writer_for(postgres, Fallback(postgres), timeout=0.5)
    write(writer, [Click(code, None, BROWSER, NOW)])
    engine = postgres.kw["bind"]

    async def stuck() -> None:
        await writer.write([Click(code, None, BROWSER, NOW)])

    with engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE link_clicks IN ACCESS EXCLUSIVE MODE"))
        with pytest.raises(TimeoutError):
            asyncio.run(stuck())
        blocker.rollback()
    assert stored_clicks(postgres) == 1
    assert write(writer, [Click(code, None, BROWSER, NOW)]) == ["customer_referral"]
    assert stored_clicks(postgres) == 2


def terminate_click_connections(factory: Factory) -> None:
    """End every other connection to the database (the writer's among them), as a restart would."""
    with factory() as session, session.begin():
        session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                " AND datname = current_database() AND application_name = '' AND state = 'idle'"
                " AND backend_type = 'client backend' AND query NOT LIKE '%pg_stat_activity%'"
                " AND query LIKE '%link_clicks%'"
            )
        )
