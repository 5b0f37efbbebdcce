"""One ``OutgoingEmail`` as a SendGrid v3 Mail Send body, built with the library's Mail helpers.

What comes back from SendGrid must find its way to our rows, so every message carries its ids
as ``custom_args`` (they return as top-level keys of each Event Webhook event) and its campaign
and variant as categories (SendGrid's own statistics group by them). One personalization per
message: ``Mail.add_personalization`` inserts at index 0, so nothing may rely on positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sendgrid.helpers.mail import (
    Asm,
    Category,
    ClickTracking,
    CustomArg,
    From,
    GroupId,
    Header,
    HtmlContent,
    Mail,
    MailSettings,
    OpenTracking,
    Personalization,
    PlainTextContent,
    ReplyTo,
    SandBoxMode,
    Subject,
    To,
    TrackingSettings,
)
from sendgrid.helpers.mail.exceptions import ApiKeyIncludedException

from referral_automation.config import SendGridDelivery
from referral_automation.email.message import OutgoingEmail
from referral_automation.errors import PermanentDeliveryError

#: SendGrid rejects these in ``headers`` (they come from other fields or from SendGrid itself).
RESERVED_HEADERS = frozenset(
    {
        "x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type", "content-transfer-encoding",
        "to", "from", "subject", "reply-to", "cc", "bcc",
    }
)  # fmt: skip
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class PayloadOptions:
    """The account-level choices every message gets (from ``delivery.yaml``)."""

    sandbox_mode: bool = False
    click_tracking: bool = False
    open_tracking: bool = True
    asm_group_id: int | None = None

    @classmethod
    def from_config(cls, config: SendGridDelivery) -> PayloadOptions:
        return cls(
            sandbox_mode=config.sandbox_mode,
            click_tracking=config.tracking.click,
            open_tracking=config.tracking.open,
            asm_group_id=config.asm_group_id,
        )


def arm_of(email: OutgoingEmail) -> str:
    """The bandit's arm: message variant × incentive."""
    return f"{email.variant}/{email.incentive}"


def custom_args_of(email: OutgoingEmail) -> dict[str, str]:
    """What every provider event about this message will carry back (values must be strings)."""
    return {
        "referral_request_id": email.referral_request_id,
        "sequence_step": str(email.sequence_step),
        "message_id": email.message_id,
        "campaign": email.campaign,
        "arm": arm_of(email),
    }


def categories_of(email: OutgoingEmail) -> list[str]:
    """Campaign and variant first, then the message's own, without repeats, within SendGrid's limits."""
    seen: list[str] = []
    for category in (email.campaign, email.variant, *email.categories):
        category = category[:MAX_CATEGORY_LENGTH]
        if category and category not in seen:
            seen.append(category)
    return seen[:MAX_CATEGORIES]


def build_mail(email: OutgoingEmail, options: PayloadOptions) -> Mail:
    """The Mail object for one message; ``PermanentDeliveryError`` if SendGrid's library refuses it."""
    try:
        mail = Mail(
            from_email=From(email.from_email, email.from_name or None),
            subject=Subject(email.subject),
            plain_text_content=PlainTextContent(email.text),
            html_content=HtmlContent(email.html),
        )
    except ApiKeyIncludedException as error:
        # The library refuses content that looks like an API key; the message must be fixed, not retried.
        raise PermanentDeliveryError(f"message {email.message_id}: content looks like an API key") from error
    mail.add_personalization(_personalization(email))
    if email.reply_to_email:
        mail.reply_to = ReplyTo(email.reply_to_email, email.reply_to_name or None)
    for name, value in email.headers.items():
        if name.lower() not in RESERVED_HEADERS:
            mail.add_header(Header(name, str(value)))
    for category in reversed(categories_of(email)):  # add_category inserts at index 0
        mail.add_category(Category(category))
    if options.asm_group_id is not None:
        mail.asm = Asm(GroupId(options.asm_group_id))
    mail.mail_settings = MailSettings(sandbox_mode=SandBoxMode(options.sandbox_mode))
    mail.tracking_settings = TrackingSettings(
        click_tracking=ClickTracking(options.click_tracking, options.click_tracking),
        open_tracking=OpenTracking(options.open_tracking),
    )
    return mail


def _personalization(email: OutgoingEmail) -> Personalization:
    personalization = Personalization()
    personalization.add_to(To(email.to_email, email.to_name or None))
    for key, value in custom_args_of(email).items():
        personalization.add_custom_arg(CustomArg(key, value))
    return personalization


def build_payload(email: OutgoingEmail, options: PayloadOptions) -> dict[str, Any]:
    """The JSON body ``POST /v3/mail/send`` receives."""
    body: dict[str, Any] = build_mail(email, options).get()
    return body
