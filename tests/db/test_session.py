"""Engines: SQLite connections get the settings the ingest and detection rely on."""

from __future__ import annotations

import sqlite3

import pytest

from referral_automation.db.session import get_engine


def test_sqlite_connections_use_wal_with_rare_checkpoints(sqlite_url: str) -> None:
    """It opens SQLite in WAL mode, checkpoints every 25,000 pages and cuts the WAL back to 64 MiB."""
    with get_engine(sqlite_url).connect() as conn:
        settings = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "wal_autocheckpoint", "journal_size_limit", "foreign_keys", "synchronous")
        }

    assert settings == {
        "journal_mode": "wal",
        "wal_autocheckpoint": 25000,
        "journal_size_limit": 64 << 20,
        "foreign_keys": 1,
        "synchronous": 1,  # NORMAL
    }


def test_a_transaction_takes_the_write_lock_at_once(sqlite_url: str) -> None:
    """It begins every transaction with BEGIN IMMEDIATE, so a second writer waits instead of failing later."""
    engine = get_engine(sqlite_url)
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        other = engine.raw_connection()
        try:
            other.driver_connection.execute("PRAGMA busy_timeout=0")
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.driver_connection.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
