"""The schema check every command makes before it starts, and what ``init`` reports it did."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from referral_automation.db.migrate import (
    alembic_config,
    head_revisions,
    require_current_schema,
    schema_state,
    upgrade_to_head,
)
from referral_automation.db.session import get_engine
from referral_automation.errors import DatabaseError
from tests.support.databases import as_role

HEAD = "".join(head_revisions())


def test_the_migrations_have_one_head() -> None:
    """It finds exactly one head revision (two would mean migrations from two branches not chained)."""
    assert len(head_revisions()) == 1


def test_an_up_to_date_schema_passes(db_url: str) -> None:
    """It lets a command use a database whose schema is this version's."""
    require_current_schema(db_url)
    assert schema_state(db_url).current


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    """It says there is no database at the path, and does not create one by looking."""
    path = tmp_path / "typo.db"
    with pytest.raises(DatabaseError) as caught:
        require_current_schema(f"sqlite:///{path}")
    assert str(caught.value) == (
        f"there is no SQLite database at {path}: run `referral-automation init` to create one there, or fix the path"
    )
    assert not path.exists()


def test_an_empty_database_needs_init(tmp_path: Path) -> None:
    """It sends the operator to init when the database has no schema yet."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    get_engine(url).connect().close()
    with pytest.raises(DatabaseError) as caught:
        require_current_schema(url)
    assert caught.value.what == f"the database has no referral-automation schema yet ({url})"
    assert caught.value.hint == "run `referral-automation init` to create it"


def test_an_older_schema_needs_an_upgrade_which_init_reports(sqlite_url: str) -> None:
    """It says which revision the database is at and which this version needs; init upgrades it
    and says from which to which."""
    command.downgrade(alembic_config(sqlite_url), "0004")
    with pytest.raises(DatabaseError) as caught:
        require_current_schema(sqlite_url)
    assert caught.value.what == f"the database schema is at revision 0004 and this version needs {HEAD} ({sqlite_url})"
    assert caught.value.hint == "run `referral-automation init` to upgrade it"

    change = upgrade_to_head(sqlite_url)

    assert (change.before, change.after, change.created, change.changed) == ({"0004"}, {HEAD}, False, True)
    require_current_schema(sqlite_url)


def test_a_newer_schema_is_refused_by_commands_and_init(sqlite_url: str) -> None:
    """It refuses a schema a newer version wrote, and init leaves it as it is."""
    with get_engine(sqlite_url).begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    for check in (require_current_schema, upgrade_to_head):
        with pytest.raises(DatabaseError, match="revision 0099, which this version of referral-automation does not"):
            check(sqlite_url)
    assert schema_state(sqlite_url).revisions == {"0099"}


def test_tables_init_did_not_make_are_refused(tmp_path: Path) -> None:
    """It refuses a database with tables of the engine's names but no schema version, and init does too."""
    url = f"sqlite:///{tmp_path / 'other.db'}"
    with get_engine(url).begin() as conn:
        conn.execute(text("CREATE TABLE customers (id INTEGER)"))
    for check in (require_current_schema, upgrade_to_head):
        with pytest.raises(DatabaseError, match=r"tables named like referral-automation's \(customers\)"):
            check(url)


def test_init_on_a_fresh_database_creates_the_schema(tmp_path: Path) -> None:
    """It reports a new schema, then an unchanged one."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    first, second = upgrade_to_head(url), upgrade_to_head(url)
    assert (first.before, first.after, first.created) == (frozenset(), {HEAD}, True)
    assert (second.created, second.changed) == (False, False)


@pytest.mark.postgres
def test_a_role_without_usage_on_the_schema_is_not_sent_to_init(
    postgres_schema_url: str, unprivileged_role: str
) -> None:
    """It says the role may not use the schema, where the schema would otherwise look empty."""
    url = as_role(postgres_schema_url, unprivileged_role)
    with pytest.raises(DatabaseError) as caught:
        require_current_schema(url)
    assert caught.value.what.startswith(f"role '{unprivileged_role}' may not use schema t_")
    assert caught.value.hint.startswith("GRANT USAGE ON SCHEMA t_")
