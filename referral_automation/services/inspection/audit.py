"""The audit log as operators read it: who did what to which request, customer or address, and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import AuditEntry
from referral_automation.services.inspection.story import AuditView, audit_view


def list_audit(
    session_factory: sessionmaker[Session],
    *,
    since: datetime | None = None,
    subject: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: int | None = None,
) -> list[AuditView]:
    """Audit entries at or after ``since``, newest first, optionally about one subject (a request,
    customer or address id), by one actor or of one action."""
    # Newest written first: the id follows the writes and is the primary key, so a short listing of a
    # long log reads a few rows from its end (there is no index on ``at``).
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if subject is not None:
        query = query.where(AuditEntry.subject_id == subject)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if limit is not None:
        query = query.limit(limit)
    with session_factory() as session, session.begin():
        return [audit_view(row) for row in session.scalars(query)]
