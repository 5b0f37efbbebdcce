"""``SendGridSender``: the v3 Mail Send API behind the ``EmailSender`` port.

Mail Send has no idempotency key, so the one thing this adapter must never do is send a message
twice. Every failure is therefore sorted by *whether SendGrid can have accepted the message*:

- the request never got out (connection refused, DNS, TLS, a reset while writing), a 429 or a
  5xx: ``RetryableDeliveryError``, retried here with tenacity (bounded; a 429 waits for
  ``X-RateLimit-Reset``/``Retry-After``, and the shared rate limiter holds every thread);
- a 4xx: ``PermanentDeliveryError`` with SendGrid's ``errors[].message``, never retried;
- the request was written and then the answer was lost (read timeout, connection reset or closed
  before the status line): ``AmbiguousDeliveryError``, never retried here. The send service
  leaves the message ``sending`` until a provider event settles it or the reconcile window passes;
- the request could not even be built (a host urllib cannot parse, a key that cannot go into a
  header: ``ValueError``, ``TypeError``, ``InvalidURL`` before ``HTTPConnection.endheaders``, where
  the first byte is written): ``SenderSetupError``, never retried and never ambiguous. The
  constructor builds that request once without sending it, so such a setting stops a run before
  anything is claimed; the check in ``_attempt`` is the belt to those braces.

In ``send_many`` no attempt starts after the batch's time limit, so a long outage cannot keep a
batch going past its lease (another worker would then find it and, after the reconcile window,
send it again); what was not tried is retryable.

urllib (under python_http_client) makes the split observable: errors while connecting or writing
the request come wrapped in ``URLError``; errors while waiting for the answer come bare.

The API key is a ``SecretStr`` until the moment a client is built, and is scrubbed from every
error message and from python_http_client's debug log (which prints request headers).
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import SecretStr
from python_http_client.client import Response
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from referral_automation.config import DeliveryConfig, SendGridDelivery
from referral_automation.email.message import LookupAnswer, OutgoingEmail, SendOutcome, SendResult
from referral_automation.email.senders.ratelimit import TokenBucket
from referral_automation.email.senders.sendgrid_activity import SendGridActivity
from referral_automation.email.senders.sendgrid_payload import PayloadOptions, build_payload
from referral_automation.errors import (
    AmbiguousDeliveryError,
    ConfigError,
    DeliveryError,
    PermanentDeliveryError,
    Problem,
    RetryableDeliveryError,
    SenderSetupError,
    SettingsError,
)
from referral_automation.settings import Settings, api_host_problem, api_key_problem

logger = logging.getLogger(__name__)

DEFAULT_HOST = "https://api.sendgrid.com"
SECRET_BLOCK = "sendgrid-api-key"
#: A 429 asking for a longer pause than this ends the attempts; the service tries again on a later run.
MAX_RATE_LIMIT_WAIT = 120.0
#: First exponential backoff step and its ceiling (seconds), before jitter.
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 20.0
#: Where the request leaves the building stage: a send writes its first byte in ``endheaders``; the
#: others read or process the answer. An error raised under none of them was raised while building.
_NETWORK_CODE = frozenset(
    {
        http.client.HTTPConnection.endheaders.__code__,
        http.client.HTTPConnection.getresponse.__code__,
        urllib.request.HTTPErrorProcessor.http_response.__code__,
        Response.__init__.__code__,
    }
)
#: Statuses that say nothing about the message itself: it may be sent later unchanged.
NOT_THE_MESSAGES_FAULT = frozenset({401, 403, 408})
_SECRET_PATTERNS = (re.compile(r"Bearer\s+\S+"), re.compile(r"SG\.[\w-]+\.[\w-]+"))


def scrub(text: str, *secrets: str) -> str:
    """``text`` without any API key: the given secrets, bearer tokens and SendGrid-shaped keys."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[redacted]", text)
    return text


class _ScrubSecrets(logging.Filter):
    """python_http_client logs request headers (``Authorization: Bearer …``) at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


logging.getLogger("python_http_client.client").addFilter(_ScrubSecrets())


class OutOfTimeError(RetryableDeliveryError):
    """The batch's time limit passed before this message was tried again: it was not sent."""


class CredentialsRefusedError(RetryableDeliveryError):
    """SendGrid refused the API key (401/403): nothing about the message is wrong, and nothing was sent."""


def resolve_api_key(settings: Settings) -> SecretStr:
    """``SENDGRID_API_KEY``, else the Prefect Secret block ``sendgrid-api-key`` (loaded only when needed).

    Either key is refused (``SettingsError``, naming where it came from and what is wrong with it,
    never the key) when it could not go into a request header as it is: see ``api_key_problem``.
    """
    if settings.sendgrid_api_key is not None and settings.sendgrid_api_key.get_secret_value():
        return _usable_key(settings.sendgrid_api_key.get_secret_value(), "SENDGRID_API_KEY")
    try:
        from prefect.blocks.system import Secret

        value = Secret.load(SECRET_BLOCK).get()  # type: ignore[union-attr]
    except Exception as error:  # any failure means "no key"; the reason helps the operator
        reason = scrub(f"{type(error).__name__}: {error}")
        raise ConfigError([Problem("SENDGRID_API_KEY", None, _missing_key(reason))]) from None
    if not isinstance(value, str) or not value:
        raise ConfigError([Problem("SENDGRID_API_KEY", None, _missing_key("the block holds no text"))])
    return _usable_key(value, f"the Prefect Secret block {SECRET_BLOCK!r} (the SendGrid API key)")


def _usable_key(value: str, source: str) -> SecretStr:
    problem = api_key_problem(value)
    if problem is not None:
        raise SettingsError([f"{source} {problem}"])
    return SecretStr(value)


def _missing_key(reason: str) -> str:
    return (
        "the sendgrid backend needs an API key: set SENDGRID_API_KEY or create the Prefect Secret block "
        f"{SECRET_BLOCK!r} ({reason})"
    )


class SendGridSender:
    """Sends through SendGrid's v3 Mail Send API; safe to share between threads."""

    name = "sendgrid"
    idempotent = False

    def __init__(
        self,
        api_key: SecretStr,
        *,
        host: str = DEFAULT_HOST,
        config: SendGridDelivery | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        activity: SendGridActivity | None = None,
    ) -> None:
        self._api_key = api_key
        #: The Email Activity lookup of unanswered sends, when ``delivery.yaml`` turns it on.
        self.activity = activity
        self._host = host.rstrip("/")
        self.config = config or SendGridDelivery()
        self._options = PayloadOptions.from_config(self.config)
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self.limiter = TokenBucket(self.config.rate_limit_per_second, clock=clock, sleep=sleep)
        self._local = threading.local()
        self.check_request()

    @classmethod
    def from_settings(cls, settings: Settings, delivery: DeliveryConfig | None = None) -> SendGridSender:
        """The production sender: key from the environment or Prefect, host from ``SENDGRID_API_HOST``."""
        config = (delivery or DeliveryConfig()).sendgrid
        api_key, host = resolve_api_key(settings), settings.sendgrid_api_host
        problem = api_host_problem(host)  # checked by the settings with the sendgrid backend; not otherwise
        if problem is not None:
            raise SettingsError([f"SENDGRID_API_HOST is {host!r}: {problem}"])
        activity = (
            SendGridActivity(api_key, host=host, timeout=config.timeout_seconds) if config.email_activity_api else None
        )
        return cls(api_key, host=host, config=config, activity=activity)

    def __repr__(self) -> str:
        return f"SendGridSender(host={self._host!r}, api_key=SecretStr('**********'))"

    # ------------------------------------------------------------------ the port
    def look_up(self, messages: Sequence[tuple[str, str, int]]) -> LookupAnswer | None:
        """Whether SendGrid holds unanswered sends (``Reconciling``); None without the Email Activity lookup."""
        return self.activity.look_up(messages) if self.activity is not None else None

    def send(self, email: OutgoingEmail) -> SendResult:
        """Hand one message to SendGrid, retrying only what cannot have been accepted."""
        return self._send(email, deadline=None)

    def send_many(self, emails: Sequence[OutgoingEmail]) -> list[SendOutcome]:
        """Send through a bounded pool under the shared rate limit; one outcome per message, in order.

        No attempt starts after ``batch_time_limit_seconds``: during an outage the batch ends in time
        for its lease, and what was not tried stays retryable (it was never sent).
        """
        if not emails:
            return []
        deadline = self._clock() + self.config.batch_time_limit_seconds
        # Once the key is refused or no request can be built, the rest are not even tried.
        refused: list[CredentialsRefusedError | SenderSetupError] = []

        def one(email: OutgoingEmail) -> SendOutcome:
            if refused:
                return refused[0]
            try:
                return self._send(email, deadline=deadline)
            except (CredentialsRefusedError, SenderSetupError) as error:
                refused.append(error)
                return error
            except DeliveryError as error:
                return error

        workers = min(self.config.concurrency, len(emails))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sendgrid") as pool:
            outcomes = list(pool.map(one, emails))
        accepted = sum(isinstance(outcome, SendResult) for outcome in outcomes)
        logger.info("sendgrid: %d of %d messages accepted", accepted, len(outcomes))
        return outcomes

    def _send(self, email: OutgoingEmail, *, deadline: float | None) -> SendResult:
        body = build_payload(email, self._options)
        retrying = Retrying(
            stop=stop_after_attempt(self.config.max_attempts) | _StopOnLongRateLimit(),
            wait=self._wait,
            retry=retry_if_exception(_worth_retrying),
            sleep=self._sleep,
            reraise=True,
        )
        return retrying(self._attempt, email.message_id, body, deadline)

    # ------------------------------------------------------------------ one HTTP request
    def _client(self) -> SendGridAPIClient:
        """One client per thread: python_http_client shares mutable header dicts between calls."""
        client: SendGridAPIClient | None = getattr(self._local, "client", None)
        if client is None:
            client = SendGridAPIClient(self._api_key.get_secret_value(), host=self._host)
            client.client.timeout = self.config.timeout_seconds  # send() sets none of its own
            self._local.client = client
        return client

    def check_request(self) -> None:
        """Build the request every send makes (URL, method, headers) the way urllib and http.client
        do, without opening a connection: a ``SenderSetupError`` saying which setting is unusable.

        The settings refuse the usual mistakes with a better message; this catches whatever else
        would make every send fail before it leaves (a sender built directly, a key from elsewhere).
        """
        url = f"{self._host}/v3/mail/send"
        try:
            request = urllib.request.Request(url, data=b"{}", method="POST")
            connection = http.client.HTTPConnection(request.host)  # no socket until endheaders
            connection.putrequest("POST", request.selector)
        except (ValueError, TypeError, http.client.InvalidURL) as error:
            raise SenderSetupError(
                self._clean(f"SENDGRID_API_HOST is {self._host!r}: no request can be built to it ({error})")
            ) from None
        try:
            headers = SendGridAPIClient(self._api_key.get_secret_value(), host=self._host).client.request_headers
            for name, value in headers.items():
                connection.putheader(name, value)
        except (ValueError, TypeError):
            # The error would quote the header, key and all.
            raise SenderSetupError(
                "the SendGrid API key cannot go into a request header (a line break or control "
                "character in it): copy SENDGRID_API_KEY (or the Prefect Secret block) again"
            ) from None
        finally:
            connection.close()

    def _attempt(self, message_id: str, body: dict[str, Any], deadline: float | None) -> SendResult:
        where = f"message {message_id}"
        self._check_deadline(where, deadline)
        self.limiter.acquire()
        self._check_deadline(where, deadline)
        try:
            response = self._client().send(body)
        except (ValueError, TypeError, http.client.InvalidURL) as error:
            if _reached_network(error):  # raised while reading or processing the answer
                raise AmbiguousDeliveryError(self._clean(f"{where}: {type(error).__name__}: {error}")) from None
            raise self._not_built(where, error) from None
        except HTTPError as error:
            raise self._from_status(message_id, error) from None
        except urllib.error.URLError as error:
            # Raised while connecting or writing the request: SendGrid has not received a message.
            raise RetryableDeliveryError(self._clean(f"{where}: cannot reach SendGrid: {error.reason}")) from None
        except (OSError, http.client.HTTPException) as error:
            # The request was written and its answer lost: SendGrid may have accepted it.
            raise AmbiguousDeliveryError(self._clean(f"{where}: no answer from SendGrid ({error!r})")) from None
        except Exception as error:  # anything else once the request may have left: treat as ambiguous
            raise AmbiguousDeliveryError(self._clean(f"{where}: {type(error).__name__}: {error}")) from None
        provider_id = response.headers.get("X-Message-Id") if response.headers is not None else None
        logger.debug("sendgrid: message %s accepted (%s, %s)", message_id, response.status_code, provider_id)
        return SendResult(provider=self.name, provider_message_id=provider_id)

    def _not_built(self, where: str, error: Exception) -> SenderSetupError:
        """Why the request could not be built: what ``check_request`` says now, else the error's kind
        (its text may quote a header, and so the key)."""
        try:
            self.check_request()
        except SenderSetupError as setup:
            return SenderSetupError(f"{where}: not sent: {setup}")
        return SenderSetupError(f"{where}: not sent: the request could not be built ({type(error).__name__})")

    def _check_deadline(self, where: str, deadline: float | None) -> None:
        if deadline is not None and self._clock() >= deadline:
            limit = self.config.batch_time_limit_seconds
            raise OutOfTimeError(f"{where}: not sent, the batch reached its time limit ({limit:g} s)")

    def _from_status(self, message_id: str, error: HTTPError) -> DeliveryError:
        status = int(error.status_code)
        detail = self._clean(_error_detail(error))
        text = f"message {message_id}: SendGrid {status}: {detail}"
        if status == 429:
            retry_after = self._retry_after(error.headers)
            if retry_after is not None:
                self.limiter.hold_for(min(retry_after, MAX_RATE_LIMIT_WAIT))
            return RetryableDeliveryError(text, retry_after=retry_after)
        if status >= 500:
            return RetryableDeliveryError(text)
        if status in (401, 403):
            return CredentialsRefusedError(f"{text} (check SENDGRID_API_KEY and its Mail Send permission)")
        if status in NOT_THE_MESSAGES_FAULT:
            return RetryableDeliveryError(text)
        return PermanentDeliveryError(text)

    def _retry_after(self, headers: Any) -> float | None:
        """Seconds until the rate-limit window resets: ``X-RateLimit-Reset`` (epoch) or ``Retry-After``."""
        if headers is None:
            return None
        for name, absolute in (("X-RateLimit-Reset", True), ("Retry-After", False)):
            raw = headers.get(name)
            try:
                value = float(raw) if raw is not None else None
            except ValueError:
                value = None
            if value is not None:
                return max(0.0, value - self._wall_clock()) if absolute else max(0.0, value)
        return None

    def _wait(self, state: RetryCallState) -> float:
        """A 429 with a reset time waits in the rate limiter (every thread does); others back off with jitter."""
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, RetryableDeliveryError) and error.retry_after is not None:
            return 0.0
        ceiling = min(BACKOFF_MAX, BACKOFF_INITIAL * 2.0 ** (state.attempt_number - 1))
        with self._rng_lock:
            return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def _clean(self, text: str) -> str:
        return scrub(text, self._api_key.get_secret_value())


def _reached_network(error: BaseException) -> bool:
    """Whether ``error`` was raised once the request was being written or answered (see ``_NETWORK_CODE``)."""
    trace = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code in _NETWORK_CODE:
            return True
        trace = trace.tb_next
    return False


def _worth_retrying(error: BaseException) -> bool:
    return isinstance(error, RetryableDeliveryError) and not isinstance(error, CredentialsRefusedError | OutOfTimeError)


class _StopOnLongRateLimit(stop_base):
    """Stop when SendGrid asks for a pause longer than we are willing to hold a pool thread."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        error = retry_state.outcome.exception() if retry_state.outcome is not None else None
        retry_after = getattr(error, "retry_after", None)
        return retry_after is not None and retry_after > MAX_RATE_LIMIT_WAIT


def _error_detail(error: HTTPError) -> str:
    """SendGrid's ``errors[].message`` (with the field it names), else the raw body, shortened."""
    body = error.body.decode("utf-8", "replace") if isinstance(error.body, bytes) else str(error.body or "")
    try:
        document = json.loads(body)
        messages = [
            f"{item.get('message')}" + (f" ({item['field']})" if item.get("field") else "")
            for item in document.get("errors", [])
            if isinstance(item, dict) and item.get("message")
        ]
    except (ValueError, AttributeError):
        messages = []
    return ("; ".join(messages) or body.strip() or str(error.reason or "no detail"))[:1000]
