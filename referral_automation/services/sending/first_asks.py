"""The first ask: send every due referral request once, inside its customer's send window.

One batch is three short transactions around the provider call (``claims`` and ``deliver`` explain
why): claim and lease, write the ``sending`` message rows, and after the sender answered, record
each message and its request. Through an idempotent sender (the outbox) it is two: no ``sending``
rows, each message row written with its outcome. What each outcome does to the request
(``domain.delivery.first_ask_update``):

- accepted: message ``sent`` with the provider's id; request ``sent``, first follow-up scheduled;
- refused for good (``PermanentDeliveryError``): both ``failed``, with the error;
- nothing accepted (``RetryableDeliveryError``): the request goes back to ``scheduled`` with a
  growing delay, and is ``failed`` after ``max_attempts``;
- unknown (``AmbiguousDeliveryError``): both stay ``sending`` until a provider event settles them
  or the reconcile window passes;
- suppressed address or opted-out customer: request ``suppressed``, no message.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig
from referral_automation.domain.delivery import DeliveryOptions, first_ask_update
from referral_automation.email.message import EmailSender
from referral_automation.services.sending.batches import DeliveryReport, until_idle
from referral_automation.services.sending.claims import lease_first_asks
from referral_automation.services.sending.deliver import Composer
from referral_automation.services.sending.step import SendStep, run_batch

SessionFactory = sessionmaker[Session]

STEP = SendStep(lease=lease_first_asks, update=first_ask_update, actor="send")


def send_batch(
    session_factory: SessionFactory,
    *,
    config: AppConfig,
    sender: EmailSender,
    composer: Composer,
    now: datetime,
    options: DeliveryOptions,
) -> DeliveryReport:
    """Claim, send and record one batch of due first asks."""
    return run_batch(STEP, session_factory, config=config, sender=sender, composer=composer, now=now, options=options)


def send_due(
    session_factory: SessionFactory,
    *,
    config: AppConfig,
    sender: EmailSender,
    composer: Composer,
    now: datetime,
    options: DeliveryOptions | None = None,
) -> DeliveryReport:
    """Every due first ask, batch after batch, until a claim finds nothing due."""
    options = options or DeliveryOptions()
    return until_idle(
        lambda: send_batch(session_factory, config=config, sender=sender, composer=composer, now=now, options=options)
    )
