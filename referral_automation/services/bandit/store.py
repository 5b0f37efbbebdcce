"""The multi-armed test's SQL: what each arm has recorded, the refreshes, and the logged choices.

A **send** is a request's first ask that went out: ``referral_requests.sent_at`` is set, in the
same transaction and to the same time as its step-0 message's ``sent_at`` with status ``sent``
(``domain.delivery.first_ask_update``), so the refresh reads the requests alone and the covering
index ``ix_referral_requests_sends`` (migration 0007) serves it without touching the table.
An **outcome** is the first response of the objective's kind on a request (a reply, a referee's
sign-up, a conversion) that happened by ``now``; a conversion's worth is its ``details["value"]``
when that is a number, else the campaign's configured value, else nothing.

Each query adds two groupings in one statement: every send (no join), and every outcome joined to
its request (outcomes are few): a ``LEFT JOIN`` of a million sends to their outcomes cost SQLite
several times more. The results are a few rows per arm, so they go through SQLAlchemy (named
parameters, its errors) rather than the raw driver. Nothing here commits: the calling service
owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, select, text
from sqlalchemy.orm import Session

from referral_automation.db.models import BanditAllocation
from referral_automation.db.session import is_postgres
from referral_automation.db.sql import chunks, dialect_insert, from_json
from referral_automation.db.types import UTCDateTime
from referral_automation.domain.bandit import AgeRow, ArmKey

allocations: Table = BanditAllocation.__table__  # type: ignore[assignment]

#: Sends older than this many whole days share the last age bucket (``histories_from_rows``' default).
MAX_AGE_DAYS = 90
#: A recorded value beyond this size is taken for a mistake and ignored (no order is worth a trillion).
MAX_VALUE = 1e12


def _age(postgres: bool, sent_at: str) -> str:
    """The whole days between ``:now`` and ``sent_at``, within [0, MAX_AGE_DAYS]."""
    if postgres:
        # date_part gives a double; EXTRACT a numeric, several times slower over a million rows.
        days = f"FLOOR(date_part('epoch', CAST(:now AS timestamptz) - {sent_at}) / 86400.0)"
        return f"CAST(LEAST(GREATEST({days}, 0), {MAX_AGE_DAYS}) AS INTEGER)"
    # julianday keeps milliseconds: an outcome's send within a millisecond of a day's bound may count a
    # day off from the send itself (its day is bounded to the microsecond), which no estimate can notice.
    return f"MAX(0, MIN(CAST(julianday(:now) - julianday({sent_at}) AS INTEGER), {MAX_AGE_DAYS}))"


def _days_between(postgres: bool, start: str, end: str) -> str:
    if postgres:
        return f"GREATEST(date_part('epoch', {end} - {start}) / 86400.0, 0.0)"
    return f"MAX(julianday({end}) - julianday({start}), 0.0)"


def _value(postgres: bool) -> str:
    """``details["value"]`` when it is a number of a sane size, else NULL (never an error on odd JSON)."""
    if postgres:
        number = "CAST(details->>'value' AS double precision)"
        return (
            f"CASE WHEN jsonb_typeof(details->'value') = 'number' AND abs({number}) < {MAX_VALUE:g} THEN {number} END"
        )
    number = "json_extract(details, '$.value')"
    typed = "json_valid(details) AND json_type(details, '$.value') IN ('integer', 'real')"
    return f"CASE WHEN {typed} AND abs({number}) < {MAX_VALUE:g} THEN {number} END"


def _first_outcomes(postgres: bool) -> str:
    """Per request, its first response of kind ``:kind`` by ``:now``, worth its value or ``:default``
    (the campaign's): ``request_id, first_at, value``."""
    if postgres:
        return (
            f"SELECT DISTINCT ON (referral_request_id) referral_request_id AS request_id, occurred_at AS first_at,"
            f" COALESCE({_value(postgres)}, :default) AS value FROM responses"
            " WHERE kind = :kind AND occurred_at <= :now AND referral_request_id IS NOT NULL"
            " ORDER BY referral_request_id, occurred_at, id"
        )
    # SQLite takes a bare column's value from the row that holds the one MIN() of its group.
    return (
        f"SELECT referral_request_id AS request_id, MIN(occurred_at) AS first_at,"
        f" COALESCE({_value(postgres)}, :default) AS value"
        " FROM responses WHERE kind = :kind AND occurred_at <= :now AND referral_request_id IS NOT NULL"
        " GROUP BY referral_request_id"
    )


def _query(session: Session, sql: str, times: Sequence[str] = ("now", "before"), **params: Any) -> list[Any]:
    """Rows of ``sql``; the parameters named in ``times`` go in as the timestamp columns store them."""
    typed = [bindparam(name, type_=UTCDateTime()) for name in times if name in params]
    return list(session.execute(text(sql).bindparams(*typed), params).tuples())


def _sends_by_age(now: datetime, params: dict[str, Any]) -> tuple[str, str, list[str]]:
    """The sends part of ``age_rows``: (its CTEs, its SELECT, the timestamp parameters it adds).

    Each (arm, day of age) is counted as one range of the covering index ``ix_referral_requests_sends``
    instead of grouping every send by an age computed per row, which SQLite does by sorting all the
    sends and PostgreSQL by hashing them, both measurably slower (benchmarks/HISTORY.md). The cost
    grows with arms × days, not with the sends. The days' bounds are computed here, so a send is in
    day ``d`` when ``now - (d + 1) < sent_at <= now - d``.
    """
    times: list[str] = []
    days = []
    for day in range(MAX_AGE_DAYS + 1):
        low = now - timedelta(days=day + 1) if day < MAX_AGE_DAYS else datetime(1, 1, 1, tzinfo=UTC)
        params[f"low{day}"], params[f"high{day}"] = low, now - timedelta(days=day)
        times += [f"low{day}", f"high{day}"]
        days.append(f"({day}, :low{day}, :high{day})")
    ctes = f", ages(age, low, high) AS (VALUES {', '.join(days)})"
    select_sends = """
            SELECT a.variant, a.incentive, g.age,
                   (SELECT COUNT(*) FROM referral_requests r WHERE r.campaign = :campaign AND r.variant = a.variant
                    AND r.incentive = a.incentive AND r.sent_at IS NOT NULL AND r.sent_at > g.low
                    AND r.sent_at <= g.high) AS sends,
                   0 AS outcomes, 0.0 AS delay_days, 0.0 AS value
            FROM arms a, ages g"""
    return ctes, select_sends, times


def age_rows(
    session: Session, *, campaign: str, arms: Sequence[ArmKey], kind: str, now: datetime, default_value: float | None
) -> list[AgeRow]:
    """Per arm of ``arms`` and whole day of send age: the sends, their outcomes by ``now``, the outcomes'
    delays (days) and values: what ``domain.bandit.histories_from_rows`` takes (days with nothing left out)."""
    if not arms:
        return []
    pg = is_postgres(session)
    params: dict[str, Any] = {"now": now, "campaign": campaign, "kind": kind, "default": default_value or 0.0}
    for index, (variant, incentive) in enumerate(arms):
        params[f"variant{index}"], params[f"incentive{index}"] = variant, incentive
    arm_values = ", ".join(f"(:variant{index}, :incentive{index})" for index in range(len(arms)))
    ctes, select_sends, times = _sends_by_age(now, params)
    # SQLite's planner may drive the join from the million requests; CROSS JOIN keeps the few outcomes outside.
    join = "JOIN" if pg else "CROSS JOIN"
    sql = f"""
        WITH arms(variant, incentive) AS (VALUES {arm_values}){ctes}
        SELECT p.variant, p.incentive, p.age, SUM(p.sends), SUM(p.outcomes), SUM(p.delay_days), SUM(p.value) FROM (
            {select_sends}
          UNION ALL
            SELECT r.variant, r.incentive, {_age(pg, "r.sent_at")} AS age, 0, COUNT(*),
                   SUM({_days_between(pg, "r.sent_at", "o.first_at")}), SUM(o.value)
            FROM ({_first_outcomes(pg)}) o {join} referral_requests r ON r.id = o.request_id
            WHERE r.campaign = :campaign AND r.sent_at IS NOT NULL AND r.sent_at <= :now
            GROUP BY r.variant, r.incentive, age
        ) AS p JOIN arms a ON a.variant = p.variant AND a.incentive = p.incentive
        GROUP BY p.variant, p.incentive, p.age HAVING SUM(p.sends) + SUM(p.outcomes) > 0"""
    found = _query(session, sql, ["now", *times], **params)
    return [
        AgeRow(variant, incentive, int(age), int(sends), int(outcomes or 0), float(delay or 0), float(value or 0))
        for variant, incentive, age, sends, outcomes, delay, value in found
    ]


def insert_allocation(session: Session, row: dict[str, Any]) -> None:
    """Record a refresh's allocation once (a version is a hash of everything in it: a repeat is the same)."""
    session.execute(dialect_insert(session, allocations).on_conflict_do_nothing(), [row])


@dataclass(frozen=True, slots=True)
class ChoiceCount:
    """How many requests one allocation gave one arm."""

    version: str
    variant: str
    incentive: str
    choices: int


def choice_counts(session: Session, *, campaign: str, since: datetime, now: datetime) -> list[ChoiceCount]:
    """The campaign's logged choices made between ``since`` and ``now`` (sent or not), counted by
    allocation and arm."""
    sql = (
        "SELECT model_version, variant, incentive, COUNT(*) FROM referral_requests"
        " WHERE campaign = :campaign AND model_version IS NOT NULL AND created_at >= :since AND created_at <= :now"
        " GROUP BY model_version, variant, incentive"
    )
    found = _query(session, sql, ["since", "now"], campaign=campaign, since=since, now=now)
    return [ChoiceCount(str(v), str(a), str(i), int(n)) for v, a, i, n in found]


def allocation_arms(session: Session, versions: Sequence[str]) -> dict[str, list[list[Any]]]:
    """The ``arms`` list (``[variant, incentive, propensity, p_best]``) of each allocation named."""
    found: dict[str, list[list[Any]]] = {}
    for chunk in chunks(versions):
        query = select(allocations.c.version, allocations.c.arms).where(allocations.c.version.in_(chunk))
        found.update({str(version): from_json(arms) for version, arms in session.execute(query).tuples()})
    return found


@dataclass(frozen=True, slots=True)
class LoggedSums:
    """One arm's settled logged sends, from the holdout or the policy, as the sums IPW needs.

    ``o`` is 1 for a send with an outcome, ``v`` the outcome's value (0 without one), ``p`` the
    logged probability of the chosen arm: ``inverse = Σ 1/p``, ``outcomes = Σ o/p``,
    ``values = Σ v/p``, and the squares ``Σ o/p²``, ``Σ v·o/p²`` (= ``Σ v/p²``), ``Σ v²/p²``.
    """

    variant: str
    incentive: str
    from_holdout: bool
    sends: int
    outcomes_seen: int
    value_seen: float
    inverse: float
    outcomes: float
    values: float
    outcomes_sq: float
    values_sq: float
    values_sq2: float


def logged_sums(
    session: Session, *, campaign: str, kind: str, now: datetime, sent_before: datetime, default_value: float | None
) -> list[LoggedSums]:
    """The IPW sums of the campaign's logged sends made before ``sent_before`` (long enough ago that
    their outcomes are in), by arm and by holdout or policy."""
    pg = is_postgres(session)
    logged = "model_version IS NOT NULL AND arm_propensity > 0 AND sent_at IS NOT NULL AND sent_at <= :before"
    v, p = "o.value", "r.arm_propensity"
    sql = f"""
        SELECT variant, incentive, from_holdout, SUM(sends), SUM(seen), SUM(worth), SUM(inverse), SUM(outcomes),
               SUM(vals), SUM(outcomes_sq), SUM(vals_sq), SUM(vals_sq2) FROM (
            SELECT variant, incentive, from_holdout, COUNT(*) AS sends, 0 AS seen, 0.0 AS worth,
                   SUM(1.0 / arm_propensity) AS inverse, 0.0 AS outcomes, 0.0 AS vals, 0.0 AS outcomes_sq,
                   0.0 AS vals_sq, 0.0 AS vals_sq2
            FROM referral_requests WHERE campaign = :campaign AND {logged}
            GROUP BY variant, incentive, from_holdout
          UNION ALL
            SELECT r.variant, r.incentive, r.from_holdout, 0, COUNT(*), SUM({v}), 0.0, SUM(1.0 / {p}),
                   SUM({v} / {p}), SUM(1.0 / ({p} * {p})), SUM({v} / ({p} * {p})), SUM({v} * {v} / ({p} * {p}))
            FROM ({_first_outcomes(pg)}) o {"JOIN" if pg else "CROSS JOIN"} referral_requests r ON r.id = o.request_id
            WHERE r.campaign = :campaign AND r.{logged}
            GROUP BY r.variant, r.incentive, r.from_holdout
        ) AS parts GROUP BY variant, incentive, from_holdout"""
    found = _query(
        session, sql, now=now, before=sent_before, campaign=campaign, kind=kind, default=default_value or 0.0
    )
    return [
        LoggedSums(str(variant), str(incentive), bool(holdout), int(n), int(seen or 0), *(float(x or 0) for x in rest))
        for variant, incentive, holdout, n, seen, *rest in found
    ]
