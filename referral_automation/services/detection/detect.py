"""Detection: journey events in, moments of truth and referral requests out.

Two steps, each a series of batches with its own transaction, so a crash anywhere leaves a
consistent state and the next run carries on:

1. **Scan** (``scan_events``): the events after the ``detect`` watermark, up to the run's
   horizon (``event_horizon``), in ``seq`` order, are matched against the enabled event rules;
   matches are recorded as ``candidate`` moments and the watermark moves past the batch *in the
   same transaction*, so an event is matched exactly once. A match already too old (or dated in
   the future) for its rule's staleness guard, which is checked first and needs only the clock,
   is counted as blocked by ``staleness`` and not recorded: it could never be requested, and a
   backfill of a year of history would otherwise write a row for every old match (three of four
   moments of the pipeline benchmark) that nobody acts on. The run's report counts them.
2. **Decide** (``decide_customers``): customers with candidate moments (and customers for whom a
   time-based rule comes due) are taken in ``customer_id`` order. Per customer the candidates are
   ranked; the first that passes its guards becomes the one referral request of this run, the
   ones ranked below it are ``superseded``, the ones above it ``blocked`` with guard and reason.
   The request's arm comes from its campaign's multi-armed test, refreshed once at the start of
   the run (``services.bandit.refresh``) and used for every request the run creates.

Time-based rules (``after: {days, since}``) have no event: on every run, customers whose moment
(``since`` + ``days``) lies within the rule's staleness age are evaluated. Such a moment is
recorded only when it is requested or superseded; a blocked one is left unrecorded, so it is
evaluated again on the next run (the customer may opt in meanwhile) until it goes stale. Blocked
time moments are thus counted as ``blocked`` on each run that sees them.

``detection_loop`` runs both steps to the end, batch by batch: ``detect_moments`` in this process, the
Prefect flow one batch per task.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig
from referral_automation.db.shared import customer_facts, insert_audit
from referral_automation.domain import identity
from referral_automation.domain.bandit import Allocation
from referral_automation.domain.facts import CustomerFacts, MomentCandidate
from referral_automation.domain.rulebook import (
    NOBODY,
    MomentDecision,
    NewRequest,
    RuleBook,
    decide_customer,
    moment_row,
    moment_values,
    new_request,
)
from referral_automation.domain.statuses import MomentOutcome, RequestStatus
from referral_automation.services.bandit.refresh import Allocations, refresh_allocations
from referral_automation.services.detection import store as repo

WATERMARK = "detect"
#: Events per scan batch and customers per decide batch (one transaction each): bigger batches
#: write each index page for more rows, at the cost of memory (benchmarks/HISTORY.md).
DEFAULT_BATCH_SIZE = 10_000
SessionFactory = sessionmaker[Session]


@dataclass(frozen=True, slots=True)
class ScanResult:
    """One scanned batch: ``more`` is true while events up to the horizon remain."""

    events_scanned: int
    candidates: int
    watermark: int
    more: bool
    #: Matches blocked by the staleness guard straight away, not recorded (not in ``candidates``).
    stale: int = 0


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """One decided batch of customers; ``last_customer_id`` is where the next batch starts."""

    customers: int
    last_customer_id: str | None
    time_candidates: int = 0
    requests_created: int = 0
    pending_approval: int = 0
    blocked: dict[str, int] = field(default_factory=dict)
    superseded: int = 0
    more: bool = False


@dataclass
class DetectionReport:
    """What one detection run did.

    ``candidates`` counts moments found in this run: event moments newly recorded by the scan
    plus time-based moments evaluated. ``requests_created`` includes the ``pending_approval`` ones.
    ``blocked`` counts blocked moments by the guard that stopped them.
    """

    events_scanned: int = 0
    candidates: int = 0
    requests_created: int = 0
    pending_approval: int = 0
    blocked: dict[str, int] = field(default_factory=dict)
    superseded: int = 0
    watermark: int = 0

    def add_scan(self, scan: ScanResult) -> None:
        self.events_scanned += scan.events_scanned
        self.candidates += scan.candidates
        self.watermark = scan.watermark
        self._add_blocked({"staleness": scan.stale} if scan.stale else {})

    def add_decision(self, decision: DecisionResult) -> None:
        self.candidates += decision.time_candidates
        self.requests_created += decision.requests_created
        self.pending_approval += decision.pending_approval
        self.superseded += decision.superseded
        self._add_blocked(decision.blocked)

    def _add_blocked(self, blocked: dict[str, int]) -> None:
        merged = Counter(self.blocked)
        merged.update(blocked)
        self.blocked = dict(sorted(merged.items()))

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


# --------------------------------------------------------------------------- scan
def event_horizon(session_factory: SessionFactory) -> int:
    """The last event ``seq`` this run may scan (see ``repositories.event_horizon``)."""
    with session_factory() as session, session.begin():
        return repo.event_horizon(session)


def scan_events(
    session_factory: SessionFactory, config: AppConfig, *, now: datetime, horizon: int, batch_size: int
) -> ScanResult:
    """Match the next batch of events after the watermark; record candidates; move the watermark."""
    book = RuleBook.of(config)
    with session_factory() as session, session.begin():
        position = repo.lock_watermark(session, WATERMARK, now=now)
        count, last = repo.next_events(session, after=position, upto=horizon, limit=batch_size)
        if count == 0:
            return ScanResult(0, 0, position, more=False)
        batch = repo.event_rows(session, after=position, upto=last, types=book.event_rules.keys())
        customers = customer_facts(session, {e[2] for e in batch if e[3] in book.needs_customer})
        found: list[MomentCandidate] = []
        matchers = book.matchers
        for seq, event_id, customer_id, kind, occurred_at, properties in batch:
            # Rules that never look at the customer need no customer row: a stand-in will do.
            customer = customers.get(customer_id, NOBODY)
            found += matchers[kind](event_id, customer_id, occurred_at, properties, seq, customer)
        stale_reason = book.stale_reason
        fresh = [m for m in found if stale_reason(m, now) is None]
        rows = [_candidate_row(m, now) for m in fresh]
        inserted = repo.count_new_moments(session, rows)
        repo.set_watermark(session, WATERMARK, last, now=now)
    stale = len(found) - len(fresh)
    return ScanResult(count, inserted, last, more=count == batch_size and last < horizon, stale=stale)


def _candidate_row(moment: MomentCandidate, now: datetime) -> dict[str, Any]:
    key = identity.moment_id(moment.customer_id, moment.rule_id, moment.source_key)
    return moment_values(moment, key, MomentOutcome.CANDIDATE, None, None, now=now)


# --------------------------------------------------------------------------- decide
#: A time-based moment is recorded when it is requested or superseded; a blocked one is evaluated
#: again next run (the customer may opt in meanwhile) until it goes stale.
_RECORDED_TIME_OUTCOMES = (MomentOutcome.REQUESTED, MomentOutcome.SUPERSEDED)


def _time_rule_ranges(book: RuleBook, now: datetime) -> list[tuple[datetime | None, datetime]]:
    """``first_purchase_at`` ranges of customers whose time-based moments are due and not stale."""
    ranges: list[tuple[datetime | None, datetime]] = []
    for rule in book.time_rules:
        assert rule.after is not None
        latest = now - timedelta(days=rule.after.days)
        max_age = book.max_age(rule)
        ranges.append((None if max_age is None else latest - max_age, latest))
    return ranges


@dataclass
class _Batch:
    """Everything decide needs about one batch of customers, loaded in a handful of queries."""

    customers: dict[str, CustomerFacts]
    candidates: dict[str, list[MomentCandidate]]
    time_candidates: set[str]

    def moments_of(self, customer_id: str) -> list[MomentCandidate]:
        return self.candidates.get(customer_id, [])


def _load_batch(session: Session, book: RuleBook, ids: list[str], *, now: datetime) -> _Batch:
    stored = repo.candidate_moments(session, ids)
    customers = customer_facts(session, ids)
    candidates: dict[str, list[MomentCandidate]] = {}
    for moment in stored:
        candidates.setdefault(moment.customer_id, []).append(moment)
    time_keys: set[str] = set()
    if book.time_rules:
        recorded = repo.recorded_time_moments(session, ids)
        for customer in customers.values():
            for moment in book.due_time_moments(customer, now=now):
                if (moment.customer_id, moment.source_key) not in recorded:
                    candidates.setdefault(moment.customer_id, []).append(moment)
                    time_keys.add(_key(moment))
    return _Batch(customers, candidates, time_keys)


def _key(moment: MomentCandidate) -> str:
    return f"{moment.customer_id}\x1f{moment.rule_id}\x1f{moment.source_key}"


def decide_customers(
    session_factory: SessionFactory,
    config: AppConfig,
    *,
    now: datetime,
    after: str,
    batch_size: int,
    allocations: Allocations,
) -> DecisionResult:
    """Decide the next ``batch_size`` customers (ids > ``after``) with moments to decide; new
    requests get their arms from ``allocations`` (the run's, ``services.bandit.refresh``)."""
    book = RuleBook.of(config)
    with session_factory() as session, session.begin():
        ids = repo.customers_to_decide(session, after=after, limit=batch_size, due_between=_time_rule_ranges(book, now))
        if not ids:
            return DecisionResult(0, None)
        batch = _load_batch(session, book, ids, now=now)
        outcomes = _decide_all(session, book, batch, now=now)
        return _record(session, book, batch, outcomes, now=now, ids=ids, batch_size=batch_size, allocations=allocations)


def _decide_all(session: Session, book: RuleBook, batch: _Batch, *, now: datetime) -> list[MomentDecision]:
    deciding = [cid for cid in batch.customers if batch.moments_of(cid)]
    # Only moments that can get past the staleness guard (checked first) ever reach the detractor
    # guard, so only their customers' recent events are loaded, over only their window.
    fresh = [m for cid in deciding for m in batch.moments_of(cid) if book.stale_reason(m, now) is None]
    lookback, types = book.detractor_lookback()
    recent = (
        repo.events_between(
            session,
            sorted({m.customer_id for m in fresh}),
            start=min(m.occurred_at for m in fresh) - lookback,
            end=max(m.occurred_at for m in fresh),
            types=types,
        )
        if fresh
        else {}
    )
    last_requests = repo.last_request_times(session, deciding)
    outcomes: list[MomentDecision] = []
    for customer_id in deciding:
        outcomes += decide_customer(
            book,
            batch.moments_of(customer_id),
            customer=batch.customers[customer_id],
            recent_events=recent.get(customer_id, []),
            last_request_at=last_requests.get(customer_id),
            now=now,
        )
    return outcomes


def _record(
    session: Session,
    book: RuleBook,
    batch: _Batch,
    outcomes: list[MomentDecision],
    *,
    now: datetime,
    ids: list[str],
    batch_size: int,
    allocations: Allocations,
) -> DecisionResult:
    """Write outcomes, new time moments, requests and audit entries; count what was written."""
    stored = [o for o in outcomes if _key(o.moment) not in batch.time_candidates]
    timed = [o for o in outcomes if _key(o.moment) in batch.time_candidates and o.outcome in _RECORDED_TIME_OUTCOMES]
    repo.decide_moments(session, [(o.moment_id, o.outcome.value, o.guard, o.reason) for o in stored])
    recorded = {o.moment_id for o in stored} | repo.insert_moments(session, [moment_row(o, now=now) for o in timed])
    requested = [o for o in outcomes if o.outcome is MomentOutcome.REQUESTED and o.moment_id in recorded]
    created = [
        _new_request(book, o, batch.customers[o.moment.customer_id], now=now, allocation=allocations[o.moment.campaign])
        for o in requested
    ]
    inserted = repo.insert_requests(session, [c.row for c in created])
    insert_audit(session, [_zone_audit(c.row, c.zone_warning, now) for c in created if c.zone_warning])
    return DecisionResult(
        customers=len(ids),
        last_customer_id=ids[-1],
        time_candidates=len(batch.time_candidates),
        requests_created=len(inserted),
        pending_approval=sum(1 for _, status in inserted if status == RequestStatus.PENDING_APPROVAL),
        blocked=dict(Counter(o.guard or "unknown" for o in outcomes if o.outcome is MomentOutcome.BLOCKED)),
        superseded=sum(1 for o in outcomes if o.outcome is MomentOutcome.SUPERSEDED),
        more=len(ids) == batch_size,
    )


def _new_request(
    book: RuleBook, decision: MomentDecision, customer: CustomerFacts, *, now: datetime, allocation: Allocation
) -> NewRequest:
    """The rule book's request, with its unguessable parts: the referral code friends see, and
    the unsubscribe link's secret (the code is forwarded to friends, so it cannot serve)."""
    code, token = identity.new_referral_code(), secrets.token_urlsafe(16)
    return new_request(book, decision, customer, now=now, code=code, unsubscribe_token=token, allocation=allocation)


def _zone_audit(row: dict[str, object], warning: str, now: datetime) -> dict[str, object]:
    return {
        "at": now,
        "actor": "detect",
        "action": "timezone_fallback",
        "subject_type": "customer",
        "subject_id": row["customer_id"],
        "details": {"warning": warning, "referral_request_id": row["id"]},
    }


# --------------------------------------------------------------------------- whole run
def detection_loop(*, scan: Callable[[], ScanResult], decide: Callable[[str], DecisionResult]) -> DetectionReport:
    """Scan batches until the horizon is reached, then decide customer batches until none is left.

    The one loop of a detection run, whoever runs the batches: ``detect_moments`` in this
    process, or the flow, one Prefect task per batch.
    """
    report = DetectionReport()
    while True:
        scanned = scan()
        report.add_scan(scanned)
        if not scanned.more:
            break
    after = ""
    while True:
        decision = decide(after)
        report.add_decision(decision)
        if not decision.more or decision.last_customer_id is None:
            return report
        after = decision.last_customer_id


def detect_moments(
    session_factory: SessionFactory, config: AppConfig, *, now: datetime, batch_size: int = DEFAULT_BATCH_SIZE
) -> DetectionReport:
    """One detection run to the end: refresh every campaign's test, scan every new event, then
    decide every customer concerned."""
    allocations = refresh_allocations(session_factory, config, now=now)
    horizon = event_horizon(session_factory)
    return detection_loop(
        scan=lambda: scan_events(session_factory, config, now=now, horizon=horizon, batch_size=batch_size),
        decide=lambda after: decide_customers(
            session_factory, config, now=now, after=after, batch_size=batch_size, allocations=allocations
        ),
    )
