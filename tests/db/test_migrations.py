"""The Alembic migrations and the SQLAlchemy models describe the same schema."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from referral_automation.db.migrate import alembic_config, upgrade_to_head
from referral_automation.db.models import Base, Message, ReferralRequest
from referral_automation.db.session import get_engine, session_factory
from referral_automation.domain.statuses import Decision, MessageStatus, RequestStatus
from tests.support.factories import NOW, add_customer, add_decision, add_request


def test_the_migrated_schema_matches_the_models(db_url: str) -> None:
    """It finds nothing for autogenerate to add: every model change has its migration."""
    with get_engine(db_url).connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_init_is_idempotent(db_url: str) -> None:
    """It upgrades an up-to-date schema without error or change."""
    before = sorted(inspect(get_engine(db_url)).get_table_names())
    upgrade_to_head(db_url)
    assert sorted(inspect(get_engine(db_url)).get_table_names()) == before


def test_every_migration_downgrades_and_upgrades_again(sqlite_url: str) -> None:
    """It can step back to the first revision and forward to head."""
    command.downgrade(alembic_config(sqlite_url), "0001")
    upgrade_to_head(sqlite_url)
    with get_engine(sqlite_url).connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def _index_definition(url: str, name: str) -> str:
    """The index's definition as the database keeps it (its CREATE INDEX text)."""
    engine = get_engine(url)
    query = (
        "SELECT indexdef FROM pg_indexes WHERE indexname = :name AND schemaname = current_schema()"
        if engine.dialect.name == "postgresql"
        else "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
    )
    with engine.connect() as conn:
        return str(conn.execute(text(query), {"name": name}).scalar_one())


def test_the_follow_up_index_holds_only_pending_follow_ups(db_url: str) -> None:
    """It indexes only requests with a follow-up to come (migration 0004); a first ask's status
    changes leave the index alone."""
    definition = _index_definition(db_url, "ix_referral_requests_followup")
    assert "next_followup_at IS NOT NULL" in definition.replace("(", "").replace(")", "")


def test_the_follow_up_index_migration_goes_back(sqlite_url: str) -> None:
    """It gives the full index back when downgraded past 0004, and the partial one again after."""
    command.downgrade(alembic_config(sqlite_url), "0003")
    assert "WHERE" not in _index_definition(sqlite_url, "ix_referral_requests_followup")
    upgrade_to_head(sqlite_url)
    assert "WHERE next_followup_at IS NOT NULL" in _index_definition(sqlite_url, "ix_referral_requests_followup")


CHECKED = [
    ("referral_requests", "status", "ck_referral_requests_status"),
    ("messages", "status", "ck_messages_status"),
    ("moments", "outcome", "ck_moments_outcome"),
    ("approval_decisions", "decision", "ck_approval_decisions_decision"),
]


@pytest.mark.parametrize(("table", "column", "name"), CHECKED, ids=[c[0] for c in CHECKED])
def test_a_status_no_code_knows_is_refused(db_url: str, table: str, column: str, name: str) -> None:
    """It refuses a status outside the domain's list (a typo, a hand-written UPDATE) with the constraint's name."""
    factory = session_factory(db_url)
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann", status=RequestStatus.SCHEDULED)
    add_decision(factory, request_id, Decision.APPROVED, by="dana", at=NOW)
    with factory() as session, session.begin():
        session.add(
            Message(id="m1", referral_request_id=request_id, sequence_step=0, status=MessageStatus.SENT, provider="x",
                    subject="s", content_hash="h", created_at=NOW)
        )  # fmt: skip

    with pytest.raises(IntegrityError, match=name), factory() as session, session.begin():
        session.execute(text(f"UPDATE {table} SET {column} = 'snt'"))


def test_the_status_checks_go_back_and_come_again_with_the_rows(sqlite_url: str) -> None:
    """It drops the checks when downgraded past 0005 and adds them again after, keeping every row
    and the partial indexes (SQLite rebuilds each table to change its constraints)."""
    factory = session_factory(sqlite_url)
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann", status=RequestStatus.SENT)
    get_engine(sqlite_url).dispose()

    command.downgrade(alembic_config(sqlite_url), "0004")
    with get_engine(sqlite_url).begin() as conn:
        assert "CHECK" not in str(conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'messages'")).scalar())
    upgrade_to_head(sqlite_url)

    with factory() as session:
        assert session.get(ReferralRequest, request_id) is not None
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert "WHERE" in _index_definition(sqlite_url, "ix_moments_candidates")
    assert "WHERE" in _index_definition(sqlite_url, "ix_referral_requests_followup")
    with pytest.raises(IntegrityError, match="ck_moments_outcome"), get_engine(sqlite_url).begin() as conn:
        conn.execute(text("UPDATE moments SET outcome = 'unchecked'"))
