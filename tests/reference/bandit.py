"""The bandit's refresh and IPW sums computed row by row from ORM objects: the reference for
``services.bandit.store``'s two-part ``GROUP BY`` queries."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import ReferralRequest, Response
from referral_automation.domain.bandit import AgeRow

MAX_AGE_DAYS = 90
DAY = 86400.0


def _value(details: object, default: float) -> float:
    value = details.get("value") if isinstance(details, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or abs(value) >= 1e12:
        return default
    return float(value)


def first_outcomes(session: Session, *, kind: str, now: datetime, default: float) -> dict[str, tuple[datetime, float]]:
    """Per request, its earliest response of ``kind`` by ``now`` and that response's value."""
    found: dict[str, tuple[datetime, int, float]] = {}
    for response in session.scalars(select(Response).where(Response.kind == kind)):
        if response.referral_request_id is None or response.occurred_at > now:
            continue
        key = (response.occurred_at, response.id)
        known = found.get(response.referral_request_id)
        if known is None or key < known[:2]:
            found[response.referral_request_id] = (*key, _value(response.details, default))
    return {request: (at, value) for request, (at, _id, value) in found.items()}


def sends(session: Session, campaign: str, now: datetime, before: datetime | None = None) -> Iterable[ReferralRequest]:
    cutoff = now if before is None else before
    for request in session.scalars(select(ReferralRequest).where(ReferralRequest.campaign == campaign)):
        if request.sent_at is not None and request.sent_at <= cutoff:
            yield request


def age_rows(
    factory: sessionmaker[Session], *, campaign: str, kind: str, now: datetime, default_value: float | None
) -> list[AgeRow]:
    with factory() as session:
        firsts = first_outcomes(session, kind=kind, now=now, default=default_value or 0.0)
        cells: dict[tuple[str, str, int], list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0])
        for request in sends(session, campaign, now):
            assert request.sent_at is not None
            age = min(max(math.floor((now - request.sent_at).total_seconds() / DAY), 0), MAX_AGE_DAYS)
            cell = cells[(request.variant, request.incentive, age)]
            cell[0] += 1
            if request.id in firsts:
                at, value = firsts[request.id]
                cell[1] += 1
                cell[2] += max((at - request.sent_at).total_seconds() / DAY, 0.0)
                cell[3] += value
    return sorted(AgeRow(v, i, a, int(c[0]), int(c[1]), c[2], c[3]) for (v, i, a), c in cells.items())


def logged_sums(
    factory: sessionmaker[Session],
    *,
    campaign: str,
    kind: str,
    now: datetime,
    sent_before: datetime,
    default_value: float | None,
) -> list[tuple[str, str, bool, int, int, float, float, float, float, float, float, float]]:
    """``store.LoggedSums``' fields per (arm, holdout), summed one logged send at a time."""
    with factory() as session:
        firsts = first_outcomes(session, kind=kind, now=now, default=default_value or 0.0)
        cells: dict[tuple[str, str, bool], list[float]] = defaultdict(lambda: [0.0] * 9)
        for request in sends(session, campaign, now, sent_before):
            p = request.arm_propensity
            if request.model_version is None or p is None or p <= 0:
                continue
            o, v = (1.0, firsts[request.id][1]) if request.id in firsts else (0.0, 0.0)
            terms = (1, o, v * o, 1 / p, o / p, v / p, o / p**2, v / p**2, v * v / p**2)
            cell = cells[(request.variant, request.incentive, bool(request.from_holdout))]
            for index, term in enumerate(terms):
                cell[index] += term
    return sorted((v, i, h, int(c[0]), int(c[1]), *c[2:]) for (v, i, h), c in cells.items())  # type: ignore[misc]
