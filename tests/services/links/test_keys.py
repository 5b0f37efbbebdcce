"""The link-signing key: the setting's, or one the installation makes once and every process shares."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import InstanceSecret
from referral_automation.errors import ReferralAutomationError
from referral_automation.services.links.keys import SecretKeyError, accepted_keys, signing_key
from referral_automation.services.links.signer import LinkSigner


def test_the_setting_wins(factory: sessionmaker[Session]) -> None:
    """It signs with REFERRAL_SECRET_KEY when set, and stores nothing."""
    key = signing_key(factory, SecretStr("k" * 40))
    assert key == b"k" * 40
    with factory() as session:
        assert session.execute(select(func.count()).select_from(InstanceSecret)).scalar_one() == 0


def test_a_short_setting_is_refused(factory: sessionmaker[Session]) -> None:
    """It refuses a REFERRAL_SECRET_KEY too short to be a key, naming the setting."""
    with pytest.raises(SecretKeyError, match="REFERRAL_SECRET_KEY must be at least 32"):
        signing_key(factory, SecretStr("short"))


def test_without_a_setting_one_key_is_made_and_kept(factory: sessionmaker[Session]) -> None:
    """It makes a key on first use and gives every later caller the same one."""
    first = signing_key(factory, None)
    assert len(first) == 32
    assert signing_key(factory, None) == first


def test_processes_starting_together_agree_on_one_key(factory: sessionmaker[Session]) -> None:
    """It lets the first writer win when several callers make a key at once."""
    counter = iter(range(100))
    with ThreadPoolExecutor(4) as pool:
        keys = set(
            pool.map(lambda _: signing_key(factory, None, generate=lambda n: bytes([next(counter)]) * n), range(8))
        )
    assert len(keys) == 1


def test_a_reply_address_the_tokens_cannot_extend_is_refused() -> None:
    """It refuses, when a run starts, a reply address whose local part leaves no room for the token."""
    with pytest.raises(ReferralAutomationError, match="REFERRAL_REPLY_ADDRESS"):
        LinkSigner(b"k" * 32, "a-very-long-local-part@in.example.com")


def test_links_signed_with_the_generated_key_survive_setting_one(factory: sessionmaker[Session]) -> None:
    """It still reads tokens signed with the generated key once REFERRAL_SECRET_KEY is set, and signs
    new ones with the setting's."""
    generated = LinkSigner(signing_key(factory, None))
    old_token = generated.unsubscribe_token("0b5a1c2d-3e4f-5a6b-8c7d-9e0f1a2b3c4d")
    configured = SecretStr("c" * 40)
    signer = LinkSigner(signing_key(factory, configured), None, accepted_keys(factory, configured))
    assert signer.request_of_unsubscribe_token(old_token) == "0b5a1c2d-3e4f-5a6b-8c7d-9e0f1a2b3c4d"
    assert signer.unsubscribe_token("0b5a1c2d-3e4f-5a6b-8c7d-9e0f1a2b3c4d") != old_token
    assert accepted_keys(factory, None) == ()
