"""The production composer's signed parts: reply addresses naming the request, and the thread headers
that reach SendGrid's payload as they reach the outbox."""

from __future__ import annotations

from pathlib import Path

from referral_automation.db.session import session_factory
from referral_automation.domain import identity
from referral_automation.domain.tokens import request_from_reply_address
from referral_automation.email.rendering.renderer import EmailRenderer
from referral_automation.email.senders.outbox import message_id_header
from referral_automation.email.senders.sendgrid_payload import PayloadOptions, build_payload
from referral_automation.services.links.signer import LinkSigner
from referral_automation.services.sending.composer import TemplateComposer
from referral_automation.services.sending.first_asks import send_due
from referral_automation.services.sending.follow_ups import send_follow_ups
from referral_automation.settings import Settings
from tests.support.links import SIGNING_KEY
from tests.support.render import copy_templates
from tests.support.send import (
    NOW,
    OPTIONS,
    FakeSender,
    add_customer,
    add_request,
    audit_actions,
    request_row,
    shipped_config,
)


def test_each_email_replies_to_its_own_signed_address_and_follow_ups_thread(
    sqlite_url: str, templates_dir: Path
) -> None:
    """It sets Reply-To to the request's signed reply address, gives every message its Message-ID, and
    a follow-up In-Reply-To and References of the first ask, in SendGrid's payload too."""
    factory = session_factory(sqlite_url)
    settings = Settings(REFERRAL_TEMPLATES_DIR=templates_dir, REFERRAL_REPLY_ADDRESS="reply@in.example.com")
    composer = TemplateComposer.from_settings(settings, shipped_config(), signing_key=SIGNING_KEY)
    sender = FakeSender()
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")
    config = shipped_config()
    send_due(factory, config=config, sender=sender, composer=composer, now=NOW, options=OPTIONS)
    due = request_row(factory, request_id).next_followup_at
    assert due is not None
    send_follow_ups(factory, config=config, sender=sender, composer=composer, now=due, options=OPTIONS)
    first, follow_up = sender.handed
    assert first.reply_to_email is not None
    assert request_from_reply_address(SIGNING_KEY, first.reply_to_email) == request_id
    assert first.headers["Message-ID"] == message_id_header(first)
    assert "In-Reply-To" not in first.headers
    assert follow_up.message_id == identity.message_id(request_id, 1)
    assert follow_up.headers["In-Reply-To"] == follow_up.headers["References"] == first.headers["Message-ID"]
    payload = build_payload(follow_up, PayloadOptions())
    assert payload["headers"]["In-Reply-To"] == first.headers["Message-ID"]
    assert payload["headers"]["Message-ID"] == follow_up.headers["Message-ID"]
    assert payload["reply_to"]["email"] == follow_up.reply_to_email


def test_a_runaway_template_fails_its_request_alone(sqlite_url: str, tmp_path: Path) -> None:
    """It fails a request whose template runs past the time limit, with the reason and an audit
    entry, and sends the rest of the batch."""
    templates = copy_templates(tmp_path)
    subject = templates / "customer_referral" / "direct_ask.subject"
    loops = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    subject.write_text(subject.read_text(encoding="utf-8") + f"\n{loops}\n", encoding="utf-8")
    line = len(subject.read_text(encoding="utf-8").splitlines())
    composer = TemplateComposer(
        shipped_config(),
        EmailRenderer(templates, time_limit=0.05),
        public_base_url="https://refer.example.com",
        signer=LinkSigner(SIGNING_KEY, None),
    )
    factory = session_factory(sqlite_url)
    for name in ("ann", "bob"):
        add_customer(factory, name, timezone="UTC")
    broken_id, fine_id = add_request(factory, "ann", variant="direct_ask"), add_request(factory, "bob")
    sender = FakeSender()

    report = send_due(factory, config=shipped_config(), sender=sender, composer=composer, now=NOW, options=OPTIONS)

    assert (report.unrenderable, report.sent, [e.referral_request_id for e in sender.handed]) == (1, 1, [fine_id])
    broken = request_row(factory, broken_id)
    assert broken.status == "failed"
    assert (
        broken.last_error
        == f"cannot render the email: {subject}:{line}: rendering took longer than 0.05 s (time limit)"
    )
    assert [entry.subject_id for entry in audit_actions(factory, "render_failed")] == [broken_id]
    assert request_row(factory, fine_id).status == "sent"
