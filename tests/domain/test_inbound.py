"""Inbound headers: the messages a reply names, machines' answers, and link checkers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_automation.domain.inbound import (
    MAX_IDS,
    auto_reply_reason,
    is_automated_agent,
    referenced_message_ids,
)

A = "0b5a1c2d-3e4f-5a6b-8c7d-9e0f1a2b3c4d"
B = "1c6b2d3e-4f5a-5b6c-9d8e-0f1a2b3c4d5e"


def test_in_reply_to_comes_first_then_the_thread_from_its_newest_end() -> None:
    """It names the message answered first, then References from the newest to the oldest, once each."""
    ids = referenced_message_ids(f"<{B}@acme.example>", f"<{A}@acme.example> <{B}@acme.example>")
    assert ids == [B, A]


def test_ids_that_are_not_ours_are_ignored() -> None:
    """It keeps only uuids: other systems' message ids name none of our messages."""
    header = "<CAF=abc123@mail.gmail.com> <x@y> <" + A.upper() + "@acme.example>"
    assert referenced_message_ids(header, None) == [A]


def test_a_header_with_thousands_of_ids_is_cut() -> None:
    """It looks up at most MAX_IDS ids, however long the References header."""
    header = " ".join(f"<{i:08x}-0000-5000-8000-000000000000@x.example>" for i in range(5000))
    assert len(referenced_message_ids(None, header)) == MAX_IDS


@given(st.text(max_size=300), st.text(max_size=300))
def test_any_header_text_is_safe(in_reply_to: str, references: str) -> None:
    """It never raises on any header text."""
    assert isinstance(referenced_message_ids(in_reply_to, references), list)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"auto-submitted": "auto-replied"}, "Auto-Submitted: auto-replied"),
        ({"auto-submitted": "no"}, None),
        ({"x-autoreply": "yes"}, "x-autoreply: yes"),
        ({"precedence": "bulk"}, "Precedence: bulk"),
        (
            {"content-type": "multipart/report; report-type=delivery-status"},
            "a delivery or read report (multipart/report)",
        ),
        ({"subject": "Out of office"}, None),
        ({}, None),
    ],
)
def test_machines_answers_are_told_apart(headers: dict[str, str], expected: str | None) -> None:
    """It recognises RFC 3834's Auto-Submitted, X-Autoreply, bulk precedence and delivery reports."""
    reason = auto_reply_reason(headers)
    assert reason == expected or (expected is not None and reason is not None and reason.startswith(expected))


@pytest.mark.parametrize(
    ("agent", "automated"),
    [
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1", False),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", True),
        ("Mozilla/5.0 (compatible; Googlebot/2.1)", True),
        ("facebookexternalhit/1.1", True),
        (None, False),
    ],
)
def test_link_checkers_are_recognised(agent: str | None, automated: bool) -> None:
    """It tells preview fetchers and bots from people's browsers by their User-Agent."""
    assert is_automated_agent(agent) is automated
