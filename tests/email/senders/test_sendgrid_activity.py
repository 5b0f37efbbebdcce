"""The Email Activity lookup: asking SendGrid whether it holds a message whose send went unanswered."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from referral_automation.email.senders.sendgrid_activity import SendGridActivity, activity_query


class ActivityApi:
    """A loopback Email Activity API: ``replies`` maps a query to (status, messages)."""

    def __init__(self) -> None:
        self.replies: dict[str, tuple[int, list[dict[str, Any]]]] = {}
        self.queries: list[str] = []
        self.authorizations: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                [query] = parse_qs(url.query)["query"]
                api.queries.append(query)
                api.authorizations.append(self.headers.get("Authorization", ""))
                status, messages = api.replies.get(query, (200, []))
                body = json.dumps({"messages": messages} if status == 200 else {"errors": [{"message": "no"}]})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def api() -> Iterator[ActivityApi]:
    served = ActivityApi()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def activity(api: ActivityApi, **options: Any) -> SendGridActivity:
    return SendGridActivity(SecretStr("SG.key.value"), host=api.host, timeout=5, **options)


def test_a_message_sendgrid_holds_is_accepted_with_its_id(api: ActivityApi) -> None:
    """It asks by the custom args every message carries and reads SendGrid's message id from the answer."""
    api.replies[activity_query("r1", 0)] = (200, [{"msg_id": "X-ID-1.filter0001.1234.5", "status": "delivered"}])

    answer = activity(api).look_up([("m1", "r1", 0), ("m2", "r2", 1)])

    assert answer is not None
    assert answer.accepted == {"m1": "X-ID-1"}
    assert answer.absent == {"m2"}
    assert api.queries == [activity_query("r1", 0), activity_query("r2", 1)]
    assert api.queries[1] == "unique_args['referral_request_id']=\"r2\" AND unique_args['sequence_step']=\"1\""
    assert api.authorizations[0] == "Bearer SG.key.value"


def test_an_account_without_the_add_on_is_asked_once(api: ActivityApi) -> None:
    """It stops asking for good when SendGrid says the account has no Email Activity access, and
    tells nothing of the messages it did not ask about."""
    api.replies[activity_query("r1", 0)] = (403, [])
    lookup = activity(api)

    first = lookup.look_up([("m1", "r1", 0), ("m2", "r2", 0)])
    second = lookup.look_up([("m3", "r3", 0)])

    assert first is not None
    assert (first.accepted, first.absent, second) == ({}, set(), None)
    assert len(api.queries) == 1
    assert lookup.available is False


def test_a_rate_limit_leaves_the_rest_unknown(api: ActivityApi) -> None:
    """It stops at a 429 and leaves the messages it could not ask about neither accepted nor absent."""
    api.replies[activity_query("r2", 0)] = (429, [])

    answer = activity(api).look_up([("m1", "r1", 0), ("m2", "r2", 0), ("m3", "r3", 0)])

    assert answer is not None
    assert (answer.accepted, answer.absent) == ({}, {"m1"})
    assert len(api.queries) == 2


def test_lookups_per_batch_are_bounded(api: ActivityApi) -> None:
    """It asks about at most ``max_lookups`` messages a batch (the API's rate limit is tight)."""
    answer = activity(api, max_lookups=2).look_up([(f"m{n}", f"r{n}", 0) for n in range(5)])

    assert answer is not None
    assert answer.absent == {"m0", "m1"}
    assert len(api.queries) == 2


def test_no_server_is_no_answer(api: ActivityApi) -> None:
    """It treats a refused connection as no answer, never as "not there"."""
    lookup = SendGridActivity(SecretStr("SG.key.value"), host="http://127.0.0.1:9", timeout=2)

    answer = lookup.look_up([("m1", "r1", 0)])

    assert answer is not None
    assert (answer.accepted, answer.absent) == ({}, set())


def test_the_sender_asks_only_when_delivery_yaml_turns_the_lookup_on(api: ActivityApi) -> None:
    """It gives the send service a lookup only with ``email_activity_api: true``; without it, the
    reconcile window alone decides (None: nothing to ask)."""
    from referral_automation.config import DeliveryConfig, SendGridDelivery
    from referral_automation.email.senders.sendgrid import SendGridSender
    from referral_automation.settings import Settings

    settings = Settings(SENDGRID_API_KEY="SG.key.value", SENDGRID_API_HOST=api.host)
    off = SendGridSender.from_settings(settings, DeliveryConfig())
    on = SendGridSender.from_settings(settings, DeliveryConfig(sendgrid=SendGridDelivery(email_activity_api=True)))

    assert off.look_up([("m1", "r1", 0)]) is None
    answer = on.look_up([("m1", "r1", 0)])
    assert answer is not None
    assert answer.absent == {"m1"}
    assert api.queries == [activity_query("r1", 0)]
