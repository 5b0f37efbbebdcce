"""A sample customer and sample referral requests: what ``validate`` and ``preview`` render with.

Fixed values (no clock, no randomness), so a preview or a validation run is reproducible.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from referral_automation.config import AppConfig, Campaign, PropertySpec
from referral_automation.domain.facts import CustomerFacts
from referral_automation.email.compose import RequestView

SAMPLE_CUSTOMER = CustomerFacts(
    customer_id="sample-customer",
    email="ana.garcia@example.com",
    first_name="Ana",
    last_name="García",
    company="Northwind Traders",
    plan="growth",
    lifetime_value=Decimal(12000),
    first_purchase_at=datetime(2025, 1, 15, 9, 30, tzinfo=UTC),
    timezone="Europe/Madrid",
    locale="en",
    marketing_opt_in=True,
)
SAMPLE_MOMENT_AT = datetime(2025, 6, 2, 14, 5, tzinfo=UTC)
SAMPLE_REQUEST_ID = "00000000-0000-5000-8000-00000000cafe"
SAMPLE_CODE = "SaMpLe-c0de7"
SAMPLE_UNSUBSCRIBE_TOKEN = "sample-unsubscribe-token"
#: Sample values of string properties, by name; others get ``"sample"``.
SAMPLE_STRINGS = {"name": "1,000th invoice sent", "ticket_id": "T-1042"}


@dataclass(frozen=True, slots=True)
class SampleMoment:
    """A moment of one trigger rule with plausible event properties."""

    rule_id: str
    properties: dict[str, Any]


def sample_customer(locale: str | None = None) -> CustomerFacts:
    """The sample customer, speaking ``locale`` if given."""
    return SAMPLE_CUSTOMER if locale is None else dataclasses.replace(SAMPLE_CUSTOMER, locale=locale)


def _sample_value(name: str, spec: PropertySpec) -> Any:
    if spec.type == "string":
        return SAMPLE_STRINGS.get(name, "sample")
    if spec.type == "boolean":
        return True
    high = spec.max if spec.max is not None else (spec.min or 0) + 1
    return int(high) if spec.type == "integer" else float(high)


def sample_moments(config: AppConfig, campaign_id: str) -> list[SampleMoment]:
    """One moment per trigger rule of the campaign (the top of each property's range: a happy one)."""
    moments = []
    for rule in config.triggers.rules:
        if rule.campaign != campaign_id:
            continue
        event_type = config.events.event_types.get(rule.event) if rule.event else None
        specs = event_type.properties if event_type else {}
        moments.append(SampleMoment(rule.id, {name: _sample_value(name, spec) for name, spec in specs.items()}))
    return moments or [SampleMoment("manual", {})]


def sample_request(
    campaign_id: str,
    campaign: Campaign,
    *,
    variant: str | None = None,
    incentive: str | None = None,
    moment: SampleMoment | None = None,
    occurred_at: datetime = SAMPLE_MOMENT_AT,
    sequence_step: int = 0,
) -> RequestView:
    """A referral request of ``campaign`` as the send service would build it."""
    moment = moment or SampleMoment("nps_promoter", {"score": 10})
    first_sent = occurred_at + timedelta(days=1) if sequence_step > 0 else None
    return RequestView(
        id=SAMPLE_REQUEST_ID,
        code=SAMPLE_CODE,
        unsubscribe_token=SAMPLE_UNSUBSCRIBE_TOKEN,
        campaign=campaign_id,
        variant=variant or campaign.variants[0].id,
        incentive=incentive or campaign.incentives[0].id,
        rule_id=moment.rule_id,
        moment_occurred_at=occurred_at,
        moment_properties=dict(moment.properties),
        first_sent_at=first_sent,
    )
