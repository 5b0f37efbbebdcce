"""What a database error means for the operator: each cause from the drivers' real errors.

SQLite's errors come from real files; PostgreSQL's from the test server, except those it cannot
produce (it trusts every role, so never refuses a password): a server that refuses every
connection with the real server's message stands in for those (tests/support/fake_postgres.py).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from referral_automation.db.diagnosis import diagnose
from referral_automation.db.session import get_engine
from referral_automation.errors import DatabaseError
from tests.support.databases import as_role, free_port
from tests.support.fake_postgres import refusing_server

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def failure(url: str, sql: str = "SELECT 1", *, fresh: bool = False) -> DatabaseError:
    """The diagnosis of running ``sql`` on ``url`` (which must fail)."""
    wait = {"timeout": 0} if url.startswith("sqlite") else {"connect_timeout": 5}
    engine = create_engine(url, connect_args=wait) if fresh else get_engine(url)
    with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
        conn.execute(text(sql))
    problem = diagnose(caught.value, url)
    assert problem is not None
    return problem


# --------------------------------------------------------------------------- SQLite
def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    """It says which folder of a SQLite path does not exist."""
    path = tmp_path / "nowhere" / "referral.db"
    problem = failure(f"sqlite:///{path}")
    assert str(problem) == f"cannot open {path}: the folder {path.parent} does not exist: create it, or fix the path"


def test_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    """It says the file is not a SQLite database (a CSV given as the database, say)."""
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,email\n" * 200)
    problem = failure(f"sqlite:///{path}")
    assert problem.what == f"{path} is not a SQLite database"


def test_a_locked_file(tmp_path: Path) -> None:
    """It says another process holds the lock, and to wait for it."""
    path = tmp_path / "referral.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    try:
        problem = failure(f"sqlite:///{path}", "INSERT INTO t VALUES (1)", fresh=True)
    finally:
        holder.close()
    assert problem.what == f"{path} stayed locked by another process for a minute"
    assert "wait for it" in problem.hint


def test_a_read_only_file(tmp_path: Path) -> None:
    """It says the file is read-only."""
    path = tmp_path / "referral.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    problem = failure(f"sqlite:///file:{path}?mode=ro&uri=true", "INSERT INTO t VALUES (1)", fresh=True)
    assert problem.what.endswith("is read-only")


def test_no_such_table_means_no_schema(tmp_path: Path) -> None:
    """It sends the operator to init when a table is missing."""
    problem = failure(f"sqlite:///{tmp_path / 'empty.db'}", "SELECT * FROM referral_requests")
    assert problem.hint == "run `referral-automation init`"
    assert "no referral-automation schema" in problem.what


def test_other_errors_are_not_database_errors() -> None:
    """It leaves errors that are not the database's to the caller."""
    assert diagnose(ValueError("no")) is None


# --------------------------------------------------------------------------- PostgreSQL, refused at connect
REFUSALS = [
    ("wrong password", "28P01", 'password authentication failed for user "ada"',
     "PostgreSQL refused the password of role 'ada'", "check the password in the database URL"),
    ("no such role", "28000", 'role "ada" does not exist',
     "PostgreSQL has no role 'ada'", "put an existing role in the database URL"),
    ("pg_hba", "28000", 'no pg_hba.conf entry for host "10.0.0.7", user "ada", database "referral", no encryption',
     "PostgreSQL does not let role 'ada' connect from 10.0.0.7", "pg_hba.conf"),
    ("no database", "3D000", 'database "referral" does not exist',
     "PostgreSQL has no database 'referral'", "createdb referral"),
    ("too many clients", "53300", "sorry, too many clients already",
     "PostgreSQL has no free connection", "max_connections"),
    ("starting up", "57P03", "the database system is starting up",
     "PostgreSQL is starting up", "try again in a moment"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("sqlstate", "message", "what", "hint"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_refusals_at_connect(sqlstate: str, message: str, what: str, hint: str) -> None:
    """It tells each refusal of the server apart from its message (libpq passes on no SQLSTATE)."""
    with refusing_server(sqlstate, message) as port:
        url = f"postgresql+psycopg://ada:secret@127.0.0.1:{port}/referral"
        problem = failure(url, fresh=True)
    assert problem.what.startswith(what)
    assert hint in problem.hint
    assert "secret" not in str(problem)


def test_a_closed_port() -> None:
    """It says nothing answers at the host and port."""
    port = free_port()
    problem = failure(f"postgresql+psycopg://ada@127.0.0.1:{port}/referral", fresh=True)
    assert problem.what.startswith(f"nothing answers at 127.0.0.1:{port}")


def test_an_unknown_host() -> None:
    """It says the host name is unknown."""
    problem = failure("postgresql+psycopg://ada@no-such-host.invalid/referral", fresh=True)
    assert problem.what.startswith("the database host 'no-such-host.invalid' is not known")


# --------------------------------------------------------------------------- PostgreSQL, by SQLSTATE
@pytest.mark.postgres
def test_a_missing_table_by_sqlstate(postgres_schema_url: str) -> None:
    """It reads 42P01 as a schema not made by init."""
    problem = failure(postgres_schema_url, "SELECT * FROM no_such_table")
    assert problem.hint == "run `referral-automation init`"


@pytest.mark.postgres
def test_a_missing_privilege_names_the_role(postgres_schema_url: str, unprivileged_role: str) -> None:
    """It reads 42501 as a privilege the role lacks, names the role and says what to grant."""
    schema = postgres_schema_url.rsplit("search_path%3D", 1)[-1]
    with get_engine(postgres_schema_url).begin() as conn:
        conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{unprivileged_role}"'))
    problem = failure(as_role(postgres_schema_url, unprivileged_role), "SELECT * FROM customers")
    denied = "lacks a privilege: permission denied for table customers"
    assert problem.what.startswith(f"role '{unprivileged_role}' {denied}")
    assert problem.hint.startswith("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES")
