"""Unanswered sends past their reconcile window: the provider is asked before anything is sent again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from referral_automation.email.message import LookupAnswer, OutgoingEmail, SendOutcome
from referral_automation.errors import AmbiguousDeliveryError
from tests.support.send import (
    NOW,
    OPTIONS,
    Factory,
    FakeSender,
    add_customer,
    add_request,
    messages_of,
    request_row,
)
from tests.support.send import send_first_asks as run

WINDOW = OPTIONS.reconcile_after


@dataclass
class AskedSender(FakeSender):
    """A non-idempotent sender whose provider answers lookups as ``answers`` says (None: no answer)."""

    answers: dict[str, str] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def look_up(self, messages: Sequence[tuple[str, str, int]]) -> LookupAnswer | None:
        answer = LookupAnswer()
        for message_id, _, _ in messages:
            self.asked.append(message_id)
            verdict = self.answers.get(message_id)
            if verdict == "accepted":
                answer.accepted[message_id] = "x-message-id-1"
            elif verdict == "absent":
                answer.absent.add(message_id)
        return answer


def ambiguous_once(email: OutgoingEmail, handed: list[OutgoingEmail]) -> SendOutcome | None:
    return AmbiguousDeliveryError("read timeout") if len(handed) == 1 else None


@pytest.fixture
def unanswered(factory: Factory) -> tuple[str, AskedSender]:
    """A first ask whose send went unanswered (the provider may have accepted it)."""
    add_customer(factory, "ann", timezone="UTC")
    request_id = add_request(factory, "ann")
    sender = AskedSender()
    sender.script = lambda email: ambiguous_once(email, sender.handed)
    assert run(factory, sender).ambiguous == 1
    return request_id, sender


def test_a_send_the_provider_holds_is_settled_not_sent_again(
    factory: Factory, unanswered: tuple[str, AskedSender]
) -> None:
    """It settles an unanswered send the provider says it accepted, with the provider's id, and never sends it again."""
    request_id, sender = unanswered
    [message] = messages_of(factory, request_id)
    sender.answers[message.id] = "accepted"

    report = run(factory, sender, now=NOW + WINDOW)

    assert (report.settled, len(sender.handed), sender.asked) == (1, 1, [message.id])
    [message] = messages_of(factory, request_id)
    assert (message.status, message.provider_message_id) == ("sent", "x-message-id-1")
    assert request_row(factory, request_id).status == "sent"


def test_a_send_the_provider_never_got_is_sent_again(factory: Factory, unanswered: tuple[str, AskedSender]) -> None:
    """It sends again, once, an unanswered send the provider says it does not hold."""
    request_id, sender = unanswered
    sender.answers[messages_of(factory, request_id)[0].id] = "absent"

    assert run(factory, sender, now=NOW + WINDOW).sent == 1
    assert len(sender.handed) == 2
    assert request_row(factory, request_id).status == "sent"


def test_no_lookup_before_the_window(factory: Factory, unanswered: tuple[str, AskedSender]) -> None:
    """It asks nothing while an unanswered send is still inside its window (an event may yet come)."""
    _, sender = unanswered

    assert run(factory, sender, now=NOW + WINDOW / 2).claimed == 0
    assert (sender.asked, len(sender.handed)) == ([], 1)


def test_a_lookup_without_answer_waits_at_most_a_second_window(
    factory: Factory, unanswered: tuple[str, AskedSender]
) -> None:
    """It waits when the provider cannot tell just now, and sends again once a second window has passed."""
    _, sender = unanswered

    assert run(factory, sender, now=NOW + WINDOW + OPTIONS.lease).waiting == 1
    assert len(sender.handed) == 1
    assert run(factory, sender, now=NOW + 2 * WINDOW + OPTIONS.lease).sent == 1
    assert len(sender.handed) == 2
