"""Deterministic ids and unguessable referral codes."""

from __future__ import annotations

import re
import uuid

from hypothesis import given
from hypothesis import strategies as st

from referral_automation.domain.identity import NAMESPACE, message_id, moment_id, new_referral_code, request_id, uuid5

names = st.text(min_size=1, max_size=30)


@given(customer=names, rule=names, source=names)
def test_moment_ids_are_deterministic_uuids(customer: str, rule: str, source: str) -> None:
    """It derives the same moment id from the same customer, rule and source key, in any process."""
    first = moment_id(customer, rule, source)
    assert first == moment_id(customer, rule, source)
    assert uuid.UUID(first).version == 5


@given(name=st.text(max_size=200))
def test_ids_are_the_standard_librarys_uuid5(name: str) -> None:
    """It derives exactly ``uuid.uuid5(NAMESPACE, name)`` for any text."""
    assert uuid5(name) == str(uuid.uuid5(NAMESPACE, name))


@given(customer=names, rule=names, source=names, step=st.integers(0, 10))
def test_every_id_is_a_uuid5_of_its_parts(customer: str, rule: str, source: str, step: int) -> None:
    """It derives moment, request and message ids as uuid5 of their parts joined by unit separators."""
    moment = moment_id(customer, rule, source)
    assert moment == str(uuid.uuid5(NAMESPACE, f"moment\x1f{customer}\x1f{rule}\x1f{source}"))
    assert request_id(moment) == str(uuid.uuid5(NAMESPACE, f"request\x1f{moment}"))
    assert message_id(moment, step) == str(uuid.uuid5(NAMESPACE, f"message\x1f{moment}\x1f{step}"))


def test_ids_differ_by_every_part() -> None:
    """It derives different ids when any part differs, and the parts cannot be shifted into each other."""
    base = moment_id("c1", "nps_promoter", "e1")
    assert len({base, moment_id("c2", "nps_promoter", "e1"), moment_id("c1", "milestone", "e1")}) == 3
    assert moment_id("c1", "nps_promoter", "e2") != base
    assert moment_id("c1x", "y", "z") != moment_id("c1", "xy", "z")
    assert request_id(base) != request_id(moment_id("c2", "nps_promoter", "e1"))
    assert request_id(base) != base
    assert message_id(request_id(base), 0) != message_id(request_id(base), 1)


def test_known_values_never_change() -> None:
    """It keeps ids stable across releases (a change would re-create every moment on the next run)."""
    moment = moment_id("c1", "nps_promoter", "e1")
    assert moment == "518cb1c9-4128-5258-9dd3-dd64a505dffa"
    assert request_id(moment) == "de49b1ba-d131-523a-b0b9-64e99f01c923"
    assert message_id(request_id(moment), 1) == "500c82cb-77b0-5160-8241-0120b74eda32"


def test_referral_codes_are_long_url_safe_and_unique() -> None:
    """It makes codes of at least 8 URL-safe characters that do not repeat."""
    codes = [new_referral_code() for _ in range(5000)]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{8,}", code) for code in codes)
    assert len(set(codes)) == len(codes)
