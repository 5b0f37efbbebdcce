"""Everything a run needs, built once: settings, config, sessions, sender, composer, delivery options.

Flows, the demo's in-process runner, the benchmarks and (later) the web app all build their run
from ``build_pipeline``, so they send through the same sender with the same ``delivery.yaml``
options (batch size, reconcile window, attempts) and render with the same composer.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig, load_config
from referral_automation.db.session import session_factory
from referral_automation.domain.delivery import DeliveryOptions
from referral_automation.email.message import EmailSender
from referral_automation.email.senders import make_sender
from referral_automation.email.senders.outbox import OutboxSender
from referral_automation.services.links.keys import signing_key
from referral_automation.services.sending.composer import TemplateComposer
from referral_automation.settings import Settings, load_settings

#: Messages per batch when a run does not choose (one claim, one send, one record transaction).
DEFAULT_BATCH_SIZE = 500


def worker_id() -> str:
    """Who holds the leases of a run: host and process, unique among concurrent runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Pipeline:
    """One run's settings and configuration, and what is built from them on first use."""

    settings: Settings
    config: AppConfig

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.settings.database_url)

    @cached_property
    def signing_key(self) -> bytes:
        """``REFERRAL_SECRET_KEY``, or the key this installation keeps in its database (the web app's too)."""
        return signing_key(self.sessions, self.settings.secret_key)

    @cached_property
    def composer(self) -> TemplateComposer:
        """Compiles every template once (a run renders thousands of emails with it)."""
        return TemplateComposer.from_settings(self.settings, self.config, signing_key=self.signing_key)

    def sender(self, now: datetime) -> EmailSender:
        """The configured sender; the outbox dates its files with the run's ``now`` (``--now`` replays)."""
        sender = make_sender(self.settings, self.config.delivery)
        if isinstance(sender, OutboxSender):
            return OutboxSender(sender.directory, clock=lambda: now)
        return sender

    def delivery_options(self, *, batch_size: int = DEFAULT_BATCH_SIZE, worker: str | None = None) -> DeliveryOptions:
        """Batch size from the run; reconcile window and attempts from ``delivery.yaml``."""
        delivery = self.config.delivery.sendgrid
        return DeliveryOptions(
            batch_size=batch_size,
            reconcile_after=timedelta(minutes=delivery.reconcile_window_minutes),
            max_attempts=delivery.max_attempts,
            worker=worker or worker_id(),
        )


def build_pipeline(settings: Settings | None = None) -> Pipeline:
    """The run's pipeline: ``settings`` (default: the environment) and the config they point at."""
    settings = settings or load_settings()
    return Pipeline(settings, load_config(settings.config_dir))
