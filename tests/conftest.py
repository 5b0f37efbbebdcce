"""Shared fixtures. Prefect's environment is set before anything imports prefect (NOTES.md)."""

from __future__ import annotations

import os
import tempfile

_PREFECT_HOME = tempfile.mkdtemp(prefix="referral-prefect-home-")
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
os.environ.pop("PREFECT_API_URL", None)

import shutil  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from referral_automation.db.session import session_factory  # noqa: E402
from tests.support import ROOT  # noqa: E402
from tests.support.databases import schema_url, truncate_postgres  # noqa: E402

POSTGRES_URL = os.environ.get("REFERRAL_TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per session, copied for each test (migrating takes longer)."""
    from referral_automation.db.migrate import upgrade_to_head
    from referral_automation.db.session import get_engine

    path = tmp_path_factory.mktemp("template") / "template.db"
    url = f"sqlite:///{path}"
    upgrade_to_head(url)
    # Close every connection so WAL is checkpointed into the file before tests copy it.
    get_engine(url).dispose()
    return path


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL schema for this test session (dropped at the end)."""
    if not POSTGRES_URL:
        pytest.skip("REFERRAL_TEST_POSTGRES_URL is not set")
    from referral_automation.db.migrate import upgrade_to_head
    from referral_automation.db.session import get_engine

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = get_engine(schema_url(POSTGRES_URL, "public"))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = schema_url(POSTGRES_URL, schema)
    upgrade_to_head(url)
    yield url
    get_engine(url).dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def unprivileged_role(postgres_schema_url: str) -> Iterator[str]:
    """A PostgreSQL role that may log in and do nothing else (dropped after the test)."""
    from referral_automation.db.session import get_engine

    role = f"ra_noprivs_{uuid.uuid4().hex[:8]}"
    admin = get_engine(schema_url(POSTGRES_URL or "", "public"))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    yield role
    with admin.begin() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"), {"r": role})
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty database: every test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "referral.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_schema_url")
    truncate_postgres(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty SQLite database, for tests whose subject is not the database."""
    path = tmp_path / "referral.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def config_dir() -> Path:
    """The config as shipped."""
    return ROOT / "config"


@pytest.fixture
def templates_dir() -> Path:
    """The templates as shipped."""
    return ROOT / "templates" / "email"


@pytest.fixture
def factory(db_url: str) -> sessionmaker[Session]:
    """Sessions of ``db_url``'s database (each test's own, on SQLite and on PostgreSQL)."""
    return session_factory(db_url)
