"""Settings: every value that cannot be used is named, with where it came from and what to write."""

from __future__ import annotations

import pytest

from referral_automation.errors import SettingsError
from referral_automation.settings import load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No REFERRAL_* variable and no .env of the developer's leak into these tests."""
    monkeypatch.chdir(tmp_path_factory.mktemp("settings"))
    for name in ("REFERRAL_DATABASE_URL", "REFERRAL_EMAIL_BACKEND", "REFERRAL_PUBLIC_BASE_URL", "SENDGRID_API_KEY"):
        monkeypatch.delenv(name, raising=False)


CASES = [
    ("backend", {"REFERRAL_EMAIL_BACKEND": "smtp"}, {},
     "REFERRAL_EMAIL_BACKEND (environment or .env) is 'smtp': use 'outbox' (writes .eml files) or 'sendgrid'"),
    ("url from the environment", {"REFERRAL_DATABASE_URL": "referral.db"}, {},
     "REFERRAL_DATABASE_URL (environment or .env) is 'referral.db': not a database URL: write it like "
     "sqlite:///referral.db or postgresql+psycopg://user@host:5432/referral"),
    ("url from the option, password hidden", {}, {"database_url": "postgres://ada:s3cret@host:port/db"},
     "--database-url is 'postgres://ada:***@host:port/db': not a database URL: write it like "
     "sqlite:///referral.db or postgresql+psycopg://user@host:5432/referral"),
    ("public base url", {"REFERRAL_PUBLIC_BASE_URL": "refer.example.com"}, {},
     "REFERRAL_PUBLIC_BASE_URL (environment or .env) is 'refer.example.com': must be an http:// or https:// "
     "address, like https://refer.example.com"),
]  # fmt: skip


@pytest.mark.parametrize(("env", "options", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_value_is_named_with_its_source(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], options: dict[str, str], message: str
) -> None:
    """It raises a SettingsError naming the variable or option, the value (no password) and what to write."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(**options)
    assert caught.value.messages == [message]
    assert "s3cret" not in str(caught.value)


def test_every_bad_value_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """It lists each bad setting, not only the first."""
    monkeypatch.setenv("REFERRAL_EMAIL_BACKEND", "smtp")
    monkeypatch.setenv("REFERRAL_PUBLIC_BASE_URL", "nowhere")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert [message.split(" ")[0] for message in caught.value.messages] == [
        "REFERRAL_EMAIL_BACKEND",
        "REFERRAL_PUBLIC_BASE_URL",
    ]


def test_a_backend_in_capitals_is_understood(monkeypatch: pytest.MonkeyPatch) -> None:
    """It reads SendGrid as sendgrid."""
    monkeypatch.setenv("REFERRAL_EMAIL_BACKEND", " SendGrid ")
    assert load_settings().email_backend == "sendgrid"


def test_options_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """It takes --database-url over REFERRAL_DATABASE_URL, and leaves what was not given alone."""
    monkeypatch.setenv("REFERRAL_DATABASE_URL", "sqlite:///env.db")
    assert load_settings(database_url="sqlite:///option.db").database_url == "sqlite:///option.db"
    assert load_settings(database_url=None).database_url == "sqlite:///env.db"
