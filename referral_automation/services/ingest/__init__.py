"""Ingest: customers and journey events into the database, from files or any other source.

The public face of ``ingest_customers`` and ``ingest_events`` (which hold the work) for the CLI,
flows and the web API::

    report = ingest_events_file(session_factory, config, Path("events.jsonl.gz"), now=now)
    report = ingest_events_file(session_factory, config, "-", now=now)  # standard input
    report = ingest_event_records(session_factory, config, [{"event_id": ...}, ...], now=now, source="api")
    report = ingest_customers_file(session_factory, Path("customers.csv"), now=now)
    report = ingest_customers_file(session_factory, "-", now=now, file_format="csv", update_only=True)
    report = upsert_customers(session_factory, [{"customer_id": ..., "email": ...}], now=now)

Each returns an ``IngestReport``; bad lines or records never abort the ingest, they are reported
(``on_problem``), written to a reject file exactly as they were and their reasons beside it. Every
value is bounded before a database sees it (``values``). Only an input that cannot be read at all
raises ``InputError``. Callers check the schema first (``db.migrate.require_current_schema``).
"""

from __future__ import annotations

from referral_automation.services.ingest.customers import ingest_customers_file, upsert_customers
from referral_automation.services.ingest.events import ingest_event_records, ingest_events_file
from referral_automation.services.ingest.readers import IngestReport

__all__ = [
    "IngestReport",
    "ingest_customers_file",
    "ingest_event_records",
    "ingest_events_file",
    "upsert_customers",
]
