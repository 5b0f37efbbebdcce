"""The Mail Send body built from one OutgoingEmail."""

from __future__ import annotations

import pytest

from referral_automation.email.senders.sendgrid_payload import PayloadOptions, build_payload, categories_of
from referral_automation.errors import PermanentDeliveryError
from tests.support.sendgrid import sample_email


def test_personalization_carries_recipient_and_ids_as_custom_args() -> None:
    """It sends to the customer and carries request id, step, campaign and arm as string custom_args."""
    email = sample_email("req-9", 2)
    body = build_payload(email, PayloadOptions())
    (personalization,) = body["personalizations"]
    assert personalization["to"] == [{"email": "req-9@example.com", "name": "Ada Lovelace"}]
    assert personalization["custom_args"] == {
        "referral_request_id": "req-9",
        "sequence_step": "2",
        "message_id": email.message_id,
        "campaign": "customer_referral",
        "arm": "gratitude/give50_get50",
    }


def test_sender_reply_to_subject_and_content_order() -> None:
    """It puts from, reply-to and subject in place and the plain text before the HTML."""
    body = build_payload(sample_email(), PayloadOptions())
    assert body["from"] == {"email": "referrals@example.com", "name": "Acme Success Team"}
    assert body["reply_to"] == {"email": "replies@example.com", "name": "Acme Replies"}
    assert body["subject"] == "Would you introduce a colleague?"
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
    assert body["content"][0]["value"].startswith("Hello Ada, your link")


def test_no_reply_to_and_no_empty_names() -> None:
    """It leaves out reply-to when there is none and names that are empty."""
    body = build_payload(
        sample_email(reply_to_email=None, reply_to_name=None, to_name="", from_name=""), PayloadOptions()
    )
    assert "reply_to" not in body
    assert body["from"] == {"email": "referrals@example.com"}
    assert body["personalizations"][0]["to"] == [{"email": "req-1@example.com"}]


def test_unsubscribe_and_referral_headers_pass_reserved_ones_do_not() -> None:
    """It passes List-Unsubscribe(-Post) and X-Referral-* headers and drops headers SendGrid reserves."""
    email = sample_email()
    email = sample_email(headers={**email.headers, "Reply-To": "x@example.com", "Content-Type": "text/plain"})
    headers = build_payload(email, PayloadOptions())["headers"]
    assert headers == {
        "List-Unsubscribe": "<http://localhost:8000/u/tok123>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "X-Referral-Request-Id": "req-1",
        "X-Referral-Sequence-Step": "0",
    }


def test_categories_campaign_then_variant_without_repeats() -> None:
    """It tags campaign then variant, then the message's own categories, each once and at most ten."""
    email = sample_email(categories=("gratitude", "q3", *[f"c{i}" for i in range(20)]))
    body = build_payload(email, PayloadOptions())
    assert body["categories"][:3] == ["customer_referral", "gratitude", "q3"]
    assert len(body["categories"]) == 10
    assert categories_of(sample_email()) == ["customer_referral", "gratitude"]


def test_account_settings_from_config() -> None:
    """It sets sandbox mode, open and click tracking and the ASM group as configured."""
    body = build_payload(
        sample_email(), PayloadOptions(sandbox_mode=True, click_tracking=True, open_tracking=False, asm_group_id=42)
    )
    assert body["mail_settings"] == {"sandbox_mode": {"enable": True}}
    assert body["tracking_settings"] == {
        "click_tracking": {"enable": True, "enable_text": True},
        "open_tracking": {"enable": False},
    }
    assert body["asm"] == {"group_id": 42}


def test_no_asm_group_by_default() -> None:
    """It attaches no unsubscribe group unless one is configured, and sandbox mode is off."""
    body = build_payload(sample_email(), PayloadOptions())
    assert "asm" not in body
    assert body["mail_settings"] == {"sandbox_mode": {"enable": False}}


def test_content_that_looks_like_an_api_key_is_permanent() -> None:
    """It refuses for good a message whose content looks like a SendGrid API key."""
    with pytest.raises(PermanentDeliveryError, match="looks like an API key") as caught:
        build_payload(sample_email(text="SG.abcdefghij.klmnopqrstuv"), PayloadOptions())
    assert "SG.abcdefghij" not in str(caught.value)
