"""Asking SendGrid's Email Activity API whether it accepted a message whose send went unanswered.

Mail Send has no idempotency key: when the connection drops after the request was written, only
SendGrid knows whether it accepted the message. Its events usually tell within seconds (the signed
Event Webhook); for a message no event settled within the reconcile window, an account with the
Email Activity add-on can still be asked: every message carries our ``custom_args``
(``referral_request_id``, ``sequence_step``), which the Activity API filters on as ``unique_args``.
Found means accepted (never send it again); not found after the window means it never got in.

The API is a paid add-on with a tight rate limit, so it is asked only about the few messages a
batch would otherwise send again, at most ``max_lookups`` a batch; an account without it (401,
403, 404) is asked once and then left alone for the life of the sender.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from referral_automation.email.message import LookupAnswer

logger = logging.getLogger(__name__)

#: Statuses that say the account (or key) has no Email Activity access: stop asking.
NO_ACCESS = frozenset({401, 403, 404})


def activity_query(request_id: str, step: int) -> str:
    """The Activity API's query for the message of ``(request_id, step)`` (ids are uuids and digits:
    nothing in them needs quoting)."""
    return f"unique_args['referral_request_id']=\"{request_id}\" AND unique_args['sequence_step']=\"{step}\""


class SendGridActivity:
    """Looks messages up in the Email Activity API, by the custom args every message carries."""

    def __init__(self, api_key: SecretStr, *, host: str, timeout: float, max_lookups: int = 10) -> None:
        self._api_key = api_key
        self._host = host.rstrip("/")
        self.timeout = timeout
        self.max_lookups = max_lookups
        self._available = True
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self._available

    def look_up(self, messages: Sequence[tuple[str, str, int]]) -> LookupAnswer | None:
        """What SendGrid says of ``(message id, request id, step)`` messages: those it holds (with its
        ``X-Message-Id`` when it tells) and those it does not. A message in neither was not asked
        about (the lookups ran out, or the API did not answer): its fate is still unknown. None:
        this account cannot be asked at all."""
        if not self._available:
            return None
        answer = LookupAnswer()
        for message_id, request_id, step in list(messages)[: self.max_lookups]:
            if not self._available:
                break
            found = self._lookup(activity_query(request_id, step))
            if found is None:
                break
            if found:
                msg_id = found[0].get("msg_id")
                answer.accepted[message_id] = msg_id.split(".", 1)[0] if isinstance(msg_id, str) and msg_id else None
            else:
                answer.absent.add(message_id)
        return answer

    def _lookup(self, query: str) -> list[dict[str, Any]] | None:
        """The messages matching ``query`` ([] for none), or None when asking must stop for now."""
        client = SendGridAPIClient(self._api_key.get_secret_value(), host=self._host).client
        client.timeout = self.timeout
        try:
            response = client.messages.get(query_params={"query": query, "limit": 1})
        except HTTPError as error:
            if error.status_code in NO_ACCESS:
                with self._lock:
                    self._available = False
                logger.warning("sendgrid: no Email Activity access (%s); reconciling by events only", error.status_code)
            return None  # a 429 or 5xx: the window already passed, the next run asks again
        except OSError as error:  # timeouts, refused connections: leave it to the next run
            logger.warning("sendgrid: Email Activity lookup failed: %s", type(error).__name__)
            return None
        return _messages(response.body)


def _messages(body: Any) -> list[dict[str, Any]]:
    try:
        document = json.loads(body) if isinstance(body, bytes | str) else body
    except ValueError:
        return []
    messages = document.get("messages") if isinstance(document, dict) else None
    return [item for item in messages if isinstance(item, dict)] if isinstance(messages, list) else []
