"""The production ``Composer``: a claimed job through the campaign's templates to an ``OutgoingEmail``.

The renderer compiles every template once when the composer is built, so a run renders each
message with three template calls and nothing more (the send benchmark depends on it).
"""

from __future__ import annotations

from pathlib import Path

from referral_automation.config import AppConfig
from referral_automation.domain.delivery import Job
from referral_automation.email.compose import RequestView, compose_email
from referral_automation.email.message import OutgoingEmail
from referral_automation.email.rendering.renderer import EmailRenderer
from referral_automation.settings import Settings


class TemplateComposer:
    """Renders jobs with ``compose_email``; one instance per run (it holds the compiled templates)."""

    def __init__(self, config: AppConfig, renderer: EmailRenderer, *, public_base_url: str) -> None:
        self.config = config
        self.renderer = renderer
        self.public_base_url = public_base_url

    @classmethod
    def from_settings(cls, settings: Settings, config: AppConfig) -> TemplateComposer:
        return cls(config, EmailRenderer(Path(settings.templates_dir)), public_base_url=settings.public_base_url)

    def __call__(self, job: Job) -> OutgoingEmail:
        request = RequestView(
            id=job.request_id,
            code=job.code,
            unsubscribe_token=job.unsubscribe_token,
            campaign=job.campaign,
            variant=job.variant,
            incentive=job.incentive,
            rule_id=job.rule_id,
            moment_occurred_at=job.moment_occurred_at,
            moment_properties=job.moment_properties,
            first_sent_at=job.first_sent_at,
        )
        return compose_email(
            renderer=self.renderer,
            campaign_id=job.campaign,
            campaign=self.config.campaign(job.campaign),
            request=request,
            customer=job.customer,
            sequence_step=job.step,
            message_id=job.message_id,
            public_base_url=self.public_base_url,
        )
