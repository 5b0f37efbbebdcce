"""The production ``Composer``: a claimed job through the campaign's templates to an ``OutgoingEmail``.

The renderer compiles every template once when the composer is built, so a run renders each
message with three template calls and nothing more (the send benchmark depends on it).

Signed parts come from the ``LinkSigner``: the unsubscribe link's token (HMAC of the request id,
checked by the web app, never stored), and with ``REFERRAL_REPLY_ADDRESS`` a Reply-To that names
the request, so a reply finds its request even from another address. Every message carries its
``Message-ID`` in its headers (the outbox writes the same one; SendGrid's payload carries it), and
a follow-up carries ``In-Reply-To`` and ``References`` of the first ask, so it threads under it in
the customer's mail client and a reply to it names the request too.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from referral_automation.config import AppConfig
from referral_automation.domain import identity
from referral_automation.domain.delivery import Job
from referral_automation.email.compose import RequestView, compose_email
from referral_automation.email.message import OutgoingEmail
from referral_automation.email.rendering.renderer import EmailRenderer
from referral_automation.email.senders.outbox import message_id_header
from referral_automation.services.links.signer import LinkSigner
from referral_automation.settings import Settings


class TemplateComposer:
    """Renders jobs with ``compose_email``; one instance per run (it holds the compiled templates)."""

    def __init__(self, config: AppConfig, renderer: EmailRenderer, *, public_base_url: str, signer: LinkSigner) -> None:
        self.config = config
        self.renderer = renderer
        self.public_base_url = public_base_url
        self.signer = signer

    @classmethod
    def from_settings(cls, settings: Settings, config: AppConfig, *, signing_key: bytes) -> TemplateComposer:
        signer = LinkSigner(signing_key, settings.reply_address)
        renderer = EmailRenderer(Path(settings.templates_dir))
        return cls(config, renderer, public_base_url=settings.public_base_url, signer=signer)

    def __call__(self, job: Job) -> OutgoingEmail:
        request = RequestView(
            id=job.request_id,
            code=job.code,
            unsubscribe_token=self.signer.unsubscribe_token(job.request_id),
            campaign=job.campaign,
            variant=job.variant,
            incentive=job.incentive,
            rule_id=job.rule_id,
            moment_occurred_at=job.moment_occurred_at,
            moment_properties=job.moment_properties,
            first_sent_at=job.first_sent_at,
        )
        email = compose_email(
            renderer=self.renderer,
            campaign_id=job.campaign,
            campaign=self.config.campaign(job.campaign),
            request=request,
            customer=job.customer,
            sequence_step=job.step,
            message_id=job.message_id,
            public_base_url=self.public_base_url,
        )
        return self._threaded(email)

    def _threaded(self, email: OutgoingEmail) -> OutgoingEmail:
        """The message with its Message-ID, its thread (follow-ups) and its signed Reply-To."""
        headers = {**email.headers, "Message-ID": message_id_header(email)}
        if email.sequence_step > 0:
            first = replace(email, message_id=identity.message_id(email.referral_request_id, 0))
            headers["In-Reply-To"] = headers["References"] = message_id_header(first)
        reply_to = self.signer.reply_to(email.referral_request_id)
        if reply_to is None:
            return replace(email, headers=headers)
        return replace(
            email, headers=headers, reply_to_email=reply_to, reply_to_name=email.reply_to_name or email.from_name
        )
