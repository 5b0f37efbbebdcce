"""The rendering context: every name a template sees, as small frozen views.

Views (not ORM rows or config models) so a template reaches nothing beyond them, and so the
sandbox can treat their attributes as plain data (``render._Sandbox.plain_types``): attribute
access is most of the cost of rendering. docs/templates.md is the marketers' copy of this list.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from referral_automation.config import Campaign, Incentive, Reward
from referral_automation.domain.facts import CustomerFacts, tenure_days


def locale_chain(locale: str | None) -> list[str]:
    """``pt_br`` → ``["pt-BR", "pt"]``: the locales to try, most specific first."""
    if not locale:
        return []
    subtags = [s for s in re.split(r"[-_]", locale.strip()) if s]
    if not subtags:
        return []
    norm = [subtags[0].lower()] + [s.upper() if len(s) == 2 else s.title() if len(s) == 4 else s for s in subtags[1:]]
    return ["-".join(norm[:i]) for i in range(len(norm), 0, -1)]


@dataclass(slots=True)
class RequestView:
    """What rendering needs of one referral request (built by the send service for every email).

    Not frozen, like the views below: a frozen dataclass is slow to build, once per email.
    """

    id: str
    code: str
    unsubscribe_token: str
    campaign: str
    variant: str
    incentive: str
    rule_id: str  # the trigger rule of its moment (nps_promoter, delighted_support, milestone, settled_in, ...)
    moment_occurred_at: datetime
    moment_properties: dict[str, Any]  # the moment event's properties ({} for time-based rules)
    first_sent_at: datetime | None  # for follow-ups: when step 0 went out


# --------------------------------------------------------------------------- context views
# Not frozen: templates cannot assign attributes anyway, and frozen dataclasses are slow to build.
@dataclass(slots=True)
class CustomerView:
    first_name: str
    last_name: str
    name: str
    company: str
    email: str
    plan: str
    locale: str
    tenure_days: int | None
    tenure_months: int | None


@dataclass(slots=True)
class MomentView:
    rule: str
    kind: str  # nps | support | milestone | tenure | other (see ``moment_kind``)
    occurred_at: datetime
    properties: dict[str, Any]


#: The kind of result each default trigger rule names.
RULE_KINDS = {"nps_promoter": "nps", "delighted_support": "support", "milestone": "milestone", "settled_in": "tenure"}


def moment_kind(rule_id: str, properties: dict[str, Any], tenure: int | None) -> str:
    """Which result of the customer's a moment names, for templates to put into words.

    By rule id for the default rules; a rule added later is judged by what its event carries
    (``score`` → nps, ``csat`` → support, ``name`` → milestone), then by tenure (30 days or more).
    """
    if rule_id in RULE_KINDS:
        return RULE_KINDS[rule_id]
    if "score" in properties:
        return "nps"
    if "csat" in properties:
        return "support"
    if "name" in properties:
        return "milestone"
    return "tenure" if tenure is not None and tenure >= 30 else "other"


@dataclass(slots=True)
class RewardView:
    kind: str
    value: Decimal
    currency: str | None
    description: str


@dataclass(slots=True)
class IncentiveView:
    id: str
    text: str
    referrer: RewardView
    referee: RewardView | None
    double_sided: bool
    cap: int | None


@dataclass(slots=True)
class ReferralView:
    code: str
    link: str


@dataclass(slots=True)
class CampaignView:
    id: str
    name: str
    landing_page: str


@dataclass(slots=True)
class PersonView:
    name: str
    email: str


@dataclass(slots=True)
class IntroductionView:
    """The ready-to-send introduction, rendered once per email from ``_introduction.*``."""

    subject: str
    body: str
    mailto: str


#: Plain data for the renderer's sandbox (see ``render._Sandbox.plain_types``).
VIEW_TYPES = (
    CustomerView,
    MomentView,
    RewardView,
    IncentiveView,
    ReferralView,
    CampaignView,
    PersonView,
    IntroductionView,
)


def one_line(value: str) -> str:
    """A header-safe value: no CR, LF or other line breaks, whitespace collapsed."""
    return " ".join(value.split())


def customer_view(customer: CustomerFacts, at: datetime) -> CustomerView:
    days = tenure_days(customer, at)
    whole_days = None if days is None else max(0, int(days))
    return CustomerView(
        first_name=customer.first_name,
        last_name=customer.last_name,
        name=one_line(f"{customer.first_name} {customer.last_name}"),
        company=customer.company,
        email=customer.email,
        plan=customer.plan,
        locale=customer.locale,
        tenure_days=whole_days,
        tenure_months=None if whole_days is None else int(whole_days / 30.4375),
    )


def _reward(reward: Reward | None) -> RewardView | None:
    if reward is None:
        return None
    return RewardView(reward.kind, reward.value, reward.currency, reward.description)


def incentive_text(incentive: Incentive, locale: str | None) -> str:
    """The incentive told in ``locale`` (``pt-BR`` → ``pt`` → the default ``text``)."""
    for candidate in locale_chain(locale):
        if candidate in incentive.translations:
            return incentive.translations[candidate]
    return incentive.text


def incentive_view(incentive: Incentive, locale: str | None) -> IncentiveView:
    referrer = _reward(incentive.referrer)
    assert referrer is not None  # the model requires a referrer reward
    return IncentiveView(
        id=incentive.id,
        text=incentive_text(incentive, locale),
        referrer=referrer,
        referee=_reward(incentive.referee),
        double_sided=incentive.sides == "double",
        cap=incentive.cap,
    )


#: Every name ``build_context`` gives templates: a ``_context/`` file may not take one of them.
CONTEXT_NAMES = frozenset(
    {
        "customer", "moment", "incentive", "referral", "unsubscribe_link", "campaign", "sender", "reply_to",
        "variant", "request_id", "step", "follow_up", "last_follow_up", "follow_ups_total", "days_since_first",
        "first_sent_at", "first_subject", "email_locale",
    }
)  # fmt: skip


#: The views every email of one (campaign, incentive, locale) shares.
Shared = tuple[IncentiveView, CampaignView, PersonView, PersonView]


def shared_views(campaign_id: str, campaign: Campaign, incentive_id: str, email_locale: str) -> Shared:
    """The incentive, campaign, sender and reply-to views of an email, built afresh."""
    sender = campaign.sender
    reply_to = campaign.reply_to or sender
    return (
        incentive_view(campaign.incentive(incentive_id), email_locale),
        CampaignView(campaign_id, campaign.name, campaign.landing_page),
        PersonView(sender.name, sender.email),
        PersonView(reply_to.name, reply_to.email),
    )


class SharedViews:
    """``shared_views`` remembered: the same view objects for every email of a group, so the
    renderer keys skeletons by them once (one per renderer, at most ``limit`` groups).

    Templates cannot change a view (the sandbox is immutable), so sharing them is safe; the
    campaign object is kept with them, so a new configuration never meets an old view.
    """

    def __init__(self, *, limit: int = 256) -> None:
        self.limit = limit
        self._known: dict[tuple[int, str, str, str], tuple[Campaign, Shared]] = {}

    def __call__(self, campaign_id: str, campaign: Campaign, incentive_id: str, email_locale: str) -> Shared:
        key = (id(campaign), campaign_id, incentive_id, email_locale)
        known = self._known.get(key)
        if known is not None and known[0] is campaign:
            return known[1]
        views = shared_views(campaign_id, campaign, incentive_id, email_locale)
        if len(self._known) >= self.limit:
            self._known.clear()
        self._known[key] = (campaign, views)
        return views


def build_context(
    *,
    shared: Callable[[str, Campaign, str, str], Shared] = shared_views,
    campaign_id: str,
    campaign: Campaign,
    request: RequestView,
    customer: CustomerFacts,
    sequence_step: int,
    public_base_url: str,
    email_locale: str = "",
) -> dict[str, Any]:
    """Every name a template may use (docs/templates.md is the marketers' copy of this list).

    ``email_locale`` is the locale of the templates the email renders from ('' for the default
    files): the incentive is told in it, so a German customer who gets the English fallback
    reads the English incentive too. ``shared`` builds the views every email of a group shares
    (a renderer's ``SharedViews`` remembers them).
    """
    base = public_base_url.rstrip("/")
    after_days = campaign.follow_ups.after_days
    incentive, campaign_view, sender, reply_to = shared(campaign_id, campaign, request.incentive, email_locale)
    person = customer_view(customer, request.moment_occurred_at)
    return {
        "customer": person,
        "moment": MomentView(
            rule=request.rule_id,
            kind=moment_kind(request.rule_id, request.moment_properties, person.tenure_days),
            occurred_at=request.moment_occurred_at,
            properties=dict(request.moment_properties),
        ),
        "incentive": incentive,
        "referral": ReferralView(request.code, f"{base}/r/{request.code}"),
        "unsubscribe_link": f"{base}/u/{request.unsubscribe_token}",
        "campaign": campaign_view,
        "sender": sender,
        "reply_to": reply_to,
        "variant": request.variant,
        "request_id": request.id,
        "step": sequence_step,
        "follow_up": sequence_step > 0,
        "last_follow_up": sequence_step > 0 and sequence_step >= len(after_days),
        "follow_ups_total": len(after_days),
        "days_since_first": after_days[sequence_step - 1] if 0 < sequence_step <= len(after_days) else 0,
        "first_sent_at": request.first_sent_at,
        "first_subject": "",  # follow-ups: the subject of the first email (compose_email fills it)
        "email_locale": email_locale,
    }
