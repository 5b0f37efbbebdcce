"""What the send flow hands to a sender, and the port every sender implements.

Like httpx's ``BaseTransport``: one small protocol with a real implementation (SendGrid), a local
one (the outbox) and test fakes, so the send service never knows which it talks to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from referral_automation.errors import DeliveryError


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """One fully rendered message, ready for any provider."""

    message_id: str
    referral_request_id: str
    sequence_step: int
    campaign: str
    variant: str
    incentive: str
    to_email: str
    to_name: str
    from_email: str
    from_name: str
    reply_to_email: str | None
    reply_to_name: str | None
    subject: str
    html: str
    text: str
    #: Extra headers: List-Unsubscribe, List-Unsubscribe-Post, X-Referral-Request-Id, X-Referral-Sequence-Step.
    headers: dict[str, str] = field(default_factory=dict)
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SendResult:
    """The provider accepted the message."""

    provider: str
    provider_message_id: str | None


#: What a batch send gives back for each message, in order: accepted, or the delivery error.
SendOutcome = SendResult | DeliveryError


@runtime_checkable
class EmailSender(Protocol):
    """A way to hand messages to the world.

    ``send`` raises ``RetryableDeliveryError`` (nothing accepted, safe to try later),
    ``PermanentDeliveryError`` (refused for good) or ``AmbiguousDeliveryError`` (may have been
    accepted: reconcile, never blindly retry). ``idempotent`` senders (the outbox) guarantee that
    sending the same ``message_id`` twice yields one message, so an ambiguous send may be redone.
    """

    name: str
    idempotent: bool

    def send(self, email: OutgoingEmail) -> SendResult: ...

    def send_many(self, emails: Sequence[OutgoingEmail]) -> list[SendOutcome]: ...


@dataclass(slots=True)
class LookupAnswer:
    """What a provider says of messages whose send went unanswered: those it holds (by our message
    id, with its own id when it tells) and those it does not; any other was not asked about."""

    accepted: dict[str, str | None] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)


@runtime_checkable
class Reconciling(Protocol):
    """A sender that can ask its provider what became of a send that went unanswered (SendGrid's
    Email Activity API): consulted before a message is sent again after its reconcile window."""

    def look_up(self, messages: Sequence[tuple[str, str, int]]) -> LookupAnswer | None:
        """What the provider says of ``(message id, request id, step)`` messages; None when it
        cannot be asked at all (then the reconcile window alone decides)."""
        ...
