"""Fixtures of the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from referral_automation.cli import app, common
from tests.support import ROOT
from tests.support.factories import add_customer, sessions

#: Two customers as a CRM exports them: c1 opted in, c2 not.
CUSTOMERS = (
    "customer_id,email,first_purchase_at,timezone,marketing_opt_in\n"
    "c1,ada@example.com,2025-01-15,Europe/London,yes\nc2,bob@example.com,2025-02-01,America/New_York,no\n"
)


@pytest.fixture(autouse=True)
def eighty_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command prints as on an 80-column terminal, whatever the terminal running the tests
    (the shared consoles read ``COLUMNS`` when they measure, unless it was set when they were made)."""
    monkeypatch.setenv("COLUMNS", "80")
    for console in (common.console, common.err_console):
        assert console.width == 80


@pytest.fixture
def factory(db_url: str) -> sessionmaker[Session]:
    factory = sessions(db_url)
    add_customer(factory, "c1")
    add_customer(factory, "c2")
    return factory


@pytest.fixture
def customers_file(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text(CUSTOMERS)
    return path


@pytest.fixture
def workspace(db_url: str, customers_file: Path) -> str:
    """A database with customers c1 and c2, ingested through the CLI."""
    options = ["--database-url", db_url, "--config-dir", str(ROOT / "config")]
    result = CliRunner().invoke(app, ["ingest", "customers", str(customers_file), *options])
    assert result.exit_code == 0, result.output
    return db_url
