"""The states things go through, as the product names them (CONTRACT.md "Referral request statuses").

Every status written to or compared with the database is one of these: the tables carry the same
lists as CHECK constraints (migration 0005), so a typo is an error, never a row nobody finds.
"""

from __future__ import annotations

from enum import StrEnum


class RequestStatus(StrEnum):
    """A referral request: ``pending_approval → approved | rejected | expired``,
    ``scheduled → sending → sent | failed``, ``suppressed``, ``cancelled``."""

    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"


#: Requests waiting for their first send (``approved`` ones were approved by a person).
AWAITING_SEND = (RequestStatus.APPROVED, RequestStatus.SCHEDULED)
#: Requests that do not count for the cool-down: nobody was (or will be) asked.
NOT_ASKED = (RequestStatus.REJECTED, RequestStatus.EXPIRED, RequestStatus.CANCELLED)


class MessageStatus(StrEnum):
    """One email of a request: ``sending`` is written before the provider hears of it."""

    SENDING = "sending"  # handed over, or about to be: its outcome is not known yet
    SENT = "sent"  # accepted by the provider
    RETRY = "retry"  # nothing was accepted; the request is tried again later
    FAILED = "failed"  # refused for good
    CANCELLED = "cancelled"  # not sent after all: suppressed, opted out or already responded


class MomentOutcome(StrEnum):
    """What became of a moment of truth."""

    CANDIDATE = "candidate"  # found by the scan, not decided yet
    REQUESTED = "requested"  # became the customer's referral request
    BLOCKED = "blocked"  # a guard said no (``blocked_by`` names it)
    SUPERSEDED = "superseded"  # another moment of the customer in the same run ranked higher


class Decision(StrEnum):
    """A decision on a request that needed approval (``expired``: nobody decided in time)."""

    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class ReferralStatus(StrEnum):
    """A referee's sign-up with an advocate's code: counted, waiting for a person, or refused by one."""

    ACCEPTED = "accepted"  # counts: a ``referral`` response, rewards when it converts
    HELD = "held"  # flagged (a throwaway address, a code used far more than usual): a person decides
    REJECTED = "rejected"  # a person refused it on review: it never counts


def sql_list(values: tuple[StrEnum, ...] | type[StrEnum]) -> str:
    """``'a', 'b'`` for an ``IN (…)`` or a CHECK constraint written in SQL."""
    return ", ".join(f"'{value.value}'" for value in values)
