"""Which referral requests wait for a person's approval."""

from __future__ import annotations

from decimal import Decimal

import pytest

from referral_automation.config import ApprovalPolicy
from referral_automation.domain.approval import approval_reason
from referral_automation.domain.facts import CustomerFacts

DEFAULT = ApprovalPolicy()  # lifetime value >= 50000 or plan enterprise (CONTRACT.md)


def customer(plan: str = "pro", lifetime_value: str = "1200") -> CustomerFacts:
    return CustomerFacts(customer_id="c1", email="a@example.com", plan=plan, lifetime_value=Decimal(lifetime_value))


CASES = [
    ("small-pro", DEFAULT, customer(), None),
    ("just-under-threshold", DEFAULT, customer(lifetime_value="49999.99"), None),
    ("at-threshold", DEFAULT, customer(lifetime_value="50000"), "lifetime value 50,000 is at least 50,000"),
    ("over-threshold", DEFAULT, customer(lifetime_value="1234567.80"), "lifetime value 1,234,568 is at least 50,000"),
    ("enterprise", DEFAULT, customer(plan="enterprise"), "plan 'enterprise' needs approval"),
    ("enterprise-capitalised", DEFAULT, customer(plan="Enterprise"), "plan 'Enterprise' needs approval"),
    ("enterprise-shouting", DEFAULT, customer(plan="ENTERPRISE"), "plan 'ENTERPRISE' needs approval"),
    ("enterprise-with-spaces", DEFAULT, customer(plan=" Enterprise "), "plan ' Enterprise ' needs approval"),
    ("configured-with-spaces", ApprovalPolicy(plans=["strategic "]), customer(plan="Strategic"),
     "plan 'Strategic' needs approval"),
    ("blank-plan", ApprovalPolicy(plans=[" "]), customer(plan="  "), None),
    ("enterprise-plus-is-another-plan", DEFAULT, customer(plan="enterprise plus"), None),
    ("no-plan", DEFAULT, customer(plan=""), None),
    (
        "both-reasons-value-first",
        DEFAULT,
        customer(plan="enterprise", lifetime_value="90000"),
        "lifetime value 90,000 is at least 50,000",
    ),
    ("no-threshold", ApprovalPolicy(lifetime_value_at_least=None), customer(lifetime_value="10000000"), None),
    ("no-plans", ApprovalPolicy(plans=[]), customer(plan="enterprise"), None),
    (
        "configured-plan-in-any-case",
        ApprovalPolicy(plans=["Strategic"]),
        customer(plan="STRATEGIC"),
        "plan 'STRATEGIC' needs approval",
    ),
    ("lower-threshold", ApprovalPolicy(lifetime_value_at_least=Decimal(1000)), customer(),
     "lifetime value 1,200 is at least 1,000"),
]  # fmt: skip


@pytest.mark.parametrize(("policy", "facts", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_approval_reason(policy: ApprovalPolicy, facts: CustomerFacts, reason: str | None) -> None:
    """It asks for approval at or above the lifetime-value threshold or for a listed plan in any letter case."""
    assert approval_reason(policy, facts) == reason
