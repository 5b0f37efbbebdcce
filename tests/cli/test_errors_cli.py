"""Every user mistake, through the real command line: one ``error: …`` line that says what is wrong
and what to do, exit 1 (2 for usage), nothing on stdout, and no traceback unless asked for.

The table drives each case through Typer's runner; two cases run the installed console script in a
subprocess, as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from typer.testing import CliRunner, Result

from referral_automation.cli import app
from referral_automation.cli import requests as requests_cli
from referral_automation.db.migrate import alembic_config, head_revisions
from referral_automation.db.session import get_engine
from tests.support import ROOT
from tests.support.databases import as_role, free_port, schema_url
from tests.support.fake_postgres import refusing_server

CONFIG = str(ROOT / "config")
HEAD = "".join(head_revisions())
INIT = "run `referral-automation init`"


@dataclass
class Mistake:
    """A command line, the environment it runs in, and the one line it must answer with."""

    args: list[str]
    line: str
    env: dict[str, str] = field(default_factory=dict)
    exit_code: int = 1


#: Builds a case from the test's temporary folder and a migrated SQLite database there.
Build = Callable[[Path, str], Mistake]


def _old_schema(tmp: Path, url: str) -> Mistake:
    command.downgrade(alembic_config(url), "0004")
    return Mistake(["requests", "list", "--database-url", url],
                   f"error: the database schema is at revision 0004 and this version needs {HEAD} ({url}): "
                   f"{INIT} to upgrade it")  # fmt: skip


def _new_schema(tmp: Path, url: str) -> Mistake:
    with get_engine(url).begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    return Mistake(["init", "--database-url", url],
                   f"error: the database schema is at revision 0099, which this version of referral-automation does "
                   f"not know ({url}): a newer version upgraded it: upgrade referral-automation, or use an older "
                   "database")  # fmt: skip


def _empty_database(tmp: Path, url: str) -> Mistake:
    (tmp / "empty.db").touch()
    empty = f"sqlite:///{tmp / 'empty.db'}"
    line = f"error: the database has no referral-automation schema yet ({empty}): {INIT} to create it"
    return Mistake(["audit", "list", "--database-url", empty], line)


def _preview_without_schema(tmp: Path, url: str) -> Mistake:
    (tmp / "empty.db").touch()
    empty = f"sqlite:///{tmp / 'empty.db'}"
    line = f"error: the database has no referral-automation schema yet ({empty}): {INIT} to create it"
    args = ["preview", "customer_referral", "--variant", "gratitude", "--customer", "c1", "--config-dir", CONFIG]
    return Mistake([*args, "--database-url", empty], line)


URL_EXAMPLE = "sqlite:///referral.db or postgresql+psycopg://user@host:5432/referral"
SENDGRID_KEY = "SG.s3cretpart.value"


def sendgrid(**settings: str) -> dict[str, str]:
    """The sendgrid backend with a well-formed key, then ``settings`` (the mistake) over it."""
    return {"REFERRAL_EMAIL_BACKEND": "sendgrid", "SENDGRID_API_KEY": SENDGRID_KEY, **settings}


SUPPORTED = "use PostgreSQL (postgresql+psycopg://user@host:5432/referral) or SQLite (sqlite:///referral.db)"
DRIVER = "use postgresql+psycopg://… (psycopg 3 is installed) or sqlite:///…"

MISTAKES: list[tuple[str, Build]] = [
    ("unknown email backend", lambda tmp, url: Mistake(
        ["requests", "list", "--database-url", url],
        "error: REFERRAL_EMAIL_BACKEND (environment or .env) is 'smtp': use 'outbox' (writes .eml files) or 'sendgrid'",
        env={"REFERRAL_EMAIL_BACKEND": "smtp"})),
    ("malformed database url", lambda tmp, url: Mistake(
        ["requests", "list", "--database-url", "referral.db"],
        f"error: --database-url is 'referral.db': not a database URL: write it like {URL_EXAMPLE}")),
    ("malformed url in the environment", lambda tmp, url: Mistake(
        ["customers", "show", "c1"],
        f"error: REFERRAL_DATABASE_URL (environment or .env) is 'postgres://ada:***@db:port/x': not a database URL: "
        f"write it like {URL_EXAMPLE}",
        env={"REFERRAL_DATABASE_URL": "postgres://ada:secret@db:port/x"})),
    ("a database the engine does not speak", lambda tmp, url: Mistake(
        ["requests", "list", "--database-url", "mysql://ada:secret@db/referral"],
        f"error: referral-automation works with PostgreSQL and SQLite, not mysql://ada:***@db/referral: {SUPPORTED}")),
    ("a driver that is not installed", lambda tmp, url: Mistake(
        ["init", "--database-url", "postgresql+psycopg2://ada@db/referral"],
        f"error: the database URL postgresql+psycopg2://ada@db/referral needs the driver 'psycopg2', not installed: "
        f"{DRIVER}")),
    ("a SQLite file that is not there", lambda tmp, url: Mistake(
        ["requests", "list", "--database-url", f"sqlite:///{tmp / 'typo.db'}"],
        f"error: there is no SQLite database at {tmp / 'typo.db'}: {INIT} to create one there, or fix the path")),
    ("a folder that is not there", lambda tmp, url: Mistake(
        ["init", "--database-url", f"sqlite:///{tmp / 'no' / 'referral.db'}"],
        f"error: cannot open {tmp / 'no' / 'referral.db'}: the folder {tmp / 'no'} does not exist: create it, "
        "or fix the path")),
    ("a database without schema", _empty_database),
    ("an older schema", _old_schema),
    ("a preview's customer in a database without schema", _preview_without_schema),
    ("a newer schema", _new_schema),
    ("a closed port", lambda tmp, url: Mistake(
        ["requests", "list", "--database-url", f"postgresql://ada@127.0.0.1:{PORT}/referral"],
        f"error: nothing answers at 127.0.0.1:{PORT} (postgresql://ada@127.0.0.1:{PORT}/referral): "
        "is PostgreSQL running there? check the host and port in the database URL")),
    ("a missing config folder", lambda tmp, url: Mistake(
        ["run", "detect", "--database-url", url, "--config-dir", str(tmp / "conf")],
        f"{tmp / 'conf'}: no such folder: give --config-dir the folder of events.yaml, triggers.yaml, campaigns.yaml")),
    ("a SendGrid host without a scheme", lambda tmp, url: Mistake(
        ["run", "send", "--database-url", url, "--config-dir", CONFIG],
        "error: SENDGRID_API_HOST (environment or .env) is 'api.sendgrid.com': must start with https:// (write it "
        "like https://api.sendgrid.com)",
        env=sendgrid(SENDGRID_API_HOST="api.sendgrid.com"))),
    ("an empty SendGrid host", lambda tmp, url: Mistake(
        ["run", "all", "--database-url", url, "--config-dir", CONFIG],
        "error: SENDGRID_API_HOST (environment or .env) is '': leave it unset for the default "
        "https://api.sendgrid.com, or write a full address like it",
        env=sendgrid(SENDGRID_API_HOST=""))),
    ("a SendGrid host with a query", lambda tmp, url: Mistake(
        ["run", "follow-ups", "--database-url", url, "--config-dir", CONFIG],
        "error: SENDGRID_API_HOST (environment or .env) is 'https://api.sendgrid.com/?x=1': must not have a ?query "
        "or #fragment: write it like https://api.sendgrid.com",
        env=sendgrid(SENDGRID_API_HOST="https://api.sendgrid.com/?x=1"))),
    ("a SendGrid key ending in a newline", lambda tmp, url: Mistake(
        ["run", "send", "--database-url", url, "--config-dir", CONFIG],
        "error: SENDGRID_API_KEY (environment or .env): ends with a line break (copy it again without the newline)",
        env=sendgrid(SENDGRID_API_KEY=f"{SENDGRID_KEY}\n"))),
    ("a SendGrid key with a space inside", lambda tmp, url: Mistake(
        ["run", "all", "--database-url", url, "--config-dir", CONFIG],
        "error: SENDGRID_API_KEY (environment or .env): has a space or line break inside it (a key is one word: "
        "copy it again)",
        env=sendgrid(SENDGRID_API_KEY="SG.s3cretpart one.two"))),
    ("an unknown request", lambda tmp, url: Mistake(
        ["requests", "show", "ffffffff", "--database-url", url],
        "error: no referral request has an id starting with 'ffffffff'")),
    ("a request id too short", lambda tmp, url: Mistake(
        ["approvals", "approve", "abc", "--by", "Maria", "--database-url", url, "--config-dir", CONFIG],
        "error: give at least 8 characters of the request id, not 'abc'")),
    ("an unknown customer", lambda tmp, url: Mistake(
        ["customers", "show", "nobody", "--database-url", url],
        "error: no customer has the id 'nobody'")),
    ("not an email address", lambda tmp, url: Mistake(
        ["suppressions", "add", "evil>,<victim@example.com", "--by", "Maria", "--database-url", url],
        "error: 'evil>,<victim@example.com' is not an email address (2 addresses where exactly one is allowed)")),
    ("an unknown status", lambda tmp, url: Mistake(
        ["requests", "list", "--status", "done", "--database-url", url], "", exit_code=2)),
    ("a negative limit", lambda tmp, url: Mistake(
        ["audit", "list", "--limit", "-1", "--database-url", url], "", exit_code=2)),
    ("an unreadable --since", lambda tmp, url: Mistake(
        ["audit", "list", "--since", "last tuesday", "--database-url", url], "", exit_code=2)),
    ("an unreadable --now", lambda tmp, url: Mistake(
        ["customers", "show", "c1", "--why", "--now", "soon", "--database-url", url], "", exit_code=2)),
    ("an unknown command", lambda tmp, url: Mistake(["reqeusts", "list"], "", exit_code=2)),
]  # fmt: skip

PORT = free_port()


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, args, env=env)


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No REFERRAL_* setting or .env of the developer's; PREFECT_API_URL unset."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("REFERRAL_", "SENDGRID_")) and name != "REFERRAL_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize("build", [case[1] for case in MISTAKES], ids=[case[0] for case in MISTAKES])
def test_each_mistake_is_one_line(build: Build, tmp_path: Path, sqlite_url: str) -> None:
    """It answers the mistake with exactly the expected line on stderr and its exit code, nothing on stdout."""
    mistake = build(tmp_path, sqlite_url)

    result = invoke(mistake.args, mistake.env)

    assert result.exit_code == mistake.exit_code, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.output
    if mistake.exit_code == 2:  # Click's usage message: what and where, then the usage line
        assert "Usage:" in result.stderr
    else:
        assert result.stderr.splitlines() == [mistake.line]
    assert "s3cretpart" not in result.output  # a SendGrid key, whole or in part


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize(
    ("sqlstate", "message", "line"),
    [
        ("28P01", 'password authentication failed for user "ada"',
         "error: PostgreSQL refused the password of role 'ada' (postgresql+psycopg://ada:***@127.0.0.1:{port}"
         "/referral): check the password in the database URL (or PGPASSWORD, ~/.pgpass)"),
        ("28000", 'role "ada" does not exist',
         "error: PostgreSQL has no role 'ada' (postgresql+psycopg://ada:***@127.0.0.1:{port}/referral): put an "
         "existing role in the database URL, or create it: CREATE ROLE \"ada\" LOGIN PASSWORD '…'"),
    ],
    ids=["wrong password", "no such role"],
)  # fmt: skip
def test_a_refused_role_is_not_sent_to_init(sqlstate: str, message: str, line: str) -> None:
    """It says the server refused the role or its password, never "run init" (the old answer)."""
    with refusing_server(sqlstate, message) as port:
        result = invoke(["init", "--database-url", f"postgresql+psycopg://ada:secret@127.0.0.1:{port}/referral"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [line.format(port=port)]
    assert "secret" not in result.output


@pytest.mark.postgres
@pytest.mark.usefixtures("clean_environment")
def test_postgres_mistakes_on_a_real_server(postgres_schema_url: str, unprivileged_role: str) -> None:
    """It tells a missing database, a role without privileges on the schema and a role that may not
    create tables apart, each with what to do, on a real PostgreSQL server."""
    base = os.environ["REFERRAL_TEST_POSTGRES_URL"]
    missing = schema_url(base, "public").replace("/test?", "/ra_no_such_database?")
    result = invoke(["init", "--database-url", missing])
    assert result.stderr.startswith("error: PostgreSQL has no database 'ra_no_such_database' (")
    assert result.stderr.rstrip().endswith(f"create it (createdb ra_no_such_database), then {INIT}; or fix the "
                                           "database name in the URL")  # fmt: skip

    as_nobody = as_role(postgres_schema_url, unprivileged_role)
    result = invoke(["requests", "list", "--database-url", as_nobody])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: role '{unprivileged_role}' may not use schema t_")

    schema = f"ra_fresh_{unprivileged_role[-8:]}"
    with get_engine(schema_url(base, "public")).begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{unprivileged_role}"'))
    try:
        result = invoke(["init", "--database-url", as_role(schema_url(base, schema), unprivileged_role)])
    finally:
        with get_engine(schema_url(base, "public")).begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: role '{unprivileged_role}' may not create or use tables in schema")
    assert f"GRANT USAGE, CREATE ON SCHEMA {schema} TO it" in result.stderr


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize(
    ("server", "line"),
    [(False, "error: SENDGRID_API_KEY is not set, and without PREFECT_API_URL there is no Prefect server whose "
             "Secret block 'sendgrid-api-key' could hold the key: set SENDGRID_API_KEY (or PREFECT_API_URL)"),
     (True, "SENDGRID_API_KEY: the sendgrid backend needs an API key: set SENDGRID_API_KEY or create the Prefect "
            "Secret block 'sendgrid-api-key' (")],
    ids=["no prefect server", "a server without the block"],
)  # fmt: skip
def test_the_sendgrid_backend_without_a_key_stops_before_any_flow(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, server: bool, line: str
) -> None:
    """It says the key is missing in one line before a flow runs: at once when no Prefect server could
    hold it, after asking the configured server for the Secret block when there is one (here one that
    does not answer)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    from referral_automation.cli import flow_runner

    monkeypatch.setattr(flow_runner, "run_flow", _boom)
    api = f"http://127.0.0.1:{free_port()}/api" if server else None
    env = {"REFERRAL_EMAIL_BACKEND": "sendgrid", "SENDGRID_API_KEY": ""}
    with temporary_settings(updates={PREFECT_API_URL: api, PREFECT_CLIENT_MAX_RETRIES: 0}):
        result = invoke(["run", "send", "--database-url", sqlite_url, "--config-dir", CONFIG], env)
    assert result.exit_code == 1
    (printed,) = result.stderr.splitlines()
    assert printed.startswith(line)


def _boom(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("boom")


def test_an_unexpected_error_is_one_line_with_the_way_to_its_traceback(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    """It reports an error nobody planned for in one line that says how to see the traceback; with
    --debug or REFERRAL_DEBUG=1 the traceback comes through."""
    monkeypatch.setattr(requests_cli, "list_requests", _boom)
    args = ["requests", "list", "--database-url", sqlite_url]

    plain = invoke(args)
    debug = invoke(["--debug", *args])
    by_environment = invoke(args, {"REFERRAL_DEBUG": "1"})

    assert plain.exit_code == 1
    assert plain.stderr.splitlines() == [
        "error: unexpected RuntimeError: boom (run again with --debug (or REFERRAL_DEBUG=1) for the traceback, "
        "and please report it)"
    ]
    for result in (debug, by_environment):
        assert isinstance(result.exception, RuntimeError)
        assert result.exit_code == 1


CONSOLE_SCRIPT = Path(sys.executable).parent / "referral-automation"


@pytest.mark.parametrize(
    ("args", "traceback"),
    [(["requests", "list", "--database-url", "nonsense"], False), (["--debug", "requests", "list",
                                                                     "--database-url", "nonsense"], True)],
    ids=["one line", "with --debug"],
)  # fmt: skip
def test_the_console_script_answers_in_one_line(tmp_path: Path, args: list[str], traceback: bool) -> None:
    """It prints one line and exits 1 from the installed script; --debug adds the traceback."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("REFERRAL_")}
    completed = subprocess.run(
        [str(CONSOLE_SCRIPT), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    line = f"error: --database-url is 'nonsense': not a database URL: write it like {URL_EXAMPLE}"
    assert completed.returncode == 1
    assert completed.stdout == ""
    assert line in completed.stderr.splitlines()
    assert ("Traceback" in completed.stderr) is traceback
    if not traceback:
        assert completed.stderr.splitlines() == [line]
