"""Shared set-up of the ingest tests: a database with two customers, event lines, what got stored,
and what the reject files hold."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig, load_config
from referral_automation.db.models import JourneyEvent
from referral_automation.errors import Problem
from referral_automation.services.ingest import IngestReport, ingest_events_file
from tests.support import ROOT
from tests.support.factories import add_customer, sessions

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


@dataclass
class Workspace:
    """A migrated database with customers ``c1`` and ``c2``, the shipped config, and a folder for files."""

    factory: sessionmaker[Session]
    config: AppConfig
    folder: Path
    problems: list[Problem] = field(default_factory=list)

    def write(self, name: str, lines: Iterable[str | dict[str, Any]]) -> Path:
        path = self.folder / name
        text = "".join((line if isinstance(line, str) else orjson.dumps(line).decode()) + "\n" for line in lines)
        path.write_text(text, encoding="utf-8")
        return path

    def ingest(self, path: Path | str, **options: Any) -> IngestReport:
        options.setdefault("now", NOW)
        return ingest_events_file(self.factory, self.config, path, on_problem=self.problems.append, **options)

    def stored(self) -> list[JourneyEvent]:
        with self.factory() as session:
            return list(session.scalars(select(JourneyEvent).order_by(JourneyEvent.seq)))

    def stored_ids(self) -> list[str]:
        return [event.event_id for event in self.stored()]


def make_workspace(db_url: str, folder: Path) -> Workspace:
    factory = sessions(db_url)
    add_customer(factory, "c1")
    add_customer(factory, "c2", plan="team", lifetime_value="100")
    return Workspace(factory, load_config(ROOT / "config"), folder)


def event(event_id: Any, customer_id: str = "c1", type: str = "purchase", **changes: Any) -> dict[str, Any]:
    """A valid event line (a purchase of 10 by ``c1`` unless told otherwise)."""
    line: dict[str, Any] = {
        "event_id": event_id,
        "customer_id": customer_id,
        "type": type,
        "occurred_at": "2026-03-01T09:30:00Z",
        "properties": {"amount": 10},
    }
    line.update(changes)
    return line


def reasons_of(report: IngestReport) -> list[dict[str, Any]]:
    """The reasons file of an ingest, one object a reject, in order."""
    assert report.reasons_path is not None, "no reject was written"
    return [orjson.loads(line) for line in report.reasons_path.read_bytes().splitlines()]


def rejected_lines(report: IngestReport) -> list[bytes]:
    """The reject file of an ingest, line by line as the ingest reads lines (ended by LF alone), each
    with its line end."""
    assert report.rejects_path is not None, "no reject was written"
    return lines_of(report.rejects_path.read_bytes())


def lines_of(data: bytes) -> list[bytes]:
    """``data`` cut after each LF (``bytes.splitlines`` would also cut at a lone CR)."""
    parts = data.split(b"\n")
    return [part + b"\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


#: A customer record with every field a new customer needs (CONTRACT.md's input format).
def customer(customer_id: str, **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "customer_id": customer_id,
        "email": f"{customer_id}@example.com",
        "first_purchase_at": "2025-01-15T08:00:00Z",
        "timezone": "Europe/Berlin",
        "marketing_opt_in": True,
    }
    record.update(changes)
    return record
