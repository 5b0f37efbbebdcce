"""Which referral requests a success manager approves before they go out."""

from __future__ import annotations

from referral_automation.config import ApprovalPolicy
from referral_automation.domain.facts import CustomerFacts


def approval_reason(policy: ApprovalPolicy, customer: CustomerFacts) -> str | None:
    """Why this customer's request needs a person's approval, or None when it does not."""
    threshold = policy.lifetime_value_at_least
    if threshold is not None and customer.lifetime_value >= threshold:
        return f"lifetime value {customer.lifetime_value:,.0f} is at least {threshold:,.0f}"
    plans = {plan.strip().casefold() for plan in policy.plans}
    if customer.plan.strip() and customer.plan.strip().casefold() in plans:  # CRM exports pad and capitalise
        return f"plan {customer.plan!r} needs approval"
    return None
