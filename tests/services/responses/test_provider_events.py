"""SendGrid Event Webhook events: checked, mapped to responses, correlated to messages, recorded once."""

from __future__ import annotations

import gzip
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
        'events.json:[1]: expected an event object, got a string ("text")',
        "events.json:[2]: missing sg_event_id",
        'events.json:[3]: timestamp must be a Unix time in seconds, got a string ("soon")',
        "events.json:[4]: email must be a string, got an integer (7)",
    ]


def _element(text: str) -> str:
    """An event as JSON text with ``text`` as the value of its ``note``, which JSON encoders would not write."""
    return json.dumps(event("open", 99)).replace('"open"', '"open", "note": ' + text, 1)


POISON = [
    (
        "a NUL character",
        _element('"a\\u0000b"'),
        "note contains a NUL character (\\u0000), which the database cannot store",
    ),
    (
        "a lone surrogate",
        _element('"\\ud800"'),
        "note contains a lone surrogate (not text), which the database cannot store",
    ),
    ("NaN", _element("NaN"), "note holds a number that is not finite (nan)"),
    ("Infinity", _element("-Infinity"), "note holds a number that is not finite (-inf)"),
    ("a number beyond a double", _element("1e400"), "note holds a number that is not finite (inf)"),
    ("nesting past the bound", _element("[" * 40 + "]" * 40), "nests deeper than 32 levels of objects and arrays"),
    ("nesting past every parser", _element("[" * 100_000 + "]" * 100_000), "nests deeper than 32 levels"),
    (
        "an sg_event_id of 201 characters",
        json.dumps(event("open", sg_event_id="s" * 201)),
        "sg_event_id is longer than 200",
    ),
    (
        "an email of 321 characters",
        json.dumps(event("open", email="a" * 64 + "@" + "b" * 252 + ".com")),
        "email is not one",
    ),
    ("two recipients", json.dumps(event("open", email="evil>,<victim@example.com")), "email is not one plain address"),
    (
        "ESC in an event name",
        json.dumps(event("open") | {"event": "open\u001b[2J"}),
        "event contains a control character (U+001B)",
    ),
    (
        "an override in an id",
        json.dumps(event("open", sg_event_id="ab\u202ecd")),
        "sg_event_id contains a bidirectional",
    ),
    (
        "a time past the range",
        json.dumps(event("open", timestamp=253402300799)),
        "timestamp 253402300799 is out of range",
    ),
    (
        "a step no message has",
        json.dumps(event("open", sequence_step="9" * 5000)),
        "sequence_step must be a whole number",
    ),
    (
        "a step in other digits",
        json.dumps(event("open", sequence_step="\u00b2")),
        "sequence_step must be a whole number",
    ),
    ("a request id that is no id", json.dumps(event("open", referral_request_id=["r"])), "referral_request_id must be"),
    ("not JSON", '{"sg_event_id": oops}', "malformed JSON: unexpected character"),
    ("invalid UTF-8", '{"sg_event_id": "\udcff"}', "malformed JSON: str is not valid UTF-8"),
]


@pytest.mark.parametrize(("element", "reason"), [c[1:] for c in POISON], ids=[c[0] for c in POISON])
def test_a_poison_event_is_rejected_alone(factory: Factory, element: str, reason: str) -> None:
    """It rejects one poison event with SOURCE:[index]: reason and records the rest of its batch, on either database."""
    body = "[" + json.dumps(event("delivered", 1)) + ",\n" + element + ", " + json.dumps(event("open", 2)) + "]"
    parsed = parse_events(body.encode("utf-8", "surrogateescape"), source="webhook")

    report = record_sendgrid_events(factory, parsed.events, now=NOW, public_base_url=BASE)

    [problem] = parsed.problems
    assert str(problem).startswith(f"webhook:[1]: {reason}")
    assert report.recorded == 2
    assert sorted(r.external_id or "" for r in responses(factory)) == ["ev-delivered-1", "ev-open-2"]


def test_events_are_parsed_one_by_one_from_the_bytes(tmp_path: Path) -> None:
    """It keeps the events before a break in the array's structure and reports where it broke."""
    body = b"[" + json.dumps(event("open", 1)).encode() + b", " + json.dumps(event("open", 2)).encode() + b", {"

    parsed = parse_events(body, source="events.json")

    assert [e["sg_event_id"] for e in parsed.events] == ["ev-open-1", "ev-open-2"]
    assert [str(p) for p in parsed.problems] == [
        "events.json:[2]: not a JSON array of events: the array is not closed (the document ends inside it)"
    ]


def test_an_address_is_kept_in_its_normal_form() -> None:
    """It lower-cases the domain of the address an event names, as customers' addresses are stored."""
    parsed = parse_events([event("bounce", email="Ann@Example.COM")], source="webhook")

    assert parsed.events[0]["email"] == "Ann@example.com"


def test_a_batch_that_is_not_an_array_is_one_problem() -> None:
    """It refuses a batch that is not a JSON array, naming the source."""
    parsed = parse_events(b'{"event": "open"}', source="webhook")
    assert parsed.events == []
    assert [str(p) for p in parsed.problems] == [
        "webhook: not a JSON array of events: expected a JSON array, got an object"
    ]


def test_a_file_that_is_not_json_is_one_problem(tmp_path: Path) -> None:
    """It reports a file that is not JSON as FILE:[index]: message."""
    path = tmp_path / "events.json"
    path.write_text("[{oops")
    (problem,) = read_event_file(path).problems
    assert (
        str(problem) == f"{path}:[0]: not a JSON array of events: the array is not closed (the document ends inside it)"
    )


def test_a_compressed_file_is_read(tmp_path: Path) -> None:
    """It reads a gzip-compressed file of events, whatever its name."""
    path = tmp_path / "events.json"
    path.write_bytes(gzip.compress(json.dumps([event("open")]).encode()))

    assert [e["sg_event_id"] for e in read_event_file(path).events] == ["ev-open-1"]


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


def test_a_damaged_compressed_file_gives_the_events_before_the_damage(tmp_path: Path) -> None:
    """It keeps the events read before a .gz file breaks off and says where it broke, instead of a traceback."""
    path = tmp_path / "events.json.gz"
    data = gzip.compress(json.dumps([event("open", n, pad="x" * n) for n in range(2000)]).encode())
    path.write_bytes(data[: len(data) // 2])

    parsed = read_event_file(path)

    assert len(parsed.events) > 100
    assert [e["sg_event_id"] for e in parsed.events] == [f"ev-open-{n}" for n in range(len(parsed.events))]
    cut, damaged = parsed.problems
    assert str(cut).startswith(f"{path}:[{len(parsed.events)}]: not a JSON array of events")
    assert (
        str(damaged) == f"{path}: the compressed data ends early (a truncated .gz file?); the events before it are read"
    )
