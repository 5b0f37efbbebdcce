"""From a referral request and its customer to one ``OutgoingEmail``: context, render, headers."""

from __future__ import annotations

from typing import Any

from referral_automation.config import Campaign
from referral_automation.domain.facts import CustomerFacts
from referral_automation.email.message import OutgoingEmail
from referral_automation.email.rendering.context import RequestView, build_context, one_line
from referral_automation.email.rendering.renderer import EmailRenderer

__all__ = ["RequestView", "compose_email", "template_for"]


def template_for(campaign_id: str, campaign: Campaign, variant_id: str, sequence_step: int) -> str:
    """Step 0 renders the variant's template; follow-ups the campaign's follow-up template."""
    if sequence_step == 0:
        return campaign.variant(variant_id).template
    return campaign.follow_up_template(campaign_id)


def first_subject(
    renderer: EmailRenderer,
    campaign: Campaign,
    request: RequestView,
    customer: CustomerFacts,
    context: dict[str, Any],
) -> str:
    """The subject the first email of ``request`` had, for follow-ups to refer to."""
    first = {**context, "step": 0, "follow_up": False, "last_follow_up": False, "days_since_first": 0}
    return renderer.render_subject(campaign.variant(request.variant).template, customer.locale, first)


def compose_email(
    *,
    renderer: EmailRenderer,
    campaign_id: str,
    campaign: Campaign,
    request: RequestView,
    customer: CustomerFacts,
    sequence_step: int,
    message_id: str,
    public_base_url: str,
) -> OutgoingEmail:
    """The message of ``request`` at ``sequence_step`` (0 first ask, 1..n follow-ups), ready for any sender.

    Raises ``TemplateError`` (path, line, message) when a template does not render.
    """
    template = template_for(campaign_id, campaign, request.variant, sequence_step)
    email_locale, _ = renderer.resolve(template, customer.locale)
    context = build_context(
        shared=renderer.shared_views,
        campaign_id=campaign_id,
        campaign=campaign,
        request=request,
        customer=customer,
        sequence_step=sequence_step,
        public_base_url=public_base_url,
        email_locale=email_locale,
    )
    if sequence_step > 0:
        context["first_subject"] = first_subject(renderer, campaign, request, customer, context)
    rendered = renderer.render(template, customer.locale, context)
    unsubscribe = context["unsubscribe_link"]
    reply_to = campaign.reply_to
    return OutgoingEmail(
        message_id=message_id,
        referral_request_id=request.id,
        sequence_step=sequence_step,
        campaign=campaign_id,
        variant=request.variant,
        incentive=request.incentive,
        to_email=one_line(customer.email),
        to_name=context["customer"].name,
        from_email=campaign.sender.email,
        from_name=one_line(campaign.sender.name),
        reply_to_email=reply_to.email if reply_to else None,
        reply_to_name=one_line(reply_to.name) if reply_to else None,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Referral-Request-Id": request.id,
            "X-Referral-Sequence-Step": str(sequence_step),
        },
        categories=(campaign_id, request.variant),
    )
