"""Engines and sessions that behave alike on SQLite and PostgreSQL.

SQLite gets WAL, foreign keys, a busy timeout and ``BEGIN IMMEDIATE`` transactions: one writer at
a time, which is the "single-writer lock" DESIGN.md relies on for claiming work. PostgreSQL claims
with ``FOR UPDATE SKIP LOCKED`` instead (see ``claim_options``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.errors import DatabaseError

#: The databases the engine's SQL is written for (``db.sql`` speaks both dialects, nothing else).
BACKENDS = ("sqlite", "postgresql")
EXAMPLES = "use PostgreSQL (postgresql+psycopg://user@host:5432/referral) or SQLite (sqlite:///referral.db)"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (the driver this project installs).

    A URL that does not parse, or names a database the engine does not speak, is a
    ``DatabaseError`` saying what to write instead.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # a bad port is a ValueError
        raise DatabaseError("the database URL is not a URL", EXAMPLES) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in BACKENDS:
        shown = parsed.render_as_string(hide_password=True)
        raise DatabaseError(f"referral-automation works with PostgreSQL and SQLite, not {shown}", EXAMPLES)
    return parsed.render_as_string(hide_password=False)


#: A WAL checkpoint every 25,000 pages (about 100 MiB) instead of SQLite's 1,000, and the WAL file cut
#: back to 64 MiB after one. Ingest and detection commit batches that touch pages all over the
#: customer indexes; with the default, nearly every commit was followed by a checkpoint copying
#: those pages again (and syncing); benchmarks/HISTORY.md has the gain.
SQLITE_TUNING: tuple[str, ...] = ("wal_autocheckpoint=25000", f"journal_size_limit={64 << 20}")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" below decide
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        for pragma in SQLITE_TUNING:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@lru_cache(maxsize=16)
def get_engine(url: str) -> Engine:
    """One engine per URL per process (engines own connection pools); a driver that is not
    installed is a ``DatabaseError`` naming it, not an ``ImportError`` from deep in SQLAlchemy."""
    url = normalise_url(url)
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 60})
            _configure_sqlite(engine)
            return engine
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    except (NoSuchModuleError, ImportError) as error:
        raise _missing_driver(make_url(url), error) from None


def _missing_driver(url: URL, error: Exception) -> DatabaseError:
    shown = url.render_as_string(hide_password=True)
    driver = url.get_driver_name()
    if isinstance(error, NoSuchModuleError):
        what = f"the database URL {shown} names the driver {driver!r}, which SQLAlchemy does not know"
    else:
        what = f"the database URL {shown} needs the driver {getattr(error, 'name', None) or driver!r}, not installed"
    return DatabaseError(what, "use postgresql+psycopg://… (psycopg 3 is installed) or sqlite:///…")


def session_factory(url: str) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (services return them to callers)."""
    return sessionmaker(get_engine(url), expire_on_commit=False)


def is_postgres(session_or_engine: Session | Engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"
