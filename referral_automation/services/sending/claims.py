"""Claiming due work in batches, so that several workers never send one message twice.

A claim is one short transaction: select the due requests (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, where other workers skip what this one holds; SQLite's ``BEGIN IMMEDIATE`` admits one
writer at a time), check the send window in each customer's zone, and give the ones inside it a
lease (``lease_owner``, ``lease_expires_at``). Those outside move to the window's next opening.

- First asks: ``scheduled`` or ``approved`` requests whose ``scheduled_for`` has come (never
  ``pending_approval``, ``rejected`` or ``expired``), and ``sending`` requests whose lease ran out
  (a crashed worker, or an ambiguous send whose reconcile window passed). They become ``sending``.
- Follow-ups: ``sent`` requests whose ``next_followup_at`` has come and that hold no live lease.
  Their status stays ``sent``; the lease alone marks them taken.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Column, Table, or_, select
from sqlalchemy.orm import Session

from referral_automation.config import AppConfig, Campaign
from referral_automation.db.bulk import bulk_update
from referral_automation.db.models import Customer, JourneyEvent, Moment, Response
from referral_automation.db.shared import CUSTOMER_COLUMNS, suppressed_addresses
from referral_automation.db.sql import Driver, chunks, from_json, unchanged
from referral_automation.db.types import UTCDateTime
from referral_automation.domain import identity
from referral_automation.domain.delivery import DeliveryOptions, Job
from referral_automation.domain.facts import CustomerFacts
from referral_automation.domain.responses import ENGAGED
from referral_automation.domain.sendwindow import next_opening, resolve_zone
from referral_automation.domain.statuses import AWAITING_SEND, RequestStatus
from referral_automation.services.sending import store

customers_table: Table = Customer.__table__  # type: ignore[assignment]
moments_table: Table = Moment.__table__  # type: ignore[assignment]
events_table: Table = JourneyEvent.__table__  # type: ignore[assignment]
responses_table: Table = Response.__table__  # type: ignore[assignment]


@dataclass(slots=True)
class Claim:
    """A claimed batch: the jobs to send now, and how many requests were only moved."""

    jobs: list[Job] = field(default_factory=list)
    #: Outside the send window: moved to its next opening.
    rescheduled: int = 0
    #: Their campaign is no longer configured (first asks: ``cancelled``).
    cancelled: int = 0
    #: Follow-ups with nothing left to send.
    finished: int = 0
    #: Leased requests not yet made jobs (``build_jobs``): their rows as read, undecoded.
    leased: list[Leased] = field(default_factory=list)
    #: How each column of ``leased`` rows that needs decoding is decoded.
    decoders: list[tuple[str, Callable[[Any], Any]]] = field(default_factory=list)

    @property
    def touched(self) -> int:
        """Requests this claim changed; 0 means nothing is due any more."""
        return len(self.jobs) + len(self.leased) + self.rescheduled + self.cancelled + self.finished

    def message_keys(self) -> list[tuple[str, str, int]]:
        """(message id, request id, step) of every leased request: what earlier runs may have left."""
        return [(leased.message_id, leased.row["id"], leased.step) for leased in self.leased]

    def build_jobs(self) -> Claim:
        """The leased rows decoded and made jobs, once the claim's transaction has committed.

        Decoding values and building jobs is Python work that need not hold SQLite's write lock,
        which every other send worker is waiting for.
        """
        for leased in self.leased:
            self.decode(leased.row)
            self.jobs.append(_job(leased))
        self.leased = []
        return self

    def decode(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` (as ``read_context`` read it) with each value as its column's type decodes it, in place."""
        for name, decode in self.decoders:
            if row[name] is not None:  # NULL stays None whatever the type
                row[name] = decode(row[name])
        return row


@dataclass(frozen=True, slots=True)
class Leased:
    """One leased request as its claim read it, and what the claim decided for its job."""

    row: dict[str, Any]
    step: int
    message_id: str
    suppressed: bool
    zone: ZoneInfo
    zone_warning: str | None
    engaged: bool = False


# --------------------------------------------------------------------------- first asks


def lease_first_asks(session: Session, *, config: AppConfig, now: datetime, options: DeliveryOptions) -> Claim:
    """Lease up to ``batch_size`` requests due for their first send (step 0); the caller builds their
    jobs (``Claim.build_jobs``) once its transaction has committed."""
    claim = Claim()
    rows = read_context(session, _due_first_asks(session, now=now, limit=options.batch_size), claim)
    suppressed = suppressed_addresses(session, [row["email"] for row in rows])
    updates, windows = [], _Windows(now)
    for row in rows:
        campaign = config.campaigns.campaigns.get(row["campaign"])
        if campaign is None:
            claim.cancelled += 1
            updates.append(_cancelled(row, now=now))
            continue
        zone, warning, opening = windows.opening(row["campaign"], campaign, row["timezone"])
        if opening > now:
            claim.rescheduled += 1
            moved = "lease_expires_at" if row["status"] == RequestStatus.SENDING else "scheduled_for"
            updates.append({"id": row["id"], moved: opening, "updated_at": now})
            continue
        updates.append(_leased(row["id"], now=now, options=options, status=RequestStatus.SENDING))
        claim.leased.append(_lease(row, step=0, suppressed=suppressed, zone=(zone, warning)))
    bulk_update(session, store.requests_table, updates)
    return claim


def _due_first_asks(session: Session, *, now: datetime, limit: int) -> list[str]:
    """Expired leases first (the oldest work), then approved, then scheduled requests, each by due time."""
    r = store.requests_table
    conditions = [
        (r.c.status == RequestStatus.SENDING) & (r.c.lease_expires_at <= now),
        *((r.c.status == status) & (r.c.scheduled_for <= now) for status in AWAITING_SEND),
    ]
    ids: list[str] = []
    for condition in conditions:
        if len(ids) >= limit:
            break
        query = (
            select(r.c.id)
            .where(condition)
            .order_by(r.c.scheduled_for)
            .limit(limit - len(ids))
            .with_for_update(skip_locked=True)
        )
        ids.extend(session.execute(query).scalars())
    return ids


def _cancelled(row: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    return {
        "id": row["id"],
        "status": RequestStatus.CANCELLED.value,
        "last_error": f"campaign {row['campaign']!r} is no longer configured",
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": now,
    }


# --------------------------------------------------------------------------- follow-ups


def lease_follow_ups(session: Session, *, config: AppConfig, now: datetime, options: DeliveryOptions) -> Claim:
    """Lease up to ``batch_size`` sent requests whose next follow-up is due; the caller builds their
    jobs (``Claim.build_jobs``) once its transaction has committed."""
    claim = Claim()
    rows = read_context(session, _due_follow_ups(session, now=now, limit=options.batch_size), claim)
    suppressed = suppressed_addresses(session, [row["email"] for row in rows])
    engaged = _engaged(session, [row["id"] for row in rows])
    updates, windows = [], _Windows(now)
    for row in rows:
        campaign = config.campaigns.campaigns.get(row["campaign"])
        if campaign is None or row["followups_sent"] >= len(campaign.follow_ups.after_days):
            claim.finished += 1
            updates.append({"id": row["id"], "next_followup_at": None, "lease_owner": None, "lease_expires_at": None})
            continue
        zone, warning, opening = windows.opening(row["campaign"], campaign, row["timezone"])
        if opening > now:
            claim.rescheduled += 1
            updates.append({"id": row["id"], "next_followup_at": opening, "updated_at": now})
            continue
        updates.append(_leased(row["id"], now=now, options=options))
        step = row["followups_sent"] + 1
        claim.leased.append(
            _lease(row, step=step, suppressed=suppressed, zone=(zone, warning), engaged=row["id"] in engaged)
        )
    bulk_update(session, store.requests_table, updates)
    return claim


def _due_follow_ups(session: Session, *, now: datetime, limit: int) -> list[str]:
    r = store.requests_table
    query = (
        select(r.c.id)
        .where(
            r.c.status == RequestStatus.SENT,
            r.c.next_followup_at <= now,
            or_(r.c.lease_expires_at.is_(None), r.c.lease_expires_at <= now),
        )
        .order_by(r.c.next_followup_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.execute(query).scalars())


def _engaged(session: Session, request_ids: Sequence[str]) -> set[str]:
    """Requests whose customer responded (reply, referral click, referral): no more follow-ups."""
    found: set[str] = set()
    kinds = sorted(kind.value for kind in ENGAGED)
    for part in chunks(request_ids):
        query = select(responses_table.c.referral_request_id).where(
            responses_table.c.referral_request_id.in_(part), responses_table.c.kind.in_(kinds)
        )
        found.update(session.execute(query).scalars())
    return found


# --------------------------------------------------------------------------- shared
class _Windows:
    """Each customer's zone and send-window opening at ``now``, worked out once per (campaign, zone)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._known: dict[tuple[str, str], tuple[ZoneInfo, str | None, datetime]] = {}

    def opening(self, campaign_id: str, campaign: Campaign, zone_name: str) -> tuple[ZoneInfo, str | None, datetime]:
        """(zone, warning if the name was not a zone, the window's opening at or after now)."""
        key = (campaign_id, zone_name)
        found = self._known.get(key)
        if found is None:
            zone, warning = resolve_zone(zone_name)
            found = self._known[key] = (zone, warning, next_opening(self.now, zone, campaign.send_window))
        return found


def _leased(
    request_id: str, *, now: datetime, options: DeliveryOptions, status: RequestStatus | None = None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": request_id,
        "lease_owner": options.worker,
        "lease_expires_at": now + options.lease,
        "updated_at": now,
    }
    if status is not None:
        row["status"] = status.value
    return row


def read_context(session: Session, ids: Sequence[str], claim: Claim) -> list[dict[str, Any]]:
    """Everything a message needs, for the claimed ids: request, customer, moment and its event.

    Read through the driver (``db.sql``): SQLAlchemy's rows and result processing cost more
    than the query here. Values stay as the driver gives them; ``claim.decoders`` says how
    ``Claim.build_jobs`` decodes them as their columns' types would (the claim itself reads
    only text and integers: ids, campaign, zone, status, address, follow-ups sent).
    """
    r, c, m, e = store.requests_table, customers_table, moments_table, events_table
    driver = Driver(session)
    columns = [
        *((r.c[name], name) for name in ("id", "campaign", "variant", "incentive", "code", "unsubscribe_token")),
        *((r.c[name], name) for name in ("status", "sent_at", "followups_sent", "attempts")),
        (m.c.rule_id, "rule_id"),
        (m.c.occurred_at, "moment_occurred_at"),
        (e.c.properties, "moment_properties"),
        *((c.c[name], name) for name in CUSTOMER_COLUMNS),
    ]
    selected = ", ".join(
        driver.json_text(f"{col.table.name}.{col.name}") if col is e.c.properties else f"{col.table.name}.{col.name}"
        for col, _ in columns
    )
    sql = (
        f"SELECT {selected} FROM {r.name} JOIN {c.name} ON {c.name}.customer_id = {r.name}.customer_id"
        f" JOIN {m.name} ON {m.name}.id = {r.name}.moment_id"
        f" LEFT OUTER JOIN {e.name} ON {e.name}.seq = {m.name}.event_seq WHERE {r.name}.id {driver.IN_LIST}"
    )
    names = [name for _, name in columns]
    claim.decoders = [(name, decode) for column, name in columns if (decode := _decoder(driver, column))]
    return [dict(zip(names, raw, strict=True)) for raw in driver.select_in(sql, ids)]


def _decoder(driver: Driver, column: Column[Any]) -> Callable[[Any], Any] | None:
    """How a raw value of ``column`` becomes what SQLAlchemy would hand over; None: as it is."""
    if isinstance(column.type, UTCDateTime):
        return driver.timestamp_out
    if isinstance(column.type, JSON):
        return from_json
    decode = driver.decoder(column)
    return None if decode is unchanged else decode


def _lease(
    row: dict[str, Any], *, step: int, suppressed: set[str], zone: tuple[ZoneInfo, str | None], engaged: bool = False
) -> Leased:
    return Leased(
        row=row,
        step=step,
        message_id=identity.message_id(row["id"], step),
        suppressed=row["email"].casefold() in suppressed,
        zone=zone[0],
        zone_warning=zone[1],
        engaged=engaged,
    )


def _job(leased: Leased) -> Job:
    row = leased.row
    customer = CustomerFacts(
        **{name: row[name] for name in CUSTOMER_COLUMNS if name != "lifetime_value"},
        lifetime_value=Decimal(row["lifetime_value"] or 0),
        suppressed=leased.suppressed,
    )
    return Job(
        request_id=row["id"],
        campaign=row["campaign"],
        variant=row["variant"],
        incentive=row["incentive"],
        code=row["code"],
        unsubscribe_token=row["unsubscribe_token"],
        rule_id=row["rule_id"],
        moment_occurred_at=row["moment_occurred_at"],
        moment_properties=dict(row["moment_properties"] or {}),
        first_sent_at=row["sent_at"],
        customer=customer,
        step=leased.step,
        attempts=row["attempts"] or 0,
        zone=leased.zone,
        message_id=leased.message_id,
        zone_warning=leased.zone_warning,
        engaged=leased.engaged,
    )
