"""The Alembic migrations and the SQLAlchemy models describe the same schema."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from referral_automation.db.migrate import alembic_config, upgrade_to_head
from referral_automation.db.models import Base
from referral_automation.db.session import get_engine


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
