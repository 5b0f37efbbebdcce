"""The one Prefect test server of the session, shared by every flow test.

Starting it costs about 9 s, so flow tests ask for ``prefect_harness`` (never autouse) and carry
``@pytest.mark.flow`` and ``@pytest.mark.xdist_group("prefect")``: under ``pytest -n 2 --dist
loadgroup`` they all run on one worker, which starts the server once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from referral_automation.db.session import session_factory
from tests.support import ROOT
from tests.support.detect_factories import NOW as DETECT_NOW
from tests.support.detect_factories import add_customer as add_detect_customer
from tests.support.detect_factories import add_event
from tests.support.send import add_customer, add_request


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect API (its own database) for the whole session, with flow heartbeats off."""
    from prefect.testing.utilities import prefect_test_harness

    from referral_automation.cli.flow_runner import without_heartbeat

    with prefect_test_harness(server_startup_timeout=120), without_heartbeat():
        yield


@pytest.fixture
def send_workspace(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Three due requests in a SQLite database, reached by the flows through REFERRAL_* settings."""
    factory = session_factory(sqlite_url)
    requests = []
    for name in ("ann", "bob", "cyd"):
        add_customer(factory, name)
        requests.append(add_request(factory, name))
    outbox = tmp_path / "outbox"
    monkeypatch.setenv("REFERRAL_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("REFERRAL_CONFIG_DIR", str(ROOT / "config"))
    monkeypatch.setenv("REFERRAL_TEMPLATES_DIR", str(ROOT / "templates" / "email"))
    monkeypatch.setenv("REFERRAL_OUTBOX_DIR", str(outbox))
    monkeypatch.setenv("REFERRAL_EMAIL_BACKEND", "outbox")
    return {"factory": factory, "requests": requests, "outbox": outbox}


@pytest.fixture
def detect_workspace(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite database with two promoters and one passive, reached by the flow through REFERRAL_* settings."""
    factory = session_factory(sqlite_url)
    for customer_id, score in (("ada", 10), ("bob", 9), ("cyd", 7)):
        add_detect_customer(factory, customer_id)
        add_event(factory, customer_id, "nps_submitted", at=DETECT_NOW - timedelta(hours=1), score=score)
    monkeypatch.setenv("REFERRAL_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("REFERRAL_CONFIG_DIR", str(ROOT / "config"))
    return sqlite_url
