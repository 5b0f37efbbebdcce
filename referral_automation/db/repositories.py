"""Core (not ORM) reads and writes of detection, in batches.

Detection handles tens of thousands of events a second, so these functions select plain rows with
SQLAlchemy Core and turn them into the domain's frozen values; nothing here builds ORM objects.
They never commit: the calling service owns the transaction (``with session.begin():``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, func, or_, select, text, union, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session
from sqlalchemy.sql import bindparam

from referral_automation.db.models import (
    AuditEntry,
    Customer,
    FlowState,
    JourneyEvent,
    Moment,
    ReferralRequest,
    Suppression,
)
from referral_automation.db.session import is_postgres
from referral_automation.domain.facts import CustomerFacts, EventFacts, MomentCandidate

customers: Table = Customer.__table__  # type: ignore[assignment]
events: Table = JourneyEvent.__table__  # type: ignore[assignment]
moments: Table = Moment.__table__  # type: ignore[assignment]
requests: Table = ReferralRequest.__table__  # type: ignore[assignment]
suppressions: Table = Suppression.__table__  # type: ignore[assignment]
flow_state: Table = FlowState.__table__  # type: ignore[assignment]
audit_log: Table = AuditEntry.__table__  # type: ignore[assignment]

#: Request statuses that do not count for the cool-down: nobody was (or will be) asked.
NOT_ASKED = ("rejected", "expired", "cancelled")
#: Values per ``IN (...)`` list: well below SQLite's and PostgreSQL's bound-parameter limits.
IN_CHUNK = 2000

T = TypeVar("T")


def chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def upsert_insert(session: Session, table: Table) -> Any:
    """A dialect ``INSERT`` that offers ``on_conflict_do_nothing`` on SQLite and PostgreSQL alike."""
    dialect = postgresql if is_postgres(session) else sqlite
    return dialect.insert(table)


# --------------------------------------------------------------------------- watermark
def lock_watermark(session: Session, name: str, *, now: datetime) -> int:
    """The watermark ``name``, created at 0 if missing and locked until the transaction ends.

    On PostgreSQL the row lock (``FOR UPDATE``) serialises concurrent runs; SQLite's
    ``BEGIN IMMEDIATE`` already admits one writer at a time.
    """
    create = upsert_insert(session, flow_state).values(name=name, position=0, updated_at=now)
    session.execute(create.on_conflict_do_nothing(index_elements=["name"]))
    query = select(flow_state.c.position).where(flow_state.c.name == name).with_for_update()
    return int(session.execute(query).scalar_one())


def set_watermark(session: Session, name: str, position: int, *, now: datetime) -> None:
    session.execute(update(flow_state).where(flow_state.c.name == name).values(position=position, updated_at=now))


def read_watermark(session: Session, name: str) -> int:
    position = session.execute(select(flow_state.c.position).where(flow_state.c.name == name)).scalar()
    return int(position or 0)


def event_horizon(session: Session) -> int:
    """The highest event ``seq`` below which no event can still appear.

    PostgreSQL hands out sequence values before commit, so seq 100 may commit after seq 101: a
    watermark moved past 101 would skip 100 for ever. ``LOCK TABLE … IN SHARE MODE`` waits for
    every transaction still inserting events, after which every seq up to the maximum is
    committed. The lock is held only for this short transaction. SQLite has one writer at a time.
    """
    if is_postgres(session):
        session.execute(text("SET LOCAL lock_timeout = '60s'"))
        session.execute(text(f"LOCK TABLE {events.name} IN SHARE MODE"))
    return int(session.execute(select(func.max(events.c.seq))).scalar() or 0)


# --------------------------------------------------------------------------- reads
def next_events(session: Session, *, after: int, upto: int, limit: int) -> tuple[int, int]:
    """How many events the next batch holds (at most ``limit`` with ``after < seq <= upto``) and
    the last ``seq`` among them (``after`` when there are none)."""
    batch = (
        select(events.c.seq)
        .where(events.c.seq > after, events.c.seq <= upto)
        .order_by(events.c.seq)
        .limit(limit)
        .subquery()
    )
    count, last = session.execute(select(func.count(), func.max(batch.c.seq))).one()
    return int(count), int(last if last is not None else after)


def events_in(session: Session, *, after: int, upto: int, types: Collection[str]) -> list[EventFacts]:
    """The events of ``types`` with ``after < seq <= upto``, in seq order (others never leave the database)."""
    if not types:
        return []
    query = (
        select(
            events.c.seq,
            events.c.event_id,
            events.c.customer_id,
            events.c.type,
            events.c.occurred_at,
            events.c.properties,
        )
        .where(events.c.seq > after, events.c.seq <= upto, events.c.type.in_(sorted(types)))
        .order_by(events.c.seq)
    )
    return [
        EventFacts(
            event_id=event_id,
            customer_id=customer_id,
            type=kind,
            occurred_at=occurred_at,
            properties=properties or {},
            seq=seq,
        )
        for seq, event_id, customer_id, kind, occurred_at, properties in session.execute(query)
    ]


def _suppressed(session: Session, emails: Collection[str]) -> set[str]:
    """Which of ``emails`` are suppressed, compared case-insensitively (as casefolded strings)."""
    wanted = sorted({e for email in emails for e in (email, email.casefold())})
    found: set[str] = set()
    for part in chunks(wanted):
        query = select(suppressions.c.email).where(suppressions.c.email.in_(part))
        found.update(email.casefold() for email in session.execute(query).scalars())
    return found


def customer_facts(session: Session, customer_ids: Collection[str]) -> dict[str, CustomerFacts]:
    """The customers by id, ``suppressed`` set when their address is in the suppression list."""
    columns = [
        customers.c.customer_id,
        customers.c.email,
        customers.c.first_name,
        customers.c.last_name,
        customers.c.company,
        customers.c.plan,
        customers.c.lifetime_value,
        customers.c.first_purchase_at,
        customers.c.timezone,
        customers.c.locale,
        customers.c.marketing_opt_in,
    ]
    rows: list[RowMapping] = []
    for part in chunks(sorted(customer_ids)):
        rows.extend(session.execute(select(*columns).where(customers.c.customer_id.in_(part))).mappings())
    suppressed = _suppressed(session, [row["email"] for row in rows])
    return {row["customer_id"]: CustomerFacts(**row, suppressed=row["email"].casefold() in suppressed) for row in rows}


def customers_to_decide(
    session: Session, *, after: str, limit: int, due_between: Sequence[tuple[datetime | None, datetime]]
) -> list[str]:
    """The next ``limit`` customer ids (> ``after``, ascending) with candidate moments, or whose
    ``first_purchase_at`` falls in one of ``due_between``'s ranges (time-based rules coming due)."""
    pending = select(moments.c.customer_id.label("customer_id")).where(
        moments.c.outcome == "candidate", moments.c.customer_id > after
    )
    queries = [pending]
    if due_between:
        ranges = [
            customers.c.first_purchase_at.between(low, high)
            if low is not None
            else customers.c.first_purchase_at <= high
            for low, high in due_between
        ]
        queries.append(
            select(customers.c.customer_id.label("customer_id")).where(customers.c.customer_id > after, or_(*ranges))
        )
    combined = union(*queries).subquery() if len(queries) > 1 else pending.distinct().subquery()
    query = select(combined.c.customer_id).order_by(combined.c.customer_id).limit(limit)
    return list(session.execute(query).scalars())


def candidate_moments(session: Session, customer_ids: Sequence[str]) -> list[MomentCandidate]:
    """The undecided moments of these customers, locked (PostgreSQL skips rows another run holds)."""
    found: list[MomentCandidate] = []
    for part in chunks(customer_ids):
        query = (
            select(
                moments.c.customer_id,
                moments.c.rule_id,
                moments.c.source_key,
                moments.c.occurred_at,
                moments.c.priority,
                moments.c.campaign,
                moments.c.event_seq,
            )
            .where(moments.c.outcome == "candidate", moments.c.customer_id.in_(part))
            .with_for_update(skip_locked=True)
        )
        found.extend(
            MomentCandidate(
                customer_id=customer_id,
                rule_id=rule_id,
                source_key=source_key,
                occurred_at=occurred_at,
                priority=priority,
                campaign=campaign,
                event_seq=event_seq,
                event_id=None if event_seq is None else source_key,
            )
            for customer_id, rule_id, source_key, occurred_at, priority, campaign, event_seq in session.execute(query)
        )
    return found


def recorded_time_moments(session: Session, customer_ids: Sequence[str]) -> set[tuple[str, str]]:
    """(customer, source key) of the time-based moments already recorded for these customers."""
    found: set[tuple[str, str]] = set()
    for part in chunks(customer_ids):
        query = select(moments.c.customer_id, moments.c.source_key).where(
            moments.c.customer_id.in_(part), moments.c.event_seq.is_(None)
        )
        found.update((customer_id, key) for customer_id, key in session.execute(query))
    return found


def events_between(
    session: Session, customer_ids: Sequence[str], *, start: datetime, end: datetime, types: Collection[str]
) -> dict[str, list[EventFacts]]:
    """Each customer's events of ``types`` with ``start <= occurred_at <= end``, oldest first."""
    found: dict[str, list[EventFacts]] = defaultdict(list)
    if not types:
        return found
    for part in chunks(customer_ids):
        query = (
            select(events.c.event_id, events.c.customer_id, events.c.type, events.c.occurred_at, events.c.properties)
            .where(
                events.c.customer_id.in_(part),
                events.c.occurred_at.between(start, end),
                events.c.type.in_(sorted(types)),
            )
            .order_by(events.c.customer_id, events.c.occurred_at, events.c.seq)
        )
        for event_id, customer_id, kind, occurred_at, properties in session.execute(query):
            found[customer_id].append(EventFacts(event_id, customer_id, kind, occurred_at, properties or {}))
    return found


def last_request_times(session: Session, customer_ids: Sequence[str]) -> dict[str, datetime]:
    """When each customer was last given a referral request that counts for the cool-down."""
    found: dict[str, datetime] = {}
    for part in chunks(customer_ids):
        query = (
            select(requests.c.customer_id, func.max(requests.c.created_at))
            .where(requests.c.customer_id.in_(part), requests.c.status.not_in(NOT_ASKED))
            .group_by(requests.c.customer_id)
        )
        found.update((customer_id, at) for customer_id, at in session.execute(query))
    return found


# --------------------------------------------------------------------------- writes
def count_new_moments(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert moments, skipping those already recorded; how many were inserted.

    SQLite reports the rows an ``executemany`` inserted, which is cheaper than ``RETURNING`` (the
    scan's hot path); PostgreSQL's driver does not, so there the inserted ids are counted.
    """
    if not rows:
        return 0
    if is_postgres(session):
        return len(insert_moments(session, rows))
    statement = upsert_insert(session, moments).on_conflict_do_nothing()
    return int(session.connection().execute(statement, list(rows)).rowcount)


def insert_moments(session: Session, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert moments, skipping those already recorded; the ids actually inserted."""
    if not rows:
        return set()
    statement = upsert_insert(session, moments).on_conflict_do_nothing().returning(moments.c.id)
    return set(session.execute(statement, list(rows)).scalars())


def decide_moments(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Record the outcome of candidate moments (rows: ``m_id, outcome, blocked_by, reason``)."""
    batch = list(rows)
    if not batch:
        return
    statement = (
        update(moments)
        .where(moments.c.id == bindparam("m_id"), moments.c.outcome == "candidate")
        .values(outcome=bindparam("outcome"), blocked_by=bindparam("blocked_by"), reason=bindparam("reason"))
    )
    session.connection().execute(statement, batch)


def insert_requests(session: Session, rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """Insert referral requests, skipping ids already there; (id, status) of those inserted."""
    if not rows:
        return []
    statement = (
        upsert_insert(session, requests)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(requests.c.id, requests.c.status)
    )
    return [(row_id, status) for row_id, status in session.execute(statement, list(rows))]


def insert_audit(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(audit_log.insert(), list(rows))
