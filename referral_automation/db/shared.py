"""Reads and writes several capabilities share: customers as facts, the suppression list, the audit log.

Nothing here commits: the calling service owns the transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from referral_automation.db.models import AuditEntry, Customer, Suppression
from referral_automation.db.sql import Driver
from referral_automation.domain.facts import CustomerFacts

_CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
_SUPPRESSIONS: Table = Suppression.__table__  # type: ignore[assignment]
_AUDIT: Table = AuditEntry.__table__  # type: ignore[assignment]

#: The customer columns ``CustomerFacts`` is made of, in its order.
CUSTOMER_COLUMNS = (
    "customer_id", "email", "first_name", "last_name", "company", "plan", "lifetime_value",
    "first_purchase_at", "timezone", "locale", "marketing_opt_in",
)  # fmt: skip


def suppressed_addresses(session: Session, emails: Collection[str]) -> set[str]:
    """Which of ``emails`` are on the suppression list, casefolded (addresses are compared
    case-insensitively, and older rows may be stored as given)."""
    db = Driver(session)
    wanted = sorted({e for email in emails for e in (email, email.casefold())})
    query = f"SELECT email FROM {_SUPPRESSIONS.name} WHERE email {db.IN_LIST}"
    return {email.casefold() for (email,) in db.select_in(query, wanted)}


def customer_facts(session: Session, customer_ids: Collection[str]) -> dict[str, CustomerFacts]:
    """The customers by id, ``suppressed`` set when their address is in the suppression list."""
    db = Driver(session)
    query = f"SELECT {', '.join(CUSTOMER_COLUMNS)} FROM {_CUSTOMERS.name} WHERE customer_id {db.IN_LIST}"
    rows = list(db.select_in(query, sorted(customer_ids)))
    suppressed = suppressed_addresses(session, [row[1] for row in rows])
    money = db.decoder(_CUSTOMERS.c.lifetime_value)
    timestamp = db.timestamp_out
    return {
        customer_id: CustomerFacts(
            customer_id,
            email,
            first,
            last,
            company,
            plan,
            money(value),
            None if since is None else timestamp(since),
            zone,
            locale,
            bool(opt_in),
            email.casefold() in suppressed,
        )
        for customer_id, email, first, last, company, plan, value, since, zone, locale, opt_in in rows
    }


def insert_audit(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Audit entries (``at, actor, action, subject_type, subject_id, details``)."""
    if rows:
        session.execute(_AUDIT.insert(), list(rows))
