"""Which sender a run uses, chosen by ``REFERRAL_EMAIL_BACKEND`` (CONTRACT.md settings)."""

from __future__ import annotations

from referral_automation.config import DeliveryConfig, load_delivery_config
from referral_automation.email.message import EmailSender
from referral_automation.errors import ConfigError, Problem
from referral_automation.settings import Settings


def make_sender(settings: Settings, delivery: DeliveryConfig | None = None) -> EmailSender:
    """The sender for ``settings.email_backend``; each backend checks its own settings here.

    ``delivery`` is the loaded ``delivery.yaml`` (``AppConfig.delivery``); without it the file is read.
    """
    if settings.email_backend == "outbox":
        from referral_automation.email.senders.outbox import OutboxSender

        return OutboxSender(settings.outbox_dir)
    if settings.email_backend == "sendgrid":
        from referral_automation.email.senders.sendgrid import SendGridSender

        return SendGridSender.from_settings(settings, delivery or load_delivery_config(settings.config_dir))
    raise ConfigError(
        [
            Problem(
                "REFERRAL_EMAIL_BACKEND", None, f"the {settings.email_backend!r} backend is not available in this build"
            )
        ]
    )
