"""Why the database cannot be used, in the operator's words: what is wrong and what to do.

SQLAlchemy wraps every driver error and keeps the driver's own in ``error.orig``; the cause is
read from there:

* PostgreSQL errors raised by a statement carry their SQLSTATE (``orig.sqlstate``: ``42P01`` no
  such table, ``42501`` a privilege missing, ...). Errors while *connecting* carry none: libpq
  passes the server's ``FATAL`` message on as text only (psycopg/psycopg#1188), so those are told
  apart by the messages libpq and the server write (``password authentication failed``, ``role
  ... does not exist``, ``Connection refused``), each with its SQLSTATE beside it here.
* SQLite errors carry ``sqlite_errorname`` (``SQLITE_CANTOPEN``, ``SQLITE_NOTADB``,
  ``SQLITE_BUSY``, ...); "no such table" is the generic ``SQLITE_ERROR`` and is read from the text.

Anything not recognised is still one line: the driver's first line and the URL (password hidden).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from referral_automation.errors import DatabaseError

INIT = "run `referral-automation init`"


@dataclass(frozen=True, slots=True)
class Target:
    """What the URL says about the database, for messages (never its password)."""

    shown: str
    sqlite_path: str | None = None
    user: str | None = None

    @classmethod
    def of(cls, url: str | None) -> Target:
        if url is None:
            return cls("the database")
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):  # a bad port is a ValueError
            return cls("the database")
        path = parsed.database if parsed.get_backend_name() == "sqlite" else None
        return cls(parsed.render_as_string(hide_password=True), path or None, parsed.username)

    @property
    def role(self) -> str:
        """``role 'ada'``, or ``the role`` when the URL names none (libpq then uses the login name)."""
        return f"role {self.user!r}" if self.user else "the role"


def diagnose(error: BaseException, url: str | None = None) -> DatabaseError | None:
    """The ``DatabaseError`` that says what ``error`` means for the operator, or None if it is not
    a database error (the caller reports it as it is)."""
    if isinstance(error, DatabaseError):
        return error
    if not isinstance(error, DBAPIError) or error.orig is None:
        return None
    target = Target.of(url)
    reason = first_line(error.orig)
    if hasattr(error.orig, "sqlite_errorname") or target.sqlite_path is not None:
        return _sqlite(error.orig, reason, target)
    return _postgres(getattr(error.orig, "sqlstate", None), reason, target)


def first_line(error: BaseException) -> str:
    """The driver's message without its ``connection failed:`` preamble, on one line."""
    text = " ".join(line.strip() for line in str(error).strip().splitlines() if line.strip())
    return re.sub(r"^connection failed: ", "", text)


# --------------------------------------------------------------------------- PostgreSQL
Rule = Callable[[re.Match[str], Target], DatabaseError]

#: libpq's and the server's messages while connecting (no SQLSTATE reaches the client), in the
#: order they are tried, with the SQLSTATE the server sent where there is one.
CONNECT_RULES: list[tuple[str, Rule]] = [
    (  # 28P01 invalid_password
        r'password authentication failed for user "(?P<user>[^"]*)"',
        lambda m, t: DatabaseError(
            f"PostgreSQL refused the password of role {m['user']!r} ({t.shown})",
            "check the password in the database URL (or PGPASSWORD, ~/.pgpass)",
        ),
    ),
    (  # 28000 invalid_authorization_specification: no such role
        r'role "(?P<user>[^"]*)" does not exist',
        lambda m, t: DatabaseError(
            f"PostgreSQL has no role {m['user']!r} ({t.shown})",
            f"put an existing role in the database URL, or create it: CREATE ROLE \"{m['user']}\" LOGIN PASSWORD '…'",
        ),
    ),
    (  # 28000 invalid_authorization_specification: pg_hba.conf
        r'no pg_hba\.conf entry for host "(?P<host>[^"]*)", user "(?P<user>[^"]*)"',
        lambda m, t: DatabaseError(
            f"PostgreSQL does not let role {m['user']!r} connect from {m['host']} ({t.shown})",
            "ask its administrator to allow it in pg_hba.conf, or connect as another role",
        ),
    ),
    (
        r"no password supplied",
        lambda m, t: DatabaseError(
            f"PostgreSQL wants a password ({t.shown})",
            "put it in the database URL (postgresql+psycopg://user:PASSWORD@host/db) or in PGPASSWORD",
        ),
    ),
    (  # 3D000 invalid_catalog_name
        r'database "(?P<db>[^"]*)" does not exist',
        lambda m, t: DatabaseError(
            f"PostgreSQL has no database {m['db']!r} ({t.shown})",
            f"create it (createdb {m['db']}), then {INIT}; or fix the database name in the URL",
        ),
    ),
    (  # 42501 insufficient_privilege at connect: CONNECT revoked
        r'permission denied for database "?(?P<db>[^" ]*)"?',
        lambda m, t: DatabaseError(
            f"{t.role} may not connect to database {m['db']!r} ({t.shown})",
            f'GRANT CONNECT ON DATABASE "{m["db"]}" TO it, or connect as another role',
        ),
    ),
    (
        r'server at "(?P<host>[^"]*)", port (?P<port>\d+) failed: Connection refused',
        lambda m, t: DatabaseError(
            f"nothing answers at {m['host']}:{m['port']} ({t.shown})",
            "is PostgreSQL running there? check the host and port in the database URL",
        ),
    ),
    (
        r'server on socket "(?P<socket>[^"]*)" failed: (No such file|Connection refused)',
        lambda m, t: DatabaseError(
            f"no PostgreSQL server listens on the local socket {m['socket']} ({t.shown})",
            "is it running? or give the host in the database URL (…@127.0.0.1:5432/…)",
        ),
    ),
    (
        r"failed to resolve host '(?P<host>[^']*)'|could not translate host name \"(?P<host2>[^\"]*)\"",
        lambda m, t: DatabaseError(
            f"the database host {m['host'] or m['host2']!r} is not known ({t.shown})",
            "check the host name in the database URL",
        ),
    ),
    (
        r"timeout expired|Connection timed out|No route to host|Network is unreachable",
        lambda m, t: DatabaseError(
            f"PostgreSQL did not answer in time ({t.shown})", "check the host, the port and any firewall between"
        ),
    ),
    (  # 53300 too_many_connections
        r"too many clients|remaining connection slots are reserved",
        lambda m, t: DatabaseError(
            f"PostgreSQL has no free connection ({t.shown})",
            "try again once other clients have finished, or raise max_connections",
        ),
    ),
    (  # 57P03 cannot_connect_now
        r"the database system is (starting up|shutting down|in recovery mode)",
        lambda m, t: DatabaseError(f"PostgreSQL is {m[1]} ({t.shown})", "try again in a moment"),
    ),
    (
        r"server does not support SSL, but SSL was required|SSL is not enabled on the server",
        lambda m, t: DatabaseError(
            f"PostgreSQL's SSL settings do not match the URL's ({t.shown})",
            "check sslmode in the database URL (for example ?sslmode=require, or remove it)",
        ),
    ),
]


def _privilege(reason: str, target: Target) -> DatabaseError:
    """42501: the role may connect but not do what the command needs."""
    schema = re.search(r"permission denied for schema (\S+)", reason)
    if schema:
        name = schema[1]
        return DatabaseError(
            f"{target.role} may not create or use tables in schema {name} ({target.shown})",
            f"GRANT USAGE, CREATE ON SCHEMA {name} TO it, or run init as the schema's owner",
        )
    return DatabaseError(
        f"{target.role} lacks a privilege: {reason} ({target.shown})",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES and USAGE ON ALL SEQUENCES of the schema "
        "to it, or connect as the role that ran init",
    )


#: What a statement's SQLSTATE means for the operator (SQLSTATEs of connection failures are above).
SQLSTATES: dict[str, Callable[[str, Target], DatabaseError]] = {
    "42P01": lambda reason, t: DatabaseError(
        f"the database has no referral-automation schema ({t.shown}: {reason})", INIT
    ),
    "3F000": lambda reason, t: DatabaseError(
        f"the schema in the URL's search_path does not exist ({t.shown}: {reason})", f"create it, then {INIT}"
    ),
    "42703": lambda reason, t: DatabaseError(
        f"the database schema is older than this version ({t.shown}: {reason})", f"{INIT} to upgrade it"
    ),
    "42501": lambda reason, t: _privilege(reason, t),
    "25006": lambda reason, t: DatabaseError(
        f"the database is read-only ({t.shown})", "point the URL at the primary server, not a standby"
    ),
    "53100": lambda reason, t: DatabaseError(f"the database server's disk is full ({t.shown})", "free some space"),
}


def _postgres(sqlstate: str | None, reason: str, target: Target) -> DatabaseError:
    if sqlstate in SQLSTATES:
        return SQLSTATES[sqlstate](reason, target)
    for pattern, rule in CONNECT_RULES:
        match = re.search(pattern, reason)
        if match:
            return rule(match, target)
    return DatabaseError(f"cannot use {target.shown}: {reason}", "check the database URL and the server")


# --------------------------------------------------------------------------- SQLite
def _sqlite(orig: BaseException, reason: str, target: Target) -> DatabaseError:
    name = getattr(orig, "sqlite_errorname", "")
    path = target.sqlite_path or "the SQLite file"
    if name == "SQLITE_CANTOPEN" or "unable to open database file" in reason:
        return _cannot_open(path)
    if name == "SQLITE_NOTADB" or "file is not a database" in reason:
        return DatabaseError(f"{path} is not a SQLite database", "point the database URL at the file init created")
    if name.startswith("SQLITE_BUSY") or "database is locked" in reason:
        return DatabaseError(
            f"{path} stayed locked by another process for a minute",
            "wait for it (an ingest, a run) to finish, then try again",
        )
    if name.startswith("SQLITE_READONLY") or "readonly database" in reason:
        return DatabaseError(f"{path} is read-only", "give this user write access to the file and its folder")
    if name == "SQLITE_FULL" or "disk is full" in reason:
        return DatabaseError(f"the disk holding {path} is full", "free some space")
    if name == "SQLITE_CORRUPT" or "malformed" in reason:
        return DatabaseError(
            f"{path} is damaged ({reason})", "restore it from a backup (sqlite3's .recover saves what is left)"
        )
    if reason.startswith("no such table"):
        return DatabaseError(f"the database has no referral-automation schema ({path}: {reason})", INIT)
    if "no such column" in reason or "has no column named" in reason:
        return DatabaseError(
            f"the database schema is older than this version ({path}: {reason})", f"{INIT} to upgrade it"
        )
    return DatabaseError(f"cannot use {path}: {reason}", "check the database URL and the file")


def _cannot_open(path: str) -> DatabaseError:
    folder = Path(path).parent
    if not folder.is_dir():
        return DatabaseError(f"cannot open {path}: the folder {folder} does not exist", "create it, or fix the path")
    return DatabaseError(f"cannot open {path}", "check that this user may read and write it and its folder")
