"""The follow-up claim finds due follow-ups through the partial index of pending ones (migration 0004)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from referral_automation.db.session import get_engine, session_factory
from referral_automation.services.sending.claims import lease_follow_ups
from tests.support.send import NOW, OPTIONS, shipped_config


def test_the_follow_up_claim_reads_the_index_of_pending_follow_ups(sqlite_url: str) -> None:
    """It lets SQLite's planner use ``ix_referral_requests_followup`` for the due follow-ups: the
    query's ``next_followup_at <= now`` implies the index's ``next_followup_at IS NOT NULL``."""
    engine = get_engine(sqlite_url)
    due_queries: list[tuple[str, Any]] = []

    def capture(conn: object, cursor: object, statement: str, parameters: Any, *args: object) -> None:
        if "next_followup_at <=" in statement:
            due_queries.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        factory = session_factory(sqlite_url)
        with factory() as session, session.begin():
            lease_follow_ups(session, config=shipped_config(), now=NOW, options=OPTIONS)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    [(statement, parameters)] = due_queries
    with engine.connect() as conn:
        plan = [str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    assert any("ix_referral_requests_followup" in step for step in plan), plan
