"""Test databases: a fresh PostgreSQL schema per session, emptied between tests."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import make_url

from referral_automation.db.models import Base
from referral_automation.db.session import get_engine


def schema_url(base: str, schema: str) -> str:
    """``base`` with ``search_path`` set to ``schema`` (psycopg 3 as the driver)."""
    url = make_url(base)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def truncate_postgres(url: str) -> None:
    """Every table of the schema emptied, its sequences restarted."""
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def as_role(url: str, role: str) -> str:
    """``url`` connecting as ``role`` (no password: the test server trusts every role)."""
    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


def free_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
