"""Detection's fast id derivation: the very ids of domain.identity."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from referral_automation.domain import identity
from referral_automation.services.detect_decide import moment_key, request_key

names = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@given(customer_id=names, rule_id=names, source_key=names)
def test_moment_keys_are_identity_moment_ids(customer_id: str, rule_id: str, source_key: str) -> None:
    """It derives the uuid5 moment id that identity.moment_id derives, for any text."""
    assert moment_key(customer_id, rule_id, source_key) == identity.moment_id(customer_id, rule_id, source_key)


@given(moment_id=names)
def test_request_keys_are_identity_request_ids(moment_id: str) -> None:
    """It derives the uuid5 request id that identity.request_id derives, for any text."""
    assert request_key(moment_id) == identity.request_id(moment_id)
