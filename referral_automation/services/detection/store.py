"""Reads and writes of detection, in batches.

Detection handles tens of thousands of events a second, so nothing here builds ORM objects: the
once-a-batch statements use SQLAlchemy Core, and the statements that carry thousands of rows go
to the driver as plain tuples (``db.sql``: SQLite ``executemany``, PostgreSQL ``COPY``), read
rows turning straight into the domain's frozen values.
They never commit: the calling service owns the transaction (``with session.begin():``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, func, or_, select, text, union, update
from sqlalchemy.orm import Session

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
from referral_automation.db.sql import Driver, chunks, dialect_insert, from_json
from referral_automation.domain.facts import EventFacts, MomentCandidate
from referral_automation.domain.statuses import NOT_ASKED, MomentOutcome

customers: Table = Customer.__table__  # type: ignore[assignment]
events: Table = JourneyEvent.__table__  # type: ignore[assignment]
moments: Table = Moment.__table__  # type: ignore[assignment]
requests: Table = ReferralRequest.__table__  # type: ignore[assignment]
suppressions: Table = Suppression.__table__  # type: ignore[assignment]
flow_state: Table = FlowState.__table__  # type: ignore[assignment]
audit_log: Table = AuditEntry.__table__  # type: ignore[assignment]


# --------------------------------------------------------------------------- watermark
def lock_watermark(session: Session, name: str, *, now: datetime) -> int:
    """The watermark ``name``, created at 0 if missing and locked until the transaction ends.

    On PostgreSQL the row lock (``FOR UPDATE``) serialises concurrent runs; SQLite's
    ``BEGIN IMMEDIATE`` already admits one writer at a time.
    """
    create = dialect_insert(session, flow_state).values(name=name, position=0, updated_at=now)
    session.execute(create.on_conflict_do_nothing(index_elements=["name"]))
    query = select(flow_state.c.position).where(flow_state.c.name == name).with_for_update()
    return int(session.execute(query).scalar_one())


def set_watermark(session: Session, name: str, position: int, *, now: datetime) -> None:
    session.execute(update(flow_state).where(flow_state.c.name == name).values(position=position, updated_at=now))


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
    the last ``seq`` among them (``after`` when there are none).

    Every query looks at a bounded range of ``seq``, starting with ``(after, after + limit]``
    (which holds the whole batch when no ``seq`` is missing) and doubling while it holds fewer:
    a query over everything after the watermark costs each batch the whole remaining backlog on
    PostgreSQL, whose planner picks a bitmap scan and a sort when its statistics lag behind an ingest.
    """
    if limit <= 0:
        return 0, after
    db = Driver(session)
    span = limit
    while True:
        bound = min(upto, after + span)
        count, last = db.select(
            f"SELECT count(*), max(seq) FROM {events.name} WHERE seq > ? AND seq <= ?", (after, bound)
        )[0]
        if count >= limit or bound >= upto:
            break
        span *= 2
    if count > limit:  # the range holds more than a batch: its last one is the limit-th
        query = f"SELECT seq FROM {events.name} WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT 1 OFFSET ?"
        ((last,),) = db.select(query, (after, bound, limit - 1))
        count = limit
    return int(count), int(last if last is not None else after)


#: An event as the scan reads it: seq, event id, customer id, type, occurred_at, properties.
EventRow = tuple[int, str, str, str, datetime, dict[str, Any]]


def event_rows(session: Session, *, after: int, upto: int, types: Collection[str]) -> list[EventRow]:
    """The events of ``types`` with ``after < seq <= upto``, in seq order (others never leave the
    database), as plain tuples: the scan reads tens of thousands and keeps none."""
    if not types:
        return []
    db = Driver(session)
    kinds, kind_params = db.any_of(sorted(types))
    found = db.select(
        f"SELECT seq, event_id, customer_id, type, occurred_at, {db.json_text('properties')} FROM {events.name}"
        f" WHERE seq > ? AND seq <= ? AND type {kinds} ORDER BY seq",
        (after, upto, *kind_params),
    )
    timestamp = db.timestamp_out
    return [
        (seq, event_id, customer_id, kind, timestamp(occurred_at), from_json(properties) or {})
        for seq, event_id, customer_id, kind, occurred_at, properties in found
    ]


def customers_to_decide(
    session: Session, *, after: str, limit: int, due_between: Sequence[tuple[datetime | None, datetime]]
) -> list[str]:
    """The next ``limit`` customer ids (> ``after``, ascending) with candidate moments, or whose
    ``first_purchase_at`` falls in one of ``due_between``'s ranges (time-based rules coming due)."""
    pending = select(moments.c.customer_id.label("customer_id")).where(
        moments.c.outcome == MomentOutcome.CANDIDATE, moments.c.customer_id > after
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
    db = Driver(session)
    lock = " FOR UPDATE SKIP LOCKED" if db.postgres else ""
    query = (
        "SELECT customer_id, rule_id, source_key, occurred_at, priority, campaign, event_seq"
        f" FROM {moments.name} WHERE customer_id {db.IN_LIST} AND outcome = '{MomentOutcome.CANDIDATE}'{lock}"
    )
    timestamp = db.timestamp_out
    return [
        MomentCandidate(
            customer_id,
            rule_id,
            source_key,
            timestamp(occurred_at),
            priority,
            campaign,
            event_seq,
            None if event_seq is None else source_key,
        )
        for customer_id, rule_id, source_key, occurred_at, priority, campaign, event_seq in db.select_in(
            query, customer_ids
        )
    ]


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
    db = Driver(session)
    kinds, kind_params = db.any_of(sorted(types))
    query = (
        f"SELECT event_id, customer_id, type, occurred_at, {db.json_text('properties')} FROM {events.name}"
        f" WHERE customer_id {db.IN_LIST} AND occurred_at BETWEEN ? AND ? AND type {kinds}"
        " ORDER BY customer_id, occurred_at, seq"
    )
    params = (db.timestamp_in(start), db.timestamp_in(end), *kind_params)
    timestamp = db.timestamp_out
    for event_id, customer_id, kind, occurred_at, properties in db.select_in(query, customer_ids, params):
        found[customer_id].append(
            EventFacts(event_id, customer_id, kind, timestamp(occurred_at), from_json(properties) or {})
        )
    return found


def last_request_times(session: Session, customer_ids: Sequence[str]) -> dict[str, datetime]:
    """When each customer was last given a referral request that counts for the cool-down."""
    db = Driver(session)
    statuses, status_params = db.any_of([status.value for status in NOT_ASKED])
    query = (
        f"SELECT customer_id, max(created_at) FROM {requests.name}"
        f" WHERE customer_id {db.IN_LIST} AND NOT (status {statuses}) GROUP BY customer_id"
    )
    timestamp = db.timestamp_out
    return {customer_id: timestamp(at) for customer_id, at in db.select_in(query, customer_ids, status_params)}


# --------------------------------------------------------------------------- writes
MOMENT_COLUMNS = (
    "id", "customer_id", "rule_id", "source_key", "event_seq", "occurred_at", "detected_at",
    "priority", "campaign", "outcome", "blocked_by", "reason",
)  # fmt: skip
REQUEST_COLUMNS = (
    "id", "customer_id", "moment_id", "campaign", "variant", "incentive", "code", "unsubscribe_token", "status",
    "approval_required", "approval_reason", "approval_expires_at", "scheduled_for", "created_at", "updated_at",
    "model_version", "arm_propensity", "from_holdout",
)  # fmt: skip
#: Columns of a new request whose model default is applied in Python (so a plain INSERT must give them).
_REQUEST_DEFAULTS = {"followups_sent": 0, "attempts": 0}


def _moment_tuples(db: Driver, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Moment rows as the driver takes them, in ``MOMENT_COLUMNS`` order (both timestamps converted)."""
    values = itemgetter(*MOMENT_COLUMNS)
    occurred, detected = db.timestamps_in(), db.timestamps_in()
    return [(*row[:5], occurred(row[5]), detected(row[6]), *row[7:]) for row in map(values, rows)]


def count_new_moments(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert moments, skipping those already recorded; how many were inserted (the scan's hot path)."""
    if not rows:
        return 0
    db = Driver(session)
    values = _moment_tuples(db, rows)
    if db.postgres:
        return db.execute(db.staged_insert(moments, MOMENT_COLUMNS, values, "ON CONFLICT DO NOTHING"))
    marks = ", ".join("?" * len(MOMENT_COLUMNS))
    sql = f"INSERT INTO {moments.name} ({', '.join(MOMENT_COLUMNS)}) VALUES ({marks}) ON CONFLICT DO NOTHING"
    return db.execute_many(sql, values)


def insert_moments(session: Session, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert moments, skipping those already recorded; the ids actually inserted."""
    if not rows:
        return set()
    statement = dialect_insert(session, moments).on_conflict_do_nothing().returning(moments.c.id)
    return set(session.execute(statement, list(rows)).scalars())


def decide_moments(session: Session, rows: Sequence[tuple[str, str, str | None, str | None]]) -> None:
    """Record the outcome of candidate moments (rows: ``moment id, outcome, blocked_by, reason``)."""
    if not rows:
        return
    db = Driver(session)
    if db.postgres:
        db.execute(
            f"UPDATE {moments.name} AS m SET outcome = u.outcome, blocked_by = u.blocked_by, reason = u.reason"
            " FROM unnest(?::text[], ?::text[], ?::text[], ?::text[]) AS u(id, outcome, blocked_by, reason)"
            f" WHERE m.id = u.id AND m.outcome = '{MomentOutcome.CANDIDATE}'",
            [list(column) for column in zip(*rows, strict=True)],
        )
        return
    db.execute_many(
        f"UPDATE {moments.name} SET outcome = ?, blocked_by = ?, reason = ?"
        f" WHERE id = ? AND outcome = '{MomentOutcome.CANDIDATE}'",
        [(outcome, guard, reason, moment_id) for moment_id, outcome, guard, reason in rows],
    )


def insert_requests(session: Session, rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """Insert referral requests, skipping ids already there; (id, status) of those inserted."""
    if not rows:
        return []
    db = Driver(session)
    expires, scheduled, created, updated = (db.timestamps_in() for _ in range(4))
    defaults = tuple(_REQUEST_DEFAULTS.values())
    values = [
        (*row[:11], expires(row[11]), scheduled(row[12]), created(row[13]), updated(row[14]), *row[15:], *defaults)
        for row in map(itemgetter(*REQUEST_COLUMNS), rows)
    ]
    columns = (*REQUEST_COLUMNS, *_REQUEST_DEFAULTS)
    if db.postgres:
        sql = db.staged_insert(requests, columns, values, "ON CONFLICT (id) DO NOTHING RETURNING id, status")
        return [(row_id, status) for row_id, status in db.select(sql)]
    # This transaction is SQLite's only writer (BEGIN IMMEDIATE): the ids not there before are the ones inserted.
    query = f"SELECT id FROM {requests.name} WHERE id {db.IN_LIST}"
    known = {row_id for (row_id,) in db.select_in(query, [value[0] for value in values])}
    fresh: dict[str, tuple[Any, ...]] = {}
    for value in values:
        if value[0] not in known:
            fresh.setdefault(value[0], value)
    marks = ", ".join("?" * len(columns))
    sql = f"INSERT INTO {requests.name} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING"
    db.execute_many(sql, list(fresh.values()))
    return [(row_id, value[8]) for row_id, value in fresh.items()]
