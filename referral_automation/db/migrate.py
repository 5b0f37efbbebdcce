"""Alembic, driven from Python so ``referral-automation init`` needs no ``alembic.ini``; and the
schema check every other command makes before it starts.

A command run against a database ``init`` never saw, or one an older version left behind, would
otherwise fail in its first query with "no such table" (or worse, half-way through a run). So
``require_current_schema`` compares the database's Alembic revision with this code's head first,
and says which of four things is the case: no schema yet, an older schema (run ``init``), a
newer one (upgrade the program), or tables ``init`` did not make.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from referral_automation.db.diagnosis import INIT, Target, diagnose
from referral_automation.db.models import Base
from referral_automation.db.session import get_engine, normalise_url
from referral_automation.errors import DatabaseError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


@lru_cache(maxsize=1)
def _script() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def head_revisions() -> frozenset[str]:
    """The revision(s) this code's migrations end at (one, unless branches were merged badly)."""
    return frozenset(_script().get_heads())


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where a database's schema stands against this code's migrations."""

    #: The database's revision(s); empty when ``init`` never ran.
    revisions: frozenset[str]
    heads: frozenset[str]
    #: The engine's tables found in the database (any, to tell "empty" from "not ours").
    tables: frozenset[str]

    @property
    def current(self) -> bool:
        return self.revisions == self.heads

    @property
    def unknown(self) -> frozenset[str]:
        """Revisions of the database these migrations do not have (a newer version wrote them)."""
        return frozenset(rev for rev in self.revisions if not _known(rev))

    def problem(self, shown: str) -> DatabaseError | None:
        """Why a command cannot use this schema (None when it is up to date)."""
        if self.current:
            return None
        head = ", ".join(sorted(self.heads))
        if self.unknown:
            return DatabaseError(
                f"the database schema is at revision {', '.join(sorted(self.unknown))}, which this version of "
                f"referral-automation does not know ({shown})",
                "a newer version upgraded it: upgrade referral-automation, or use an older database",
            )
        if not self.revisions and self.tables:
            return DatabaseError(
                f"the database has tables named like referral-automation's ({', '.join(sorted(self.tables))}) "
                f"but no schema version ({shown})",
                "init did not make them: point the URL at the database init created, or at an empty one",
            )
        if not self.revisions:
            return DatabaseError(
                f"the database has no referral-automation schema yet ({shown})", f"{INIT} to create it"
            )
        return DatabaseError(
            f"the database schema is at revision {', '.join(sorted(self.revisions))} and this version needs {head} "
            f"({shown})",
            f"{INIT} to upgrade it",
        )


def _known(revision: str) -> bool:
    try:
        return _script().get_revision(revision) is not None
    except CommandError:
        return False


def schema_state(url: str) -> SchemaState:
    """The database's revision(s) and tables; a database that cannot be reached is a ``DatabaseError``."""
    with _diagnosed(url), get_engine(url).connect() as connection:
        revisions = frozenset(MigrationContext.configure(connection).get_current_heads())
        tables = frozenset(inspect(connection).get_table_names()) & frozenset(Base.metadata.tables)
        if not revisions and not tables and connection.dialect.name == "postgresql":
            _require_usable_search_path(connection, Target.of(url))
    return SchemaState(revisions, head_revisions(), tables)


def _require_usable_search_path(connection: Connection, target: Target) -> None:
    """A PostgreSQL role without ``USAGE`` on its schema sees no tables in it, as if ``init`` had
    never run: say which it is, rather than send the operator to run ``init``."""
    if connection.exec_driver_sql("SELECT current_schema()").scalar() is not None:
        return
    path = str(connection.exec_driver_sql("SHOW search_path").scalar())
    names = [name.strip().strip('"') for name in path.split(",") if name.strip() and "$user" not in name]
    existing = {
        name
        for (name,) in connection.execute(
            text("SELECT nspname FROM pg_namespace WHERE nspname = ANY(:n)"), {"n": names}
        )
    }
    if any(name in existing for name in names):
        schemas = ", ".join(name for name in names if name in existing)
        raise DatabaseError(
            f"{target.role} may not use schema {schemas} ({target.shown})",
            f"GRANT USAGE ON SCHEMA {schemas} TO it (as the schema's owner), or connect as the owner",
        )
    raise DatabaseError(
        f"no schema of the search path ({path}) exists ({target.shown})",
        f"create it, or fix search_path in the URL; then {INIT}",
    )


def require_current_schema(url: str) -> None:
    """Raise a ``DatabaseError`` unless the database is reachable and its schema is this code's.

    A SQLite file that does not exist is reported as such, and not created (connecting would).
    """
    parsed = make_url(normalise_url(url))
    path = parsed.database if parsed.get_backend_name() == "sqlite" else None
    shown = Target.of(url).shown
    if path and path != ":memory:" and not parsed.query.get("mode") and not Path(path).exists():
        raise DatabaseError(f"there is no SQLite database at {path}", f"{INIT} to create one there, or fix the path")
    problem = schema_state(url).problem(shown)
    if problem is not None:
        raise problem


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """What ``upgrade_to_head`` did: the revisions before (empty: a new schema) and after."""

    before: frozenset[str]
    after: frozenset[str]

    @property
    def created(self) -> bool:
        return not self.before

    @property
    def changed(self) -> bool:
        return self.before != self.after


def upgrade_to_head(url: str) -> SchemaChange:
    """Create or upgrade the schema. Safe to run any number of times.

    A schema a newer version wrote, or tables ``init`` did not make, are refused before Alembic
    touches anything.
    """
    before = schema_state(url)
    shown = Target.of(url).shown
    if before.unknown or (not before.revisions and before.tables):
        problem = before.problem(shown)
        assert problem is not None
        raise problem
    with _diagnosed(url):
        command.upgrade(alembic_config(url), "head")
    return SchemaChange(before.revisions, schema_state(url).revisions)


@contextmanager
def _diagnosed(url: str) -> Iterator[None]:
    """Driver errors as the ``DatabaseError`` that says what they mean for the operator."""
    try:
        yield
    except DBAPIError as error:
        problem = diagnose(error, url)
        if problem is None:
            raise
        raise problem from error
