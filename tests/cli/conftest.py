"""Fixtures of the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from referral_automation.cli import app
from referral_automation.cli import approvals as approvals_cli
from referral_automation.cli import requests as requests_cli
from tests.support import ROOT
from tests.support.factories import add_customer, sessions

#: Two customers as a CRM exports them: c1 opted in, c2 not.
CUSTOMERS = (
    "customer_id,email,first_purchase_at,timezone,marketing_opt_in\n"
    "c1,ada@example.com,2025-01-15,Europe/London,yes\nc2,bob@example.com,2025-02-01,America/New_York,no\n"
)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wide console, so table cells are not folded in the middle of what the tests look for
    (pytest-xdist sets COLUMNS=80, and the shared console reads it once)."""
    for module in (approvals_cli, requests_cli):
        monkeypatch.setattr(module, "console", Console(width=300, highlight=False, soft_wrap=True))


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
