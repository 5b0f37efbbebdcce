"""Helpers the SendGrid tests share: sample messages, a fake clock, a sender wired to a fake server."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace

from pydantic import SecretStr

from referral_automation.config import SendGridDelivery
from referral_automation.domain.identity import message_id
from referral_automation.email.message import OutgoingEmail
from referral_automation.email.senders.sendgrid import SendGridSender

API_KEY = "SG.testkey0123456789abcdef.secretpart0123456789ABCDEFGHIJ"


def sample_email(request_id: str = "req-1", step: int = 0, **changes: object) -> OutgoingEmail:
    email = OutgoingEmail(
        message_id=message_id(request_id, step),
        referral_request_id=request_id,
        sequence_step=step,
        campaign="customer_referral",
        variant="gratitude",
        incentive="give50_get50",
        to_email=f"{request_id}@example.com",
        to_name="Ada Lovelace",
        from_email="referrals@example.com",
        from_name="Acme Success Team",
        reply_to_email="replies@example.com",
        reply_to_name="Acme Replies",
        subject="Would you introduce a colleague?",
        html="<p>Hello Ada, <a href='http://localhost:8000/r/abcdefgh1234'>your link</a></p>",
        text="Hello Ada, your link: http://localhost:8000/r/abcdefgh1234",
        headers={
            "List-Unsubscribe": "<http://localhost:8000/u/tok123>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Referral-Request-Id": request_id,
            "X-Referral-Sequence-Step": str(step),
        },
    )
    return replace(email, **changes)  # type: ignore[arg-type]


class FakeClock:
    """Monotonic and wall clocks that only move when someone sleeps; records every sleep."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.offset = 0.0
        self.wall_start = time.time()
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return 1000.0 + self.offset

    def time(self) -> float:
        with self._lock:
            return self.wall_start + self.offset

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.offset += seconds


def fast_sender(host: str, clock: FakeClock | None = None, **config: object) -> SendGridSender:
    """A sender for tests: short timeout, and (with a fake clock) no real waiting between attempts."""
    settings = {"timeout_seconds": 2.0, "max_attempts": 4, "rate_limit_per_second": 1000.0, **config}
    delivery = SendGridDelivery.model_validate(settings)
    if clock is None:
        return SendGridSender(SecretStr(API_KEY), host=host, config=delivery)
    return SendGridSender(
        SecretStr(API_KEY),
        host=host,
        config=delivery,
        clock=clock.monotonic,
        wall_clock=clock.time,
        sleep=clock.sleep,
    )


def closed_port_url() -> str:
    """A loopback URL nobody listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
