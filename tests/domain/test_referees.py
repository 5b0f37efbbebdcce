"""Referee checks: one mailbox under many spellings, disposable domains, and codes used far more than usual."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_automation.domain.referees import (
    DEFAULT_FACTOR,
    DEFAULT_FLOOR,
    SUBADDRESSING_DOMAINS,
    canonical_email,
    disposable_domains,
    is_disposable,
    is_self_referral,
    unusual_code_use,
)

CANONICAL = [
    ("gmail-dots-and-tag", "Ada.Love.Lace+friends@gmail.com", "adalovelace@gmail.com"),
    ("googlemail-is-gmail", "ada.lovelace@googlemail.com", "adalovelace@gmail.com"),
    ("gmail-domain-case", "ada@GMAIL.COM", "ada@gmail.com"),
    ("outlook-tag", "ada.l+shop@outlook.com", "ada.l@outlook.com"),
    ("icloud-tag", "ada+x@icloud.com", "ada@icloud.com"),
    ("proton-tag", "ada+x@proton.me", "ada@proton.me"),
    ("fastmail-tag", "ada+x@fastmail.com", "ada@fastmail.com"),
    ("other-provider-keeps-tag-and-dots", "ada.l+x@example.com", "ada.l+x@example.com"),
    ("local-part-case", "Ada@Example.com", "ada@example.com"),
    ("only-a-tag", "+x@gmail.com", "+x@gmail.com"),
    ("idn-domain", "ada@BÜCHER.de", "ada@xn--bcher-kva.de"),
]


@pytest.mark.parametrize(("address", "canonical"), [c[1:] for c in CANONICAL], ids=[c[0] for c in CANONICAL])
def test_canonical_email(address: str, canonical: str) -> None:
    """It spells a mailbox one way: case folded, Gmail's dots dropped, tags dropped where the provider ignores them."""
    assert canonical_email(address) == canonical


def test_yahoo_keeps_its_tags() -> None:
    """It keeps "+" at providers not known to ignore it (Yahoo uses "-" with a base the user chose)."""
    assert "yahoo.com" not in SUBADDRESSING_DOMAINS
    assert canonical_email("ada+x@yahoo.com") == "ada+x@yahoo.com"


def test_canonical_email_refuses_what_is_not_an_address() -> None:
    """It refuses text that is not one plain mailbox."""
    with pytest.raises(ValueError):
        canonical_email("evil>,<victim@example.com")


SELF_REFERRALS = [
    ("same-address", "ada@example.com", "ada@example.com", True),
    ("case", "ada@example.com", "ADA@Example.com", True),
    ("gmail-alias", "adalovelace@gmail.com", "Ada.Lovelace+friend@googlemail.com", True),
    ("outlook-tag", "ada@outlook.com", "ada+2@outlook.com", True),
    ("colleague", "ada@example.com", "grace@example.com", False),
    ("same-local-other-domain", "ada@example.com", "ada@example.org", False),
    ("tag-at-unknown-provider", "ada@example.com", "ada+x@example.com", False),
    ("unparsable-but-equal", "Ada <ada@example.com>", " ada <ADA@example.com>", True),
    ("unparsable-and-different", "not an address", "another", False),
]


@pytest.mark.parametrize(
    ("advocate", "referee", "expected"), [c[1:] for c in SELF_REFERRALS], ids=[c[0] for c in SELF_REFERRALS]
)
def test_is_self_referral(advocate: str, referee: str, expected: bool) -> None:
    """It sees the advocate's own mailbox behind another spelling, and nothing else."""
    assert is_self_referral(advocate, referee) is expected


def test_the_disposable_list_is_bundled() -> None:
    """It loads a few hundred lower-case domains from the package, without its comments."""
    domains = disposable_domains()
    assert 300 <= len(domains) <= 2_000
    assert "mailinator.com" in domains
    assert all(domain == domain.strip().lower() and not domain.startswith("#") and domain for domain in domains)


DISPOSABLE = [
    ("listed", "x@mailinator.com", True),
    ("listed-upper-case", "X@MAILINATOR.COM", True),
    ("subdomain", "x@inbox.mailinator.com", True),
    ("deep-subdomain", "x@a.b.guerrillamail.com", True),
    ("trailing-dot", "x@yopmail.com.", True),
    ("bare-domain", "10minutemail.com", True),
    ("name-and-brackets", "Eve <x@sharklasers.com>", True),
    ("lookalike-suffix", "x@notmailinator.com.example", False),
    ("contains-a-listed-name", "x@mailinator.company", False),
    ("a-real-provider", "x@gmail.com", False),
    ("a-company", "x@example.com", False),
    ("top-level-domain-alone", "x@com", False),
    ("empty", "", False),
    ("garbage", "\x00\ud800@@@...", False),
    ("huge", "x" * 100_000 + "@mailinator.com", True),
]


@pytest.mark.parametrize(("address", "expected"), [c[1:] for c in DISPOSABLE], ids=[c[0] for c in DISPOSABLE])
def test_is_disposable(address: str, expected: bool) -> None:
    """It flags listed domains and their subdomains, and nothing that merely resembles one."""
    assert is_disposable(address) is expected


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_text_gets_an_answer(text: str) -> None:
    """It never raises on any text: an odd address is judged, or simply not listed."""
    assert is_disposable(text) in (True, False)
    assert is_self_referral(text, text) is True


# --------------------------------------------------------------------------- unusual use
def test_a_code_used_as_usual_is_not_flagged() -> None:
    """It says nothing about a code used at about the program's typical rate."""
    assert unusual_code_use(3, 2.0) is None


def test_the_floor_protects_small_programs() -> None:
    """It never flags a code used at most `floor` times, however low the typical rate."""
    assert unusual_code_use(DEFAULT_FLOOR, 0.1) is None
    assert unusual_code_use(DEFAULT_FLOOR + 1, 0.1) is not None


def test_a_code_used_many_times_the_typical_rate_is_flagged() -> None:
    """It flags a code used more than factor times the typical rate, and says by how much."""
    typical = 4.0
    limit = int(DEFAULT_FACTOR * typical)
    assert unusual_code_use(limit, typical) is None
    reason = unusual_code_use(limit + 1, typical)
    assert reason == "the code was used 21 times in the window, more than 20 (the larger of 10 and 5 x the typical 4)"


def test_thresholds_are_parameters() -> None:
    """It takes the floor and the factor as arguments."""
    assert unusual_code_use(4, 1.0, floor=3, factor=2.0) is not None
    assert unusual_code_use(4, 1.0, floor=3, factor=4.0) is None


@pytest.mark.parametrize("typical", [float("nan"), float("inf"), -5.0], ids=["nan", "inf", "negative"])
def test_a_nonsense_typical_rate_leaves_the_floor(typical: float) -> None:
    """It treats a typical rate that is not a finite positive number as 0, so the floor alone decides."""
    assert unusual_code_use(DEFAULT_FLOOR, typical) is None
    assert unusual_code_use(DEFAULT_FLOOR + 1, typical) is not None


@pytest.mark.parametrize(("floor", "factor"), [(-1, 5.0), (10, 0.0), (10, -1.0), (10, float("nan"))])
def test_nonsense_thresholds_are_refused(floor: int, factor: float) -> None:
    """It refuses a negative floor and a factor that is not a positive number."""
    with pytest.raises(ValueError):
        unusual_code_use(1, 1.0, floor=floor, factor=factor)
