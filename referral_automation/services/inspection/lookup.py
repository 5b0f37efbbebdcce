"""Finding the one request or customer an operator means, from what they typed.

Request ids are uuids: an operator may type the first 8 characters or more (``3f2a9c1e``), as
tables show them. Customer ids are the CRM's and are matched exactly; an email address finds its
customer too (``customers show ada@example.com``).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from referral_automation.db.models import Customer, ReferralRequest
from referral_automation.errors import ReferralAutomationError

#: The shortest id prefix an operator may type (uuid ids: 8 hex characters are unique in practice).
MIN_PREFIX = 8


class NotFoundError(ReferralAutomationError):
    """An id (or prefix) that names no request or customer, or more than one."""


def resolve_request_id(session: Session, ref: str) -> str:
    """The id of the one request whose id is ``ref`` or starts with it (at least ``MIN_PREFIX`` characters)."""
    ref = ref.strip()
    if len(ref) < MIN_PREFIX:
        raise NotFoundError(f"give at least {MIN_PREFIX} characters of the request id, not {ref!r}")
    if session.scalar(select(ReferralRequest.id).where(ReferralRequest.id == ref)) is not None:
        return ref
    query = (
        select(ReferralRequest.id)
        .where(ReferralRequest.id.startswith(ref, autoescape=True))
        .order_by(ReferralRequest.id)
        .limit(4)
    )
    matches = list(session.scalars(query))
    if not matches:
        raise NotFoundError(f"no referral request has an id starting with {ref!r}")
    if len(matches) > 1:
        shown = ", ".join(matches[:3]) + (", …" if len(matches) > 3 else "")
        raise NotFoundError(f"{ref!r} is ambiguous: it starts the ids {shown}; give more characters")
    return matches[0]


def resolve_customer_id(session: Session, ref: str) -> str:
    """The customer whose id is ``ref``, or else the one customer whose address it is."""
    if session.get(Customer, ref) is not None:
        return ref
    if "@" in ref:
        address = ref.strip()
        matches = _customers_at(session, Customer.email == address) or _customers_at(
            session,
            func.lower(Customer.email) == address.lower(),  # unindexed: only when the exact match fails
        )
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise NotFoundError(f"{ref!r} is the address of several customers ({', '.join(matches)}): give an id")
    raise NotFoundError(f"no customer has the id {ref!r}")


def _customers_at(session: Session, condition: ColumnElement[bool]) -> list[str]:
    return list(session.scalars(select(Customer.customer_id).where(condition).order_by(Customer.customer_id).limit(3)))
