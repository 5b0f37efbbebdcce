"""Follow-ups: up to ``follow_ups.after_days`` reminders after the first send (3 and 7 days by default).

A follow-up goes only while the customer has not responded (reply, referral-link click, referral),
the address is not suppressed and the customer still opts in, and only inside the send window.
Step ``n`` (1, 2, …) is due at the window's next opening at or after *first send +
after_days[n-1]* (``domain.followups``); a reply or a suppression clears ``next_followup_at``
(``services.responses``), and the claim checks again in case it came by another way. The same
message-row-first protocol as the first ask (``deliver``) makes each step go out at most once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig
from referral_automation.domain.delivery import DeliveryOptions, follow_up_update
from referral_automation.email.message import EmailSender
from referral_automation.services.sending.batches import DeliveryReport, until_idle
from referral_automation.services.sending.claims import lease_follow_ups
from referral_automation.services.sending.deliver import Composer
from referral_automation.services.sending.step import SendStep, run_batch

SessionFactory = sessionmaker[Session]

STEP = SendStep(lease=lease_follow_ups, update=follow_up_update, actor="follow-ups")


def follow_up_batch(
    session_factory: SessionFactory,
    *,
    config: AppConfig,
    sender: EmailSender,
    composer: Composer,
    now: datetime,
    options: DeliveryOptions,
) -> DeliveryReport:
    """Claim, send and record one batch of due follow-ups."""
    return run_batch(STEP, session_factory, config=config, sender=sender, composer=composer, now=now, options=options)


def send_follow_ups(
    session_factory: SessionFactory,
    *,
    config: AppConfig,
    sender: EmailSender,
    composer: Composer,
    now: datetime,
    options: DeliveryOptions | None = None,
) -> DeliveryReport:
    """Every due follow-up, batch after batch, until a claim finds nothing due."""
    options = options or DeliveryOptions()
    return until_idle(
        lambda: follow_up_batch(
            session_factory, config=config, sender=sender, composer=composer, now=now, options=options
        )
    )
