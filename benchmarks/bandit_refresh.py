"""The bandit's refresh against a database: 100 arms and 1,000,000 recorded sends, SQLite and PostgreSQL.

    python benchmarks/bandit_refresh.py                      # both databases, 1,000,000 sends
    python benchmarks/bandit_refresh.py --sends 200000 --database sqlite

It fills a fresh, migrated database (``pipeline.Database``) with one campaign of 50 variants × 2
incentives: 1,000 customers, a moment and a sent request per send over the last 120 days, one
``delivered`` response per send (the provider's events the refresh must skip), and a conversion for
8 % of the sends after an exponential delay of 3 days on average (those not yet arrived left out),
worth 100-1,000. The secondary indexes are dropped for the fill and rebuilt after it (a fill, not
the subject). Then it times, best of three, the refresh query alone (``store.age_rows``) and the
whole refresh of the campaign (query, posteriors, allocation: ``refresh.campaign_allocation``),
wall-clock and this process's CPU (the database's own, for PostgreSQL, is not in the second).
``bandit.py`` runs it for its targets.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import Database
from rich.console import Console
from rich.table import Table
from sqlalchemy import Index, text
from sqlalchemy import Table as SqlTable

from referral_automation.config import Campaign
from referral_automation.db.models import Customer, Moment, ReferralRequest, Response
from referral_automation.db.session import get_engine, session_factory
from referral_automation.db.sql import Driver
from referral_automation.domain.arms import bandit_arms
from referral_automation.services.bandit import store
from referral_automation.services.bandit.refresh import campaign_allocation

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
CAMPAIGN_ID = "bench"
ARMS = 100
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)

MOMENT_COLUMNS = ("id", "customer_id", "rule_id", "source_key", "occurred_at", "detected_at", "priority", "campaign",
                  "outcome")  # fmt: skip
REQUEST_COLUMNS = ("id", "customer_id", "moment_id", "campaign", "variant", "incentive", "code", "unsubscribe_token",
                   "status", "approval_required", "scheduled_for", "created_at", "updated_at", "sent_at",
                   "followups_sent", "attempts")  # fmt: skip
RESPONSE_COLUMNS = ("referral_request_id", "kind", "occurred_at", "source", "details")


def campaign() -> Campaign:
    """A campaign of 50 variants × 2 incentives: the 100 arms of the issue's target."""
    reward = {"kind": "credit", "value": 10, "currency": "USD"}
    return Campaign.model_validate(
        {
            "kind": "customer",
            "name": "Benchmark",
            "sender": {"email": "bench@example.com"},
            "landing_page": "https://example.com/r",
            "variants": [{"id": f"v{n:02d}", "template": "bench/v"} for n in range(ARMS // 2)],
            "incentives": [
                {"id": f"i{n}", "sides": "single", "referrer": reward, "cost": 10 + 40 * n, "text": "10"}
                for n in range(2)
            ],
        }
    )


def _sends(count: int, seed: int) -> Iterator[tuple[int, tuple[str, str], datetime, datetime | None, float]]:
    """(number, arm, sent at, converted at or None, value) per send, oldest first."""
    rng = random.Random(seed)
    arms = [(arm.variant, arm.incentive) for arm in bandit_arms(campaign())]
    ages = sorted((rng.random() * 120 for _ in range(count)), reverse=True)
    for n, age in enumerate(ages):
        sent = NOW - timedelta(days=age)
        converted = sent + timedelta(days=rng.expovariate(1 / 3)) if rng.random() < 0.08 else None
        yield n, arms[rng.randrange(len(arms))], sent, converted if converted and converted <= NOW else None, 100.0


def _rows(count: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    moments, requests, responses = [], [], []
    for n, (variant, incentive), sent, converted, _value in _sends(count, seed=7):
        customer = f"c{n * 1000 // count:04d}"
        moment, request = f"m{n:09d}", f"r{n:09d}"
        moments.append((moment, customer, "nps_promoter", f"e{n:09d}", sent, sent, 30, CAMPAIGN_ID, "requested"))
        requests.append((request, customer, moment, CAMPAIGN_ID, variant, incentive, f"code{n:09d}", f"token{n:09d}",
                         "sent", False, sent, sent, sent, sent, 0, 0))  # fmt: skip
        responses.append((request, "delivered", sent + timedelta(minutes=1), "sendgrid", "{}"))
        if converted is not None:
            value = 100 + (n * 37) % 901
            responses.append((request, "conversion", converted, "api", f'{{"value": {value}, "currency": "USD"}}'))
    return moments, requests, responses


def _insert(driver: Driver, table: SqlTable, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    if driver.postgres:
        driver.copy_rows(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN", rows)
        return
    times = [n for n, name in enumerate(columns) if name in ("occurred_at", "detected_at", "scheduled_for",
                                                                 "created_at", "updated_at", "sent_at")]  # fmt: skip
    stored = [tuple(driver.timestamp_in(v) if n in times else v for n, v in enumerate(row)) for row in rows]
    marks = ", ".join("?" * len(columns))
    driver.execute_many(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", stored)


def fill(url: str, sends: int) -> float:
    """The campaign's history in ``url``'s empty database; the seconds it took."""
    started = time.perf_counter()
    tables: list[SqlTable] = [Moment.__table__, ReferralRequest.__table__, Response.__table__]  # type: ignore[list-item]
    indexes: list[Index] = [index for table in tables for index in table.indexes]
    engine = get_engine(url)
    with engine.begin() as connection:
        for index in indexes:
            index.drop(connection)
    moments, requests, responses = _rows(sends)
    factory = session_factory(url)
    with factory() as session, session.begin():
        now = NOW - timedelta(days=400)
        customers = [
            Customer(customer_id=f"c{n:04d}", email=f"c{n}@example.com", created_at=now, updated_at=now)
            for n in range(1000)
        ]
        session.add_all(customers)
        session.flush()
        driver = Driver(session)
        _insert(driver, Moment.__table__, MOMENT_COLUMNS, moments)  # type: ignore[arg-type]
        _insert(driver, ReferralRequest.__table__, REQUEST_COLUMNS, requests)  # type: ignore[arg-type]
        _insert(driver, Response.__table__, RESPONSE_COLUMNS, responses)  # type: ignore[arg-type]
    with engine.begin() as connection:
        for index in indexes:
            index.create(connection)
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        else:
            connection.execute(text("ANALYZE"))
            connection.commit()
    return time.perf_counter() - started


def best_of(function: Callable[[], object], repeat: int = 3) -> tuple[float, float]:
    """The fastest of ``repeat`` calls: (wall seconds, this process's CPU seconds)."""
    timings = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        timings.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(timings)


def measure(kind: str, sends: int) -> dict[str, float]:
    """Fill a fresh database of ``kind`` and time the query and the whole refresh on it."""
    with tempfile.TemporaryDirectory(prefix="bandit-refresh-") as folder:
        database = Database(kind, Path(folder))
        try:
            filled = fill(database.url, sends)
            factory = session_factory(database.url)
            config = campaign()
            arms = [arm.key for arm in bandit_arms(config)]

            def query() -> object:
                with factory() as session, session.begin():
                    return store.age_rows(
                        session, campaign=CAMPAIGN_ID, arms=arms, kind="conversion", now=NOW, default_value=None
                    )

            def whole() -> object:
                with factory() as session, session.begin():
                    return campaign_allocation(session, CAMPAIGN_ID, config, now=NOW)

            rows = query()
            if not isinstance(rows, list) or sum(row.sends for row in rows) != sends:
                raise RuntimeError("the refresh query did not count every send")
            query_wall, query_cpu = best_of(query)
            whole_wall, whole_cpu = best_of(whole)
        finally:
            database.close()
    return {
        "fill": filled,
        "query": query_wall,
        "query_cpu": query_cpu,
        "refresh": whole_wall,
        "refresh_cpu": whole_cpu,
    }


def table(figures: dict[str, dict[str, float]], sends: int) -> Table:
    result = Table(title=f"refresh from the database: {ARMS} arms, {sends:,} recorded sends", title_justify="left")
    for name in ("database", "fill (s)", "query (s)", "query CPU (s)", "refresh (s)", "refresh CPU (s)"):
        result.add_column(name, justify="left" if name == "database" else "right")
    for kind, f in figures.items():
        result.add_row(kind, f"{f['fill']:.0f}", f"{f['query']:.3f}", f"{f['query_cpu']:.3f}", f"{f['refresh']:.3f}",
                       f"{f['refresh_cpu']:.3f}")  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=1_000_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    console.print(table({kind: measure(kind, args.sends) for kind in kinds}, args.sends))


if __name__ == "__main__":
    main()
