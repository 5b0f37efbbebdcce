"""Seeded synthetic data for the demo: customers, six months of journey events, and responses.

Everything is a pure function of the seed and ``now``: the same seed gives the same customers,
events and simulated responses (up to the clock), so a demo run can be repeated and compared.
The mix is meant to look like a B2B SaaS customer base: mostly happy customers with some passives
and detractors, a few enterprise accounts and high lifetime values (which need approval), time
zones around the world, English and German speakers, tickets that
end well or badly, milestones and a quarterly NPS survey whose latest wave is this week.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from referral_automation.domain.responses import ResponseKind
from referral_automation.services.responses.record import ResponseInput

HISTORY_DAYS = 180
#: (zone, weight, share of German speakers). Only IANA zones: the ingest refuses any other.
ZONES = (
    ("Europe/Berlin", 20, 0.85), ("Europe/Vienna", 4, 0.9), ("Europe/London", 12, 0.0),
    ("America/New_York", 18, 0.0), ("America/Los_Angeles", 12, 0.0), ("America/Sao_Paulo", 5, 0.0),
    ("Asia/Tokyo", 8, 0.0), ("Australia/Sydney", 6, 0.0), ("UTC", 4, 0.1), ("Pacific/Auckland", 1, 0.0),
)  # fmt: skip
#: (plan, weight, lifetime value range); enterprise and values of 50,000 or more need approval.
PLANS = (
    ("starter", 35, (300, 4_000)), ("team", 33, (2_000, 18_000)),
    ("business", 24, (9_000, 65_000)), ("enterprise", 8, (40_000, 250_000)),
)  # fmt: skip
FIRST_EN = ("Ava", "Ben", "Chloe", "Daniel", "Emma", "Finn", "Grace", "Henry", "Isla", "Jack", "Lily", "Noah", "Olivia",
            "Priya", "Ravi", "Sofia", "Tom", "Wei", "Yuki", "Zoe")  # fmt: skip
LAST_EN = ("Adams", "Brown", "Chen", "Davis", "Evans", "Garcia", "Hughes", "Ito", "Jones", "Kim", "Lopez", "Miller",
           "Nguyen", "Patel", "Reed", "Smith", "Tanaka", "Walker", "Young")  # fmt: skip
FIRST_DE = ("Anna", "Jürgen", "Katrin", "Lukas", "Märta", "Niklas", "Sören", "Ute", "Felix", "Greta", "Jonas", "Lena")
LAST_DE = ("Müller", "Schröder", "Weiß", "Becker", "Hoffmann", "Köhler", "Krüger", "Wagner", "Schulz", "Vogel")
COMPANY_WORDS = ("Blue", "North", "Bright", "Cedar", "Delta", "Summit", "Harbor", "Pixel", "Granite", "Willow")
COMPANY_NOUNS = ("Labs", "Logistics", "Health", "Analytics", "Studio", "Foods", "Robotics", "Finance", "Energy")
MILESTONES = ("100th invoice sent", "first integration live", "10 seats", "1 year with us", "1,000 orders")
#: (persona, weight): how a customer tends to feel, which shapes their scores and ratings.
PERSONAS = (("promoter", 50), ("passive", 30), ("detractor", 20))
_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


#: A promoter half a world from UTC who answers this week's survey: the demo sends to them in their own hours.
SHOWCASE_ZONE = "Pacific/Auckland"
SHOWCASE_NUMBER = 3


@dataclass(frozen=True, slots=True)
class DemoCustomer:
    record: dict[str, Any]
    persona: str
    showcase: bool = False


def _pick(rng: random.Random, weighted: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
    return rng.choices(weighted, weights=[item[1] for item in weighted])[0]


def customers(count: int, *, seed: int, now: datetime) -> list[DemoCustomer]:
    """``count`` customers as ingest records (CONTRACT's customer fields), with their persona."""
    rng = random.Random(f"customers:{seed}")
    found = []
    for n in range(1, count + 1):
        zone, _, german_share = _pick(rng, ZONES)
        german = rng.random() < german_share
        first = rng.choice(FIRST_DE if german else FIRST_EN)
        last = rng.choice(LAST_DE if german else LAST_EN)
        plan, _, (low, high) = _pick(rng, PLANS)
        company = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_NOUNS)}{' GmbH' if german else ''}"
        domain = company.split(" GmbH")[0].lower().replace(" ", "-") + (".de.example" if german else ".example")
        tenure = rng.choice((rng.uniform(20, 89), rng.uniform(120, 1500), rng.uniform(200, 900)))
        record = {
            "customer_id": f"cus_{n:05d}",
            "email": f"{first}.{last}{n}".translate(_ASCII).lower() + f"@{domain}",
            "first_name": first,
            "last_name": last,
            "company": company,
            "plan": plan,
            "lifetime_value": f"{round(rng.uniform(low, high), -1):.2f}",
            "first_purchase_at": (now - timedelta(days=tenure)).isoformat(),
            "timezone": zone,
            "locale": "de" if german else "en",
            "marketing_opt_in": "true" if rng.random() < 0.88 else "false",
        }
        persona = _pick(rng, PERSONAS)[0]
        if n == SHOWCASE_NUMBER:
            record.update(timezone=SHOWCASE_ZONE, marketing_opt_in="true", plan="team", lifetime_value="4200.00")
            record["first_purchase_at"] = (now - timedelta(days=400)).isoformat()
        found.append(DemoCustomer(record, "promoter" if n == SHOWCASE_NUMBER else persona, n == SHOWCASE_NUMBER))
    return found


def journey_events(people: Sequence[DemoCustomer], *, seed: int, now: datetime) -> list[dict[str, Any]]:
    """Six months of events per customer, oldest first, with ids stable for the seed."""
    rng = random.Random(f"events:{seed}")
    start = now - timedelta(days=HISTORY_DAYS)
    events: list[tuple[datetime, str, str, dict[str, Any]]] = []
    for person in people:
        customer_id = person.record["customer_id"]
        joined = max(datetime.fromisoformat(person.record["first_purchase_at"]), start)
        for kind, at, properties in _customer_story(rng, person, joined=joined, now=now):
            if at < now:  # jittered times near the end would otherwise lie in the future
                events.append((at, customer_id, kind, properties))
    events.sort(key=lambda event: (event[0], event[1]))
    return [
        {
            "event_id": f"demo-{seed}-{n:07d}",
            "customer_id": customer_id,
            "type": kind,
            "occurred_at": at.isoformat(),
            "properties": properties,
        }
        for n, (at, customer_id, kind, properties) in enumerate(events, start=1)
    ]


def _customer_story(
    rng: random.Random, person: DemoCustomer, *, joined: datetime, now: datetime
) -> Iterator[tuple[str, datetime, dict[str, Any]]]:
    """One customer's events: purchases, NPS waves, tickets, milestones and a few unknown types."""
    span = (now - joined).total_seconds()
    if span <= 3600:
        return
    for month in range(int(span // (30 * 86400)) + 1):
        yield (
            "purchase",
            joined + timedelta(days=30 * month, hours=rng.uniform(0, 48)),
            {"amount": rng.randint(49, 990)},
        )
    waves = (now - timedelta(days=95), now - timedelta(days=6))  # a quarterly survey, the latest this week
    for wave in waves:
        if wave > joined and rng.random() < 0.6:
            yield "nps_submitted", wave + timedelta(hours=rng.uniform(0, 140)), {"score": _score(rng, person.persona)}
    if person.showcase:
        yield "nps_submitted", now - timedelta(days=1), {"score": 10}
        return
    yield from _tickets(rng, person.persona, joined=joined, now=now)
    if rng.random() < 0.35:
        at = joined + timedelta(seconds=rng.uniform(0, span))
        yield "milestone_reached", at, {"name": rng.choice(MILESTONES)}
    for _ in range(rng.randint(0, 3)):
        yield "feature_used", joined + timedelta(seconds=rng.uniform(0, span)), {"feature": "reports"}


def _score(rng: random.Random, persona: str) -> int:
    low, high = {"promoter": (9, 10), "passive": (7, 8), "detractor": (0, 6)}[persona]
    if rng.random() < 0.15:  # people are not that consistent
        low, high = 0, 10
    return rng.randint(low, high)


def _tickets(
    rng: random.Random, persona: str, *, joined: datetime, now: datetime
) -> Iterator[tuple[str, datetime, dict[str, Any]]]:
    span = (now - joined).total_seconds()
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        opened = joined + timedelta(seconds=rng.uniform(0, span))
        ticket_id = f"T-{rng.randrange(10**6):06d}"
        yield "ticket_opened", opened, {"ticket_id": ticket_id}
        resolved = opened + timedelta(hours=rng.uniform(1, 120))
        if resolved >= now - timedelta(minutes=5) or rng.random() < 0.05:
            continue  # still open: a detractor signal until it is resolved
        happy = {"promoter": 0.9, "passive": 0.6, "detractor": 0.25}[persona]
        csat = rng.randint(4, 5) if rng.random() < happy else rng.randint(1, 3)
        yield "ticket_resolved", resolved, {"ticket_id": ticket_id, "csat": csat}


# --------------------------------------------------------------------------- responses
@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the demo has sent, as the response simulation needs it."""

    message_id: str
    request_id: str
    step: int
    variant: str
    incentive: str
    sent_at: datetime


#: How much better (or worse) an arm does than average: the bandit and the report have something to find.
VARIANT_LIFT = {"gratitude": 1.25, "social_proof": 1.0, "direct_ask": 0.8}
INCENTIVE_LIFT = {"give50_get50": 1.2, "donation": 0.85}


def simulate_responses(messages: Sequence[SentMessage], *, seed: int) -> list[ResponseInput]:
    """What customers do with the messages: a seeded draw per message, independent of the order given."""
    found: list[ResponseInput] = []
    for message in messages:
        found.extend(_responses_to(message, random.Random(f"responses:{seed}:{message.message_id}")))
    return found


def _responses_to(message: SentMessage, rng: random.Random) -> Iterator[ResponseInput]:
    lift = VARIANT_LIFT.get(message.variant, 1.0) * INCENTIVE_LIFT.get(message.incentive, 1.0)
    lift *= 0.7 if message.step else 1.0

    def response(kind: ResponseKind, hours: float) -> ResponseInput:
        return ResponseInput(
            kind=kind,
            occurred_at=message.sent_at + timedelta(hours=hours),
            source="demo",
            referral_request_id=message.request_id,
            message_id=message.message_id,
            external_id=f"demo:{message.message_id}:{kind.value}",
            details={"sequence_step": message.step},
        )

    if rng.random() < 0.015:
        yield response(ResponseKind.BOUNCED, 0.01)
        return
    yield response(ResponseKind.DELIVERED, 0.01)
    if rng.random() > 0.55:
        return
    opened = rng.uniform(0.2, 30)
    yield response(ResponseKind.OPENED, opened)
    if rng.random() < 0.03:
        yield response(ResponseKind.UNSUBSCRIBED, opened + 0.05)
        return
    if rng.random() < 0.12 * lift:
        yield response(ResponseKind.REPLIED_OK, opened + rng.uniform(0.1, 12))
    if rng.random() < 0.3 * lift:
        clicked = opened + rng.uniform(0.01, 6)
        yield response(ResponseKind.REFERRAL_CLICKED, clicked)
        if rng.random() < 0.45:
            referred = clicked + rng.uniform(1, 40)
            yield response(ResponseKind.REFERRAL, referred)
            if rng.random() < 0.5:
                yield response(ResponseKind.CONVERSION, referred + rng.uniform(2, 30))
