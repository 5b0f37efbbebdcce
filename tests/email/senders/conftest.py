"""Fixtures of the sender tests: a fake SendGrid on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from referral_automation.email.senders.sendgrid_fake import FakeSendGrid


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server
