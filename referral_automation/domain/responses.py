"""The vocabulary of responses: what customers (or providers for them) do after a message.

Every adapter (SendGrid events, inbound replies, tracking links, the referral API, the demo's
simulation) maps what it sees to these kinds, so follow-ups, the bandit and the report speak one language.
"""

from __future__ import annotations

from enum import StrEnum


class ResponseKind(StrEnum):
    PROCESSED = "processed"
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    DROPPED = "dropped"
    OPENED = "opened"
    CLICKED = "clicked"  # any tracked link
    REFERRAL_CLICKED = "referral_clicked"  # the customer's own referral link
    REPLIED_OK = "replied_ok"
    REPLIED = "replied"  # a reply that is not an OK: its words are kept for the success manager
    AUTO_REPLIED = "auto_replied"  # an out-of-office or other machine's answer: kept, changes nothing
    REFERRAL = "referral"  # a referee signed up with the code
    CONVERSION = "conversion"  # a referee became a customer
    UNSUBSCRIBED = "unsubscribed"
    SPAM_REPORTED = "spam_reported"
    GROUP_UNSUBSCRIBED = "group_unsubscribed"
    GROUP_RESUBSCRIBED = "group_resubscribed"
    PROVIDER_EVENT = "provider_event"  # an event we do not know, kept raw


#: A response from the customer: no more follow-ups after any of these (CONTRACT: reply, referral-link click,
#: referral). Any reply a person wrote counts, OK or not: someone who answered "not now" is not asked again.
ENGAGED = frozenset(
    {
        ResponseKind.REPLIED_OK,
        ResponseKind.REPLIED,
        ResponseKind.REFERRAL_CLICKED,
        ResponseKind.REFERRAL,
        ResponseKind.CONVERSION,
    }
)

#: The address must not be emailed again (a suppression is recorded).
SUPPRESSING = frozenset(
    {
        ResponseKind.BOUNCED,
        ResponseKind.UNSUBSCRIBED,
        ResponseKind.SPAM_REPORTED,
        ResponseKind.GROUP_UNSUBSCRIBED,
    }
)

#: The provider has settled an ambiguous send: the message was accepted.
ACCEPTED_BY_PROVIDER = frozenset(
    {
        ResponseKind.PROCESSED,
        ResponseKind.DELIVERED,
        ResponseKind.DEFERRED,
        ResponseKind.BOUNCED,
        ResponseKind.DROPPED,
        ResponseKind.OPENED,
        ResponseKind.CLICKED,
        ResponseKind.SPAM_REPORTED,
        ResponseKind.UNSUBSCRIBED,
    }
)


def stops_follow_ups(kind: ResponseKind) -> bool:
    """Follow-ups stop once the customer responded or the address became unusable."""
    return kind in ENGAGED or kind in SUPPRESSING
