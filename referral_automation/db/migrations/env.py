"""Alembic environment: runs migrations on the engine the engine itself uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import context
from sqlalchemy import Connection

from referral_automation.db.models import Base
from referral_automation.db.session import get_engine

target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = get_engine(url)
    with engine.connect() as connection, _sqlite_foreign_keys_off(connection):
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            _check_foreign_keys(connection)
        connection.commit()


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite rebuilds a table to change its constraints (batch mode): dropping the old copy of a
    table other tables point at would fail, or cascade, with foreign keys enforced. SQLite's own
    procedure turns enforcement off outside the transaction and checks the keys before the commit
    (``_check_foreign_keys``); the connection gets enforcement back before it returns to the pool."""
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")  # no transaction is open yet: the pragma takes effect
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def _check_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: {broken[:5]}")


run_migrations_online()
