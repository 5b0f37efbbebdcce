"""Synthetic, seeded customers and journey events for the benchmarks (and for trying the CLI).

    python benchmarks/generate.py --customers 100000 --events 1000000 --out /tmp/bench

writes ``customers.csv`` and ``events.jsonl`` there. The event mix is roughly what a B2B SaaS
product emits: purchases, support tickets opened and resolved, NPS answers (mostly promoters),
milestones, and 15% of types the rules do not know (stored, ignored by detection).
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
#: (event type, share of events)
EVENT_MIX = (
    ("purchase", 0.25),
    ("nps_submitted", 0.20),
    ("ticket_opened", 0.15),
    ("ticket_resolved", 0.15),
    ("milestone_reached", 0.10),
    ("page_viewed", 0.10),
    ("feature_used", 0.05),
)
PLANS = ("starter", "team", "business", "enterprise")
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "America/Sao_Paulo")
MILESTONES = ("100th invoice sent", "first integration", "10 seats", "1 year anniversary")
CUSTOMER_COLUMNS = (
    "customer_id", "email", "first_name", "last_name", "company", "plan", "lifetime_value",
    "first_purchase_at", "timezone", "locale", "marketing_opt_in",
)  # fmt: skip


def customer_id(index: int) -> str:
    return f"cus-{index:07d}"


def customer_rows(count: int, *, seed: int = 1, now: datetime = NOW) -> Iterator[tuple[str, ...]]:
    rng = random.Random(seed)
    for index in range(count):
        first_purchase = now - timedelta(days=rng.randint(1, 1500), seconds=rng.randint(0, 86399))
        yield (
            customer_id(index),
            f"user{index}@example{index % 97}.com",
            f"First{index}",
            f"Last{index}",
            f"Company {index // 5}",
            rng.choices(PLANS, weights=(50, 30, 15, 5))[0],
            f"{rng.lognormvariate(8, 1.5):.2f}",
            first_purchase.isoformat(),
            rng.choice(ZONES),
            rng.choice(("en", "en", "de", "fr", "ja")),
            rng.choice(("true", "true", "true", "false")),
        )


def write_customers(path: Path, count: int, *, seed: int = 1, now: datetime = NOW) -> int:
    """``customers.csv`` with a header row; returns its size in bytes."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CUSTOMER_COLUMNS)
        writer.writerows(customer_rows(count, seed=seed, now=now))
    return path.stat().st_size


def _properties(kind: str, index: int, rng: random.Random) -> dict[str, object]:
    if kind == "purchase":
        return {"amount": round(rng.uniform(5, 5000), 2), "currency": "EUR"}
    if kind == "nps_submitted":
        return {"score": rng.choices(range(11), weights=(1, 1, 1, 1, 1, 2, 3, 5, 10, 20, 20))[0]}
    if kind == "ticket_opened":
        return {"ticket_id": f"T{index // 2}", "priority": rng.choice(("low", "normal", "high"))}
    if kind == "ticket_resolved":
        return {"ticket_id": f"T{index // 2}", "csat": rng.choices(range(1, 6), weights=(1, 1, 2, 6, 10))[0]}
    if kind == "milestone_reached":
        return {"name": rng.choice(MILESTONES)}
    return {"path": f"/app/{rng.choice(('invoices', 'reports', 'settings'))}", "ms": rng.randint(10, 900)}


def event_lines(count: int, customers: int, *, seed: int = 2, now: datetime = NOW) -> Iterator[bytes]:
    """JSON lines of ``count`` events over the last 30 days (some within the 7-day staleness window)."""
    rng = random.Random(seed)
    kinds = [kind for kind, _ in EVENT_MIX]
    weights = [share for _, share in EVENT_MIX]
    for index in range(count):
        kind = rng.choices(kinds, weights)[0]
        occurred = now - timedelta(seconds=rng.randint(0, 30 * 86400))
        event = {
            "event_id": f"evt-{seed}-{index:09d}",
            "customer_id": customer_id(rng.randrange(customers)),
            "type": kind,
            "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
            "properties": _properties(kind, index, rng),
        }
        yield orjson.dumps(event) + b"\n"


def write_events(path: Path, count: int, customers: int, *, seed: int = 2, now: datetime = NOW) -> int:
    """``events.jsonl``; returns its size in bytes."""
    with path.open("wb") as handle:
        for chunk in _chunked(event_lines(count, customers, seed=seed, now=now)):
            handle.write(chunk)
    return path.stat().st_size


def _chunked(lines: Iterator[bytes], size: int = 10_000) -> Iterator[bytes]:
    buffer: list[bytes] = []
    for line in lines:
        buffer.append(line)
        if len(buffer) >= size:
            yield b"".join(buffer)
            buffer.clear()
    yield b"".join(buffer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench-data"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    write_customers(args.out / "customers.csv", args.customers, seed=args.seed)
    write_events(args.out / "events.jsonl", args.events, args.customers, seed=args.seed + 1)
    print(f"wrote {args.out / 'customers.csv'} and {args.out / 'events.jsonl'}")


if __name__ == "__main__":
    main()
