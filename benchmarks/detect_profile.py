"""Detection alone, measured again and again on the same ingested data (and profiled on request).

    python benchmarks/detect_profile.py --events 200000 --customers 100000 --repeat 3
    python benchmarks/detect_profile.py --database postgresql --repeat 2
    python benchmarks/detect_profile.py --profile /tmp/detect.prof      # cProfile the first run
    python benchmarks/detect_profile.py --snapshot /tmp/a.txt           # the stored outcomes, to diff versions
    python benchmarks/detect_profile.py --pragma cache_size=-65536 --pragma wal_autocheckpoint=10000

The data is generated and ingested once into a template (a SQLite file, or a PostgreSQL database);
each run starts from a fresh copy of it (file copy, ``CREATE DATABASE … TEMPLATE``) in a freshly
spawned process, and reports wall-clock and CPU seconds (``time.process_time``: the figure that a
loaded machine disturbs least) of ``detect_moments`` alone, with the peak resident set it added.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import generate

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _postgres_url(database: str) -> str:
    from sqlalchemy.engine import make_url

    base = os.environ.get("REFERRAL_BENCH_POSTGRES_URL") or os.environ.get("REFERRAL_TEST_POSTGRES_URL")
    url = make_url(base or DEFAULT_POSTGRES).set(drivername="postgresql+psycopg", database=database)
    return url.render_as_string(hide_password=False)


def _admin(sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(_postgres_url("postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(sql))
    engine.dispose()


def prepare(kind: str, work: Path, customers: int, events: int, batch_size: int) -> str:
    """Generate, migrate and ingest once; the template's URL."""
    from referral_automation.config import load_config
    from referral_automation.db.migrate import upgrade_to_head
    from referral_automation.db.session import get_engine, session_factory
    from referral_automation.services import ingest

    generate.write_customers(work / "customers.csv", customers)
    generate.write_events(work / "events.jsonl", events, customers)
    if kind == "sqlite":
        url = f"sqlite:///{work / 'template.db'}"
    else:
        name = f"detect_tpl_{uuid.uuid4().hex[:8]}"
        _admin(f'CREATE DATABASE "{name}"')
        url = _postgres_url(name)
    upgrade_to_head(url)
    factory = session_factory(url)
    ingest.ingest_customers_file(factory, work / "customers.csv", now=generate.NOW, batch_size=2000)
    config = load_config(ROOT / "config")
    ingest.ingest_events_file(factory, config, work / "events.jsonl", now=generate.NOW, batch_size=batch_size)
    get_engine(url).dispose()
    if kind == "sqlite":
        import sqlite3

        with sqlite3.connect(work / "template.db") as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return url


def copy_of(kind: str, template: str, work: Path, index: int) -> str:
    if kind == "sqlite":
        path = work / f"run-{index}.db"
        _remove_sqlite(path)  # a stale -wal beside a fresh copy would corrupt it
        shutil.copy(work / "template.db", path)
        return f"sqlite:///{path}"
    from sqlalchemy.engine import make_url

    name = f"{make_url(template).database}_run{index}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(template).database}"')
    return _postgres_url(name)


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def drop(kind: str, url: str) -> None:
    if kind == "sqlite":
        _remove_sqlite(Path(url.removeprefix("sqlite:///")))
    if kind == "postgresql":
        from sqlalchemy.engine import make_url

        _admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}"')


def snapshot(url: str, path: str) -> None:
    """Every stored outcome of the run as the database holds it (raw driver values, no type
    processing), in a stable order, without the random parts (codes and tokens): two versions of
    detection that behave alike write the same file."""
    from referral_automation.db.models import AuditEntry, Moment, ReferralRequest
    from referral_automation.db.session import get_engine

    random_parts = {"code", "unsubscribe_token"}
    with get_engine(url).connect() as connection, open(path, "w") as out:
        for model in (Moment, ReferralRequest, AuditEntry):
            table = model.__table__
            names = ", ".join(c.name for c in table.columns if c.name not in random_parts)
            order = "subject_id" if model is AuditEntry else "id"
            for row in connection.exec_driver_sql(f"SELECT {names} FROM {table.name} ORDER BY {order}"):
                out.write(f"{table.name}\t" + "\t".join(repr(v) for v in row) + "\n")


def run_detect(
    url: str, batch_size: int, profile: str | None, snapshot_path: str | None = None, pragmas: tuple[str, ...] = ()
) -> tuple[dict[str, object], float, float, float]:
    """In a fresh process: the report, wall seconds, CPU seconds and peak RSS added (MiB)."""
    from sqlalchemy import event

    from referral_automation.config import load_config
    from referral_automation.db.session import get_engine, session_factory
    from referral_automation.services.detection import detect

    if pragmas:  # an experiment: SQLite settings the engine does not (yet) make itself

        @event.listens_for(get_engine(url), "connect")
        def _tune(dbapi_connection: object, _record: object) -> None:
            for pragma in pragmas:
                dbapi_connection.execute(f"PRAGMA {pragma}")  # type: ignore[attr-defined]

    config = load_config(ROOT / "config")
    factory = session_factory(url)
    with factory() as session:
        session.connection()
    baseline = _rss_mib()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    wall, cpu = time.perf_counter(), time.process_time()
    report = detect.detect_moments(factory, config, now=generate.NOW, batch_size=batch_size)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if profiler is not None and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - baseline
    if snapshot_path:
        snapshot(url, snapshot_path)
    return report.as_dict(), wall, cpu, max(peak, 0.0)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--batch-size", type=int, default=10_000, help="events per batch (detection's default)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", help="write a cProfile of the first run here")
    parser.add_argument(
        "--pragma", action="append", default=[], help="SQLite: also run PRAGMA this on connecting (repeatable)"
    )
    parser.add_argument("--snapshot", help="write the first run's stored outcomes here (to compare versions)")
    parser.add_argument("--work", type=Path, help="keep the template here (reused when present)")
    return parser.parse_args()


def _template(args: argparse.Namespace, work: Path, marker: Path) -> str:
    if marker.exists():
        return marker.read_text()
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        job = pool.submit(prepare, args.database, work, args.customers, args.events, args.batch_size)
        template = job.result()
    marker.write_text(template)
    return template


def _measure(args: argparse.Namespace, template: str, work: Path, index: int) -> None:
    """One run on a fresh copy, in a fresh process; prints a line."""
    url = copy_of(args.database, template, work, index)
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            profile, saved = (args.profile, args.snapshot) if index == 0 else (None, None)
            job = pool.submit(run_detect, url, args.batch_size, profile, saved, tuple(args.pragma))
            report, wall, cpu, peak = job.result()
    finally:
        drop(args.database, url)
    scanned = int(report["events_scanned"])  # type: ignore[call-overload]
    print(
        f"  run {index + 1}: {wall:6.2f} s wall ({scanned / wall:8,.0f} ev/s), "
        f"{cpu:6.2f} s CPU ({scanned / cpu:8,.0f} ev/s), peak +{peak:6.1f} MiB  {report}"
    )


def main() -> None:
    args = _arguments()
    work = args.work or Path(tempfile.mkdtemp(prefix="detect-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    marker = work / f"template-{args.database}.url"
    try:
        template = _template(args, work, marker)
        print(f"{args.database}: {args.events:,} events, {args.customers:,} customers, load {os.getloadavg()[0]:.2f}")
        for index in range(args.repeat):
            _measure(args, template, work, index)
    finally:
        if args.work is None:
            if marker.exists() and args.database == "postgresql":
                drop("postgresql", marker.read_text())
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
