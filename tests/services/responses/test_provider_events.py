"""SendGrid Event Webhook events: checked, mapped to responses, correlated to messages, recorded once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from referral_automation.db.models import Message, ReferralRequest, Response, Suppression
from referral_automation.domain import identity
from referral_automation.domain.responses import ResponseKind
from referral_automation.services.responses.provider_events import (
    parse_events,
    read_event_file,
    record_sendgrid_events,
    to_response,
)
from tests.support.send import (
    NOW,
    Factory,
    add_customer,
    add_request,
)

BASE = "https://refer.example.com"
STAMP = int(NOW.timestamp())


def event(name: str, n: int = 1, **fields: Any) -> dict[str, Any]:
    return {"sg_event_id": f"ev-{name}-{n}", "event": name, "email": "ann@example.com", "timestamp": STAMP, **fields}


def responses(factory: Factory) -> list[Response]:
    with factory() as session:
        return list(session.scalars(select(Response).order_by(Response.id)))


def add_message(factory: Factory, request_id: str, *, step: int = 0, status: str = "sent", **columns: Any) -> str:
    message_id = identity.message_id(request_id, step)
    with factory() as session, session.begin():
        session.execute(
            Message.__table__.insert(),
            {"id": message_id, "referral_request_id": request_id, "sequence_step": step, "status": status,
             "provider": "sendgrid", "subject": "s", "content_hash": "0" * 64, "created_at": NOW, **columns},
        )  # fmt: skip
    return message_id


# --------------------------------------------------------------------------- mapping (pure)
@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("processed", ResponseKind.PROCESSED),
        ("delivered", ResponseKind.DELIVERED),
        ("deferred", ResponseKind.DEFERRED),
        ("bounce", ResponseKind.BOUNCED),
        ("dropped", ResponseKind.DROPPED),
        ("open", ResponseKind.OPENED),
        ("click", ResponseKind.CLICKED),
        ("spamreport", ResponseKind.SPAM_REPORTED),
        ("unsubscribe", ResponseKind.UNSUBSCRIBED),
        ("group_unsubscribe", ResponseKind.GROUP_UNSUBSCRIBED),
        ("group_resubscribe", ResponseKind.GROUP_RESUBSCRIBED),
        ("account_status_change", ResponseKind.PROVIDER_EVENT),
    ],
)
def test_each_event_maps_to_its_kind(name: str, kind: ResponseKind) -> None:
    """It maps every SendGrid event type to its response kind, and unknown ones to provider_event."""
    response = to_response(event(name), public_base_url=BASE)
    assert response.kind is kind
    assert (response.external_id, response.email, response.source) == (f"ev-{name}-1", "ann@example.com", "sendgrid")
    assert response.occurred_at == NOW


def test_click_on_the_referral_link_is_a_referral_click() -> None:
    """It tells a click on the customer's own referral link from any other tracked click."""
    referral = to_response(event("click", url=f"{BASE}/r/abcdefgh1234"), public_base_url=BASE + "/")
    other = to_response(event("click", url=f"{BASE}/pricing"), public_base_url=BASE)
    assert referral.kind is ResponseKind.REFERRAL_CLICKED
    assert referral.details["url"] == f"{BASE}/r/abcdefgh1234"
    assert other.kind is ResponseKind.CLICKED


def test_unknown_event_is_kept_raw() -> None:
    """It keeps the whole of an event it does not know."""
    raw = event("something_new", extra={"nested": [1, 2]})
    assert to_response(raw, public_base_url=BASE).details == {"raw": raw}


def test_custom_args_and_provider_id_are_carried() -> None:
    """It reads our custom args back from top-level keys and SendGrid's message id from sg_message_id."""
    response = to_response(
        event("delivered", referral_request_id="req-1", sequence_step="1", sg_message_id="abc123.filter0001.1.0"),
        public_base_url=BASE,
    )
    assert response.referral_request_id == "req-1"
    assert response.details["sequence_step"] == "1"
    assert response.details["provider_message_id"] == "abc123"


# --------------------------------------------------------------------------- bad input
def test_bad_items_are_reported_by_index_and_good_ones_kept() -> None:
    """It reports each bad item as SOURCE:[index]: reason and keeps the good ones."""
    good = event("open")
    parsed = parse_events(
        [good, "text", {"event": "open", "email": "a@b.c", "timestamp": 1}, event("open", 2, timestamp="soon"),
         event("open", 3, email=7)],
        source="events.json",
    )  # fmt: skip
    assert parsed.events == [good]
    assert [str(p) for p in parsed.problems] == [
        "events.json:[1]: expected an event object, got a string",
        "events.json:[2]: missing sg_event_id",
        "events.json:[3]: timestamp must be a Unix time in seconds, got a string",
        "events.json:[4]: email must be a string, got a number",
    ]


def test_a_batch_that_is_not_an_array_is_one_problem() -> None:
    """It refuses a batch that is not a JSON array, naming the source."""
    parsed = parse_events({"event": "open"}, source="webhook")
    assert parsed.events == []
    assert [str(p) for p in parsed.problems] == ["webhook: expected a JSON array of events, got an object"]


def test_a_file_that_is_not_json_is_one_problem(tmp_path: Path) -> None:
    """It reports a file that is not JSON as FILE: message."""
    path = tmp_path / "events.json"
    path.write_text("[{oops")
    (problem,) = read_event_file(path).problems
    assert str(problem).startswith(f"{path}: not JSON: ")


# --------------------------------------------------------------------------- recording
def test_events_are_recorded_once_by_sg_event_id(factory: Factory) -> None:
    """It records each sg_event_id once, within a batch and across replays."""
    batch = [event("delivered"), event("open"), event("open")]
    first = record_sendgrid_events(factory, batch, now=NOW, public_base_url=BASE)
    second = record_sendgrid_events(factory, batch, now=NOW, public_base_url=BASE)
    assert (first.recorded, first.duplicates) == (2, 1)
    assert (second.recorded, second.duplicates) == (0, 3)
    assert [r.kind for r in responses(factory)] == ["delivered", "opened"]


def test_events_find_their_message_by_custom_args(factory: Factory) -> None:
    """It attaches an event to the request and message its custom args name."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann", status="sent")
    record_sendgrid_events(
        factory, [event("open", referral_request_id=request_id, sequence_step="1")], now=NOW, public_base_url=BASE
    )
    (recorded,) = responses(factory)
    assert (recorded.referral_request_id, recorded.message_id) == (request_id, identity.message_id(request_id, 1))


def test_events_without_custom_args_find_their_message_by_sendgrid_id(factory: Factory) -> None:
    """It attaches an event without custom args to the message whose X-Message-Id starts its sg_message_id."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann", status="sent")
    message_id = add_message(factory, request_id, provider_message_id="XMSG42")
    record_sendgrid_events(
        factory, [event("delivered", sg_message_id="XMSG42.filterdrecv-1.0")], now=NOW, public_base_url=BASE
    )
    (recorded,) = responses(factory)
    assert (recorded.referral_request_id, recorded.message_id) == (request_id, message_id)
    assert recorded.details["provider_message_id"] == "XMSG42"


def test_bounce_suppresses_and_group_resubscribe_lifts_an_unsubscribe(factory: Factory) -> None:
    """It suppresses a bounced address for good, and lifts a group unsubscribe when the customer comes back."""
    later = STAMP + 60
    record_sendgrid_events(
        factory,
        [
            event("bounce", email="gone@example.com", type="bounce", reason="550 no such user"),
            event("group_unsubscribe", email="ann@example.com", asm_group_id=7),
            event("group_resubscribe", email="ann@example.com", asm_group_id=7, timestamp=later),
        ],
        now=NOW,
        public_base_url=BASE,
    )
    with factory() as session:
        suppressed = {s.email: s.reason for s in session.scalars(select(Suppression))}
    assert suppressed == {"gone@example.com": "bounced"}


def test_unknown_events_are_stored_raw(factory: Factory) -> None:
    """It stores an event type it does not know with the whole event."""
    raw = event("machine_learning_insight", score=0.9)
    record_sendgrid_events(factory, [raw], now=NOW, public_base_url=BASE)
    (recorded,) = responses(factory)
    assert recorded.kind == "provider_event"
    assert recorded.details == {"raw": raw}


def test_acceptance_of_an_ambiguous_send_ends_its_lease(factory: Factory) -> None:
    """It ends the lease of a request whose unanswered send SendGrid now reports, so the next run settles it."""
    add_customer(factory, "ann")
    far = NOW + timedelta(minutes=30)
    waiting = add_request(factory, "ann", status="sending", lease_owner="w1", lease_expires_at=far)
    untouched = add_request(factory, "ann", status="sending", lease_owner="w1", lease_expires_at=far)
    add_message(factory, waiting, status="sending")
    add_message(factory, untouched, status="sending")
    later = NOW + timedelta(minutes=2)
    record_sendgrid_events(
        factory,
        [event("processed", referral_request_id=waiting, sequence_step="0"),
         event("group_resubscribe", referral_request_id=untouched, sequence_step="0")],
        now=later,
        public_base_url=BASE,
    )  # fmt: skip
    with factory() as session:
        leases = {r.id: r.lease_expires_at for r in session.scalars(select(ReferralRequest))}
    assert leases[waiting] == later
    assert leases[untouched] == far


def test_file_round_trip(tmp_path: Path, factory: Factory) -> None:
    """It reads a file of events and records the good ones."""
    path = tmp_path / "events.json"
    path.write_text(json.dumps([event("delivered"), {"event": "open"}]))
    parsed = read_event_file(path)
    report = record_sendgrid_events(factory, parsed.events, now=datetime.now(UTC), public_base_url=BASE)
    assert report.recorded == 1
    assert [str(p) for p in parsed.problems] == [f"{path}:[1]: missing sg_event_id, email, timestamp"]
