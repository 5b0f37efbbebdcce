"""Pipeline throughput: generate customers and journey events, ingest them, run detection.

    python benchmarks/pipeline.py                        # 100,000 customers, 1,000,000 events, SQLite and PostgreSQL
    python benchmarks/pipeline.py --events 200000 --database sqlite
    python benchmarks/pipeline.py --scale                # ingest 250k and 1M events: memory stays flat

Each stage runs in a fresh process (spawned, so nothing is inherited), which gives an honest
memory figure: the process's peak resident set (``ru_maxrss``) minus its resident set just before
the stage started, i.e. what the stage itself added at its high-water mark (SQLite's page cache
and the database driver included). Seconds are wall-clock time of the stage alone.

PostgreSQL: ``REFERRAL_BENCH_POSTGRES_URL`` or ``REFERRAL_TEST_POSTGRES_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``; the run uses a fresh schema (through
``search_path``) and drops it afterwards. SQLite: a file in a temporary directory.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import generate
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NOW = generate.NOW
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


@dataclass(frozen=True)
class StageResult:
    stage: str
    database: str
    rows: int
    seconds: float
    peak_mib: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


# --------------------------------------------------------------------------- stages (in a child)
def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_stage(stage: str, url: str, data: str, batch_size: int | None) -> tuple[int, float, float, str]:
    """One stage in this (fresh) process: (rows, seconds, peak RSS added in MiB, note)."""
    from referral_automation.config import load_config
    from referral_automation.db.session import session_factory
    from referral_automation.services import ingest
    from referral_automation.services.detection import detect
    from referral_automation.services.ingest import events as ingest_events

    config = load_config(ROOT / "config")
    factory = session_factory(url)
    with factory() as session:  # connect before measuring: the stage, not the first connection
        session.connection()
    folder = Path(data)
    baseline = _rss_mib()
    started = time.perf_counter()
    if stage == "ingest customers":
        report = ingest.ingest_customers_file(factory, folder / "customers.csv", now=NOW, batch_size=2000)
        rows, note = report.read, f"{report.inserted:,} inserted, {report.rejected} rejected"
    elif stage in ("ingest events", "re-ingest events"):
        lines = batch_size or ingest_events.DEFAULT_BATCH_SIZE
        report = ingest.ingest_events_file(factory, config, folder / "events.jsonl", now=NOW, batch_size=lines)
        rows = report.read
        note = f"{report.inserted:,} inserted, {report.duplicates:,} known, {report.rejected} rejected"
        writer_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if writer_peak:
            note += f"; writer process peak {writer_peak:.0f} MiB"
    elif stage == "insert only (floor)":
        rows, seconds, peak = _insert_only(factory, config, folder / "events.jsonl", batch_size)
        return rows, seconds, peak, "the same rows, checked beforehand: the writer's share"
    elif stage == "raw sqlite3 (floor)":
        rows, seconds, peak = _raw_sqlite(factory, config, folder / "events.jsonl", batch_size)
        return rows, seconds, peak, "prebuilt rows, bare sqlite3 executemany: SQLite's own share"
    elif stage == "detect":
        detection = detect.detect_moments(factory, config, now=NOW, batch_size=batch_size or detect.DEFAULT_BATCH_SIZE)
        rows = detection.events_scanned
        note = f"{detection.candidates:,} moments, {detection.requests_created:,} requests"
    else:
        raise ValueError(stage)
    seconds = time.perf_counter() - started
    return rows, seconds, max(_peak_mib() - baseline, 0.0), note


def _checked_events(config: Any, path: Path) -> list[Any]:
    """Every line of the events file as the ingest's checks turn it into a row (floors start from these)."""
    from referral_automation.services.ingest.event_checks import EventChecker
    from referral_automation.services.ingest.readers import read_lines

    checker = EventChecker(config.events)
    with path.open("rb") as handle:
        return [checker.check(checker.parse(data)) for _, data, _ in read_lines(handle)]


def _storage_batches(config: Any, path: Path, batch_size: int | None, *, postgres: bool) -> list[Any]:
    """The events file checked and cut into the ingest's batches, each in storage form (``storage_rows``)."""
    from referral_automation.services.ingest.events import DEFAULT_BATCH_SIZE
    from referral_automation.services.ingest.store import storage_rows

    batch_size = batch_size or DEFAULT_BATCH_SIZE
    checked = _checked_events(config, path)
    return [
        storage_rows(checked[start : start + batch_size], NOW, postgres=postgres)
        for start in range(0, len(checked), batch_size)
    ]


def _insert_only(factory: Any, config: Any, path: Path, batch_size: int | None) -> tuple[int, float, float]:
    """The writer's database work alone: rows checked and put in storage form in advance, then
    written batch by batch as the ingest's writer does (``BatchStore``: customer check, insert)."""
    from referral_automation.services.ingest.writer import BatchStore

    batches = _storage_batches(config, path, batch_size, postgres=factory.kw["bind"].dialect.name == "postgresql")
    store = BatchStore(factory)
    baseline = _rss_mib()
    started = time.perf_counter()
    for batch in batches:
        store.write(batch)
    return sum(map(len, batches)), time.perf_counter() - started, max(_peak_mib() - baseline, 0.0)


def _raw_sqlite(factory: Any, config: Any, path: Path, batch_size: int | None) -> tuple[int, float, float]:
    """SQLite alone: the rows already in storage form and grouped by customer, inserted with the
    sqlite3 module's ``executemany`` on the engine's connection (its pragmas), one transaction per batch."""
    batches = _storage_batches(config, path, batch_size, postgres=False)
    sql = (
        "INSERT INTO journey_events (event_id, customer_id, type, occurred_at, properties, ingested_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING"
    )
    connection = factory.kw["bind"].raw_connection()
    baseline = _rss_mib()
    started = time.perf_counter()
    try:
        for batch in batches:
            connection.driver_connection.execute("BEGIN IMMEDIATE")
            connection.driver_connection.executemany(sql, batch)
            connection.driver_connection.execute("COMMIT")
    finally:
        connection.close()
    return sum(map(len, batches)), time.perf_counter() - started, max(_peak_mib() - baseline, 0.0)


def _in_fresh_process(stage: str, url: str, data: Path, batch_size: int | None) -> tuple[int, float, float, str]:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_stage, stage, url, str(data), batch_size).result()


# --------------------------------------------------------------------------- databases
class Database:
    """A fresh, migrated database for one run; ``close`` removes it."""

    def __init__(self, kind: str, folder: Path) -> None:
        from referral_automation.db.migrate import upgrade_to_head

        self.kind = kind
        self.schema: str | None = None
        if kind == "sqlite":
            self.url = f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        else:
            base = os.environ.get("REFERRAL_BENCH_POSTGRES_URL") or os.environ.get("REFERRAL_TEST_POSTGRES_URL")
            self.schema = f"bench_{uuid.uuid4().hex[:10]}"
            self.admin = _schema_url(base or DEFAULT_POSTGRES, "public")
            self._execute(f'CREATE SCHEMA "{self.schema}"')
            self.url = _schema_url(base or DEFAULT_POSTGRES, self.schema)
        upgrade_to_head(self.url)
        from referral_automation.db.session import get_engine

        get_engine(self.url).dispose()

    def _execute(self, sql: str) -> None:
        from sqlalchemy import text

        from referral_automation.db.session import get_engine

        with get_engine(self.admin).begin() as connection:
            connection.execute(text(sql))

    def close(self) -> None:
        from referral_automation.db.session import get_engine

        get_engine(self.url).dispose()
        if self.schema:
            self._execute(f'DROP SCHEMA "{self.schema}" CASCADE')


def _schema_url(base: str, schema: str) -> str:
    """The URL with ``search_path`` set to ``schema`` (as tests/conftest.py does)."""
    from sqlalchemy.engine import make_url

    url = make_url(base)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


# --------------------------------------------------------------------------- runs
def generate_data(folder: Path, customers: int, events: int) -> StageResult:
    started = time.perf_counter()
    generate.write_customers(folder / "customers.csv", customers)
    size = generate.write_events(folder / "events.jsonl", events, customers)
    seconds = time.perf_counter() - started
    return StageResult("generate files", "-", customers + events, seconds, 0.0, f"events file {size / 2**20:,.0f} MiB")


def run_pipeline(
    kind: str, data: Path, work: Path, stages: list[str], batch_size: int | None, *, floor: bool = False
) -> list[StageResult]:
    database = Database(kind, work)
    results = []
    try:
        for stage in stages:
            console.print(f"  {kind}: {stage} …", style="dim")
            rows, seconds, peak, note = _in_fresh_process(stage, database.url, data, batch_size)
            results.append(StageResult(stage, kind, rows, seconds, peak, note))
            if stage == "ingest customers" and floor:
                results.append(_floor(kind, "insert only (floor)", data, work, batch_size))
                if kind == "sqlite":
                    results.append(_floor(kind, "raw sqlite3 (floor)", data, work, batch_size))
    finally:
        database.close()
    return results


def _floor(kind: str, stage: str, data: Path, work: Path, batch_size: int | None) -> StageResult:
    """A floor stage (``insert only`` or ``raw sqlite3``), on its own fresh database with the same customers."""
    database = Database(kind, work)
    try:
        _in_fresh_process("ingest customers", database.url, data, batch_size)
        rows, seconds, _peak, note = _in_fresh_process(stage, database.url, data, batch_size)
        return StageResult(stage, kind, rows, seconds, 0.0, note)
    finally:
        database.close()


def print_table(title: str, results: list[StageResult]) -> None:
    table = Table(title=title, title_justify="left")
    for name, justify in [("stage", "left"), ("database", "left"), ("rows", "right"), ("seconds", "right"),
                          ("rows/s", "right"), ("peak RSS added (MiB)", "right"), ("", "left")]:  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in results:
        memory = f"{r.peak_mib:,.1f}" if r.database != "-" and not r.stage.endswith("(floor)") else ""
        table.add_row(r.stage, r.database, f"{r.rows:,}", f"{r.seconds:,.2f}", f"{r.rate:,.0f}", memory, r.note)
    console.print(table)


def machine() -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{platform.python_implementation()} {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs, load average {load} at start ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="lines or events per transaction (default: each service's own)"
    )
    parser.add_argument("--scale", action="store_true", help="ingest two sizes (a quarter and all the events)")
    parser.add_argument("--no-detect", action="store_true", help="ingest only")
    parser.add_argument("--no-floor", action="store_true", help="skip the insert-only comparison")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    console.print(machine())
    work = Path(tempfile.mkdtemp(prefix="referral-bench-"))
    try:
        if args.scale:
            _scale(work, kinds, args)
        else:
            _once(work, kinds, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _once(work: Path, kinds: list[str], args: argparse.Namespace) -> None:
    data = work / "data"
    data.mkdir()
    results = [generate_data(data, args.customers, args.events)]
    stages = ["ingest customers", "ingest events", "re-ingest events"]
    stages += [] if args.no_detect else ["detect"]
    for kind in kinds:
        results += run_pipeline(kind, data, work, stages, args.batch_size, floor=not args.no_floor)
    print_table(f"pipeline: {args.customers:,} customers, {args.events:,} events", results)


def _scale(work: Path, kinds: list[str], args: argparse.Namespace) -> None:
    results: list[StageResult] = []
    for events in (args.events // 4, args.events):
        data = work / f"data-{events}"
        data.mkdir()
        results.append(generate_data(data, args.customers, events))
        for kind in kinds:
            results += run_pipeline(kind, data, work, ["ingest customers", "ingest events"], args.batch_size)
    print_table("scale: the same ingest at two sizes (memory should not grow with the file)", results)


if __name__ == "__main__":
    main()
