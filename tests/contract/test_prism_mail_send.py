"""Real payloads through the real client against SendGrid's own description of Mail Send (Prism)."""

from __future__ import annotations

import pytest

from referral_automation.email.senders.sendgrid import SendGridSender
from referral_automation.errors import PermanentDeliveryError
from tests.support.sendgrid import fast_sender, sample_email

pytestmark = pytest.mark.xdist_group("prism")  # one Prism per session, on one worker


@pytest.mark.parametrize(
    ("config", "changes"),
    [
        pytest.param({}, {}, id="first-ask"),
        pytest.param({}, {"sequence_step": 2}, id="follow-up"),
        pytest.param({"sandbox_mode": True}, {}, id="sandbox"),
        pytest.param({"asm_group_id": 12345}, {}, id="asm-group"),
        pytest.param({"tracking": {"click": True, "open": False}}, {}, id="tracking"),
        pytest.param({}, {"reply_to_email": None, "reply_to_name": None, "to_name": ""}, id="no-reply-to"),
        pytest.param({}, {"subject": "Un café ☕ — merci !", "to_name": "Zoë Ångström"}, id="unicode"),
        pytest.param({}, {"categories": tuple(f"tag{i}" for i in range(20))}, id="many-categories"),
    ],
)
def test_sendgrid_accepts_what_we_send(prism_url: str, config: dict[str, object], changes: dict[str, object]) -> None:
    """It sends payloads that SendGrid's Mail Send description accepts (202), with every option we use."""
    sender: SendGridSender = fast_sender(prism_url, **config)
    email = sample_email("req-contract", **changes)
    (outcome,) = sender.send_many([email])
    assert not isinstance(outcome, Exception), str(outcome)
    assert outcome.provider == "sendgrid"


def test_the_mock_does_refuse_a_bad_payload(prism_url: str) -> None:
    """It gets a permanent error for a sender address the description refuses, so the checks above mean something."""
    with pytest.raises(PermanentDeliveryError, match="SendGrid 400"):
        fast_sender(prism_url).send(sample_email(from_email="not an address"))
