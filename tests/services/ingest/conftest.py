"""Fixtures of the ingest tests: a workspace (database, config, files) to ingest into."""

from __future__ import annotations

from pathlib import Path

import pytest

from referral_automation.services.ingest import upsert_customers
from tests.support.ingest import NOW, Workspace, customer, make_workspace

#: Customers the large-file tests know.
CUSTOMERS = 1000


@pytest.fixture
def ws(db_url: str, tmp_path: Path) -> Workspace:
    return make_workspace(db_url, tmp_path)


@pytest.fixture
def large_ws(db_url: str, tmp_path: Path) -> Workspace:
    workspace = make_workspace(db_url, tmp_path)
    customers = [customer(f"c{i}") for i in range(CUSTOMERS)]
    upsert_customers(workspace.factory, customers, now=NOW)
    return workspace
