"""List, add and lift suppressions; every change is one transaction with its audit entry.

Addresses are checked (exactly one plain mailbox, ``domain.addresses``) and casefolded as the
suppression list stores them, all before anything is written: a typo in the third address of
three changes nothing. Lifting a suppression an operator did not add (a bounce, a spam report, an
unsubscribe) needs ``force``: mailing such an address hurts the sender's reputation, or mails
someone who asked not to be.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Suppression
from referral_automation.db.shared import insert_audit
from referral_automation.db.sql import dialect_insert
from referral_automation.domain.addresses import parse_mailbox
from referral_automation.errors import ReferralAutomationError

#: The reason of a suppression an operator added (the provider's are bounced, unsubscribed, …).
MANUAL = "manual"
#: Where an operator's suppression comes from (a provider's say ``sendgrid``).
SOURCE = "operator"
_SUPPRESSIONS: Table = Suppression.__table__  # type: ignore[assignment]


class SuppressionError(ReferralAutomationError):
    """Addresses that cannot be added or lifted: not an address, or a suppression that needs force."""


@dataclass(frozen=True, slots=True)
class SuppressionView:
    email: str
    reason: str
    source: str
    created_at: datetime

    def words(self) -> str:
        """``bounced via sendgrid on 2026-03-01``."""
        return f"{self.reason.replace('_', ' ')} via {self.source} on {self.created_at:%Y-%m-%d}"

    def as_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "reason": self.reason,
            "source": self.source,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class SuppressionChange:
    """What happened to one address: ``changed`` is False when there was nothing to do."""

    email: str
    changed: bool
    #: The suppression already there (when adding) or the one lifted (when removing).
    existing: SuppressionView | None


def _view(row: Suppression) -> SuppressionView:
    return SuppressionView(row.email, row.reason, row.source, row.created_at)


def list_suppressions(
    session_factory: sessionmaker[Session], *, reason: str | None = None, limit: int | None = None
) -> list[SuppressionView]:
    """Suppressed addresses, the newest first, optionally of one reason."""
    query = select(Suppression).order_by(Suppression.created_at.desc(), Suppression.email)
    if reason is not None:
        query = query.where(Suppression.reason == reason)
    if limit is not None:
        query = query.limit(limit)
    with session_factory() as session, session.begin():
        return [_view(row) for row in session.scalars(query)]


def addresses(emails: Sequence[str]) -> list[str]:
    """Each address checked and casefolded (duplicates once), or ``SuppressionError`` naming every bad one."""
    found: list[str] = []
    bad: list[str] = []
    for email in emails:
        try:
            address = parse_mailbox(email).addr_spec.casefold()
        except ValueError as error:
            bad.append(f"{email!r} is not an email address ({error})")
            continue
        if address not in found:
            found.append(address)
    if bad:
        raise SuppressionError("; ".join(bad))
    return found


def add_suppressions(
    session_factory: sessionmaker[Session], emails: Sequence[str], *, by: str, note: str | None, now: datetime
) -> list[SuppressionChange]:
    """Suppress each address (reason ``manual``); an address already suppressed keeps its reason."""
    wanted = addresses(emails)
    with session_factory() as session, session.begin():
        existing = _existing(session, wanted)
        fresh = [email for email in wanted if email not in existing]
        if fresh:
            rows = [{"email": e, "reason": MANUAL, "source": SOURCE, "created_at": now} for e in fresh]
            session.execute(dialect_insert(session, _SUPPRESSIONS).on_conflict_do_nothing(), rows)
            insert_audit(session, [_audit("suppression_added", e, by, now, {"note": note}) for e in fresh])
    return [SuppressionChange(email, email in fresh, existing.get(email)) for email in wanted]


def remove_suppressions(
    session_factory: sessionmaker[Session],
    emails: Sequence[str],
    *,
    by: str,
    note: str | None,
    now: datetime,
    force: bool = False,
) -> list[SuppressionChange]:
    """Lift each address's suppression; one not added by hand (``manual``) only with ``force``."""
    wanted = addresses(emails)
    with session_factory() as session, session.begin():
        existing = _existing(session, wanted)
        protected = [view for view in existing.values() if view.reason != MANUAL]
        if protected and not force:
            shown = "; ".join(f"{view.email} is suppressed: {view.words()}" for view in protected)
            raise SuppressionError(f"{shown}: lifting it needs force (only if they asked to be mailed again)")
        if existing:
            session.execute(delete(Suppression).where(Suppression.email.in_(list(existing))))
            details = {email: {"note": note, "reason": v.reason, "source": v.source} for email, v in existing.items()}
            insert_audit(session, [_audit("suppression_removed", e, by, now, details[e]) for e in existing])
    return [SuppressionChange(email, email in existing, existing.get(email)) for email in wanted]


def _existing(session: Session, emails: Sequence[str]) -> dict[str, SuppressionView]:
    rows = session.scalars(select(Suppression).where(Suppression.email.in_(list(emails))).with_for_update())
    return {row.email: _view(row) for row in rows}


def _audit(action: str, email: str, by: str, now: datetime, details: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": now,
        "actor": by,
        "action": action,
        "subject_type": "email",
        "subject_id": email,
        "details": {key: value for key, value in details.items() if value is not None},
    }
