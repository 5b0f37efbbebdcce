"""The Alembic migrations and the SQLAlchemy models describe the same schema."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

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
