"""The whole send path with the shipped templates and the outbox: what lands in REFERRAL_OUTBOX_DIR."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from referral_automation.db.session import session_factory
from referral_automation.domain import identity
from referral_automation.domain.tokens import read_unsubscribe_token, unsubscribe_token
from referral_automation.email.senders.outbox import OutboxSender
from referral_automation.services.sending.composer import TemplateComposer
from referral_automation.services.sending.first_asks import send_due
from referral_automation.services.sending.follow_ups import send_follow_ups
from referral_automation.settings import Settings
from tests.support.links import SIGNING_KEY
from tests.support.send import (
    NOW,
    OPTIONS,
    add_customer,
    add_request,
    request_row,
    shipped_config,
)


def read_eml(path: Path) -> EmailMessage:
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_first_ask_and_follow_up_land_as_eml_files(sqlite_url: str, templates_dir: Path, tmp_path: Path) -> None:
    """It writes one RFC 5322 file per message with the referral link, the signed unsubscribe link,
    the referral headers, and a follow-up threaded under the first ask."""
    factory = session_factory(sqlite_url)
    config = shipped_config()
    settings = Settings(REFERRAL_TEMPLATES_DIR=templates_dir, REFERRAL_PUBLIC_BASE_URL="https://refer.example.com")
    composer = TemplateComposer.from_settings(settings, config, signing_key=SIGNING_KEY)
    outbox = OutboxSender(tmp_path / "outbox", clock=lambda: NOW)
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")
    send_due(factory, config=config, sender=outbox, composer=composer, now=NOW, options=OPTIONS)
    request = request_row(factory, request_id)
    first = read_eml(tmp_path / "outbox" / f"{identity.message_id(request_id, 0)}.eml")
    assert first["X-Referral-Request-Id"] == request_id
    assert first["X-Referral-Sequence-Step"] == "0"
    token = unsubscribe_token(SIGNING_KEY, request_id)
    assert first["List-Unsubscribe"] == f"<https://refer.example.com/u/{token}>"
    assert read_unsubscribe_token(SIGNING_KEY, token) == request_id
    assert first["To"].addresses[0].addr_spec == "ann@example.com"
    text = first.get_body(("plain",))
    html = first.get_body(("html",))
    assert text is not None
    assert html is not None
    assert f"https://refer.example.com/r/{request.code}" in text.get_content()
    assert f"https://refer.example.com/r/{request.code}" in html.get_content()

    assert request.next_followup_at is not None
    send_follow_ups(
        factory, config=config, sender=outbox, composer=composer, now=request.next_followup_at, options=OPTIONS
    )
    second = read_eml(tmp_path / "outbox" / f"{identity.message_id(request_id, 1)}.eml")
    assert second["X-Referral-Sequence-Step"] == "1"
    assert second["In-Reply-To"] == second["References"] == first["Message-ID"]
    assert second["Message-ID"] != first["Message-ID"]
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2
