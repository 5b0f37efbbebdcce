"""Settings: every value that cannot be used is named, with where it came from and what to write."""

from __future__ import annotations

import pytest

from referral_automation.errors import SettingsError
from referral_automation.settings import load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No REFERRAL_* variable and no .env of the developer's leak into these tests."""
    monkeypatch.chdir(tmp_path_factory.mktemp("settings"))
    for name in (
        "REFERRAL_DATABASE_URL",
        "REFERRAL_EMAIL_BACKEND",
        "REFERRAL_PUBLIC_BASE_URL",
        "SENDGRID_API_KEY",
        "SENDGRID_API_HOST",
        "SENDGRID_WEBHOOK_PUBLIC_KEY",
    ):
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


HOST = "SENDGRID_API_HOST (environment or .env) is"
KEY = "SENDGRID_API_KEY (environment or .env):"
SENDGRID_CASES = [
    ("host without a scheme", {"SENDGRID_API_HOST": "api.sendgrid.com"},
     f"{HOST} 'api.sendgrid.com': must start with https:// (write it like https://api.sendgrid.com)"),
    ("empty host", {"SENDGRID_API_HOST": ""},
     f"{HOST} '': leave it unset for the default https://api.sendgrid.com, or write a full address like it"),
    ("ftp host", {"SENDGRID_API_HOST": "ftp://api.sendgrid.com"},
     f"{HOST} 'ftp://api.sendgrid.com': must start with https:// (write it like https://api.sendgrid.com)"),
    ("host with a query", {"SENDGRID_API_HOST": "https://api.sendgrid.com?region=eu"},
     f"{HOST} 'https://api.sendgrid.com?region=eu': must not have a ?query or #fragment: write it like "
     "https://api.sendgrid.com"),
    ("host with a fragment", {"SENDGRID_API_HOST": "https://api.sendgrid.com/#v3"},
     f"{HOST} 'https://api.sendgrid.com/#v3': must not have a ?query or #fragment: write it like "
     "https://api.sendgrid.com"),
    ("plain http to another machine", {"SENDGRID_API_HOST": "http://api.sendgrid.com"},
     f"{HOST} 'http://api.sendgrid.com': must use https:// (the API key is in every request; plain http only to "
     "localhost, for tests)"),
    ("host with a newline", {"SENDGRID_API_HOST": "https://api.sendgrid.com\n"},
     f"{HOST} 'https://api.sendgrid.com\\n': has spaces or a line break around it: write it like "
     "https://api.sendgrid.com"),
    ("host with a bad port", {"SENDGRID_API_HOST": "https://api.sendgrid.com:44x"},
     f"{HOST} 'https://api.sendgrid.com:44x': is not a URL (a bad port or address): write it like "
     "https://api.sendgrid.com"),
    ("key with a trailing newline", {"SENDGRID_API_KEY": "SG.s3cret.value\n"},
     f"{KEY} ends with a line break (copy it again without the newline)"),
    ("key with a trailing CRLF", {"SENDGRID_API_KEY": "SG.s3cret.value\r\n"},
     f"{KEY} ends with a line break (copy it again without the newline)"),
    ("key with an inner space", {"SENDGRID_API_KEY": "SG.s3cret value"},
     f"{KEY} has a space or line break inside it (a key is one word: copy it again)"),
    ("key with a leading space", {"SENDGRID_API_KEY": " SG.s3cret.value"},
     f"{KEY} starts with a space or line break (copy it again without it)"),
    ("key of spaces", {"SENDGRID_API_KEY": " \n"},
     f"{KEY} is only spaces or line breaks: copy the key again from SendGrid's API Keys page"),
    ("key with a control character", {"SENDGRID_API_KEY": "SG.s3cret\x07value"},
     f"{KEY} has a control or non-ASCII character in it (copy it again from SendGrid's API Keys page)"),
]  # fmt: skip


@pytest.mark.parametrize(("env", "message"), [c[1:] for c in SENDGRID_CASES], ids=[c[0] for c in SENDGRID_CASES])
def test_a_sendgrid_setting_that_would_break_every_send_is_refused(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    """It refuses, with the sendgrid backend, a host or key the client could not build a request from
    (or should not send the key to), saying what is wrong and never showing the key."""
    monkeypatch.setenv("REFERRAL_EMAIL_BACKEND", "sendgrid")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.messages == [message]
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("https://api.sendgrid.com/", "https://api.sendgrid.com"),
        ("https://proxy.example.com/sendgrid/", "https://proxy.example.com/sendgrid"),
        ("http://127.0.0.1:4010", "http://127.0.0.1:4010"),
        ("http://localhost:8025/", "http://localhost:8025"),
        ("HTTPS://API.SENDGRID.COM", "HTTPS://API.SENDGRID.COM"),
    ],
)
def test_a_usable_sendgrid_host_is_kept_without_its_trailing_slash(
    monkeypatch: pytest.MonkeyPatch, given: str, used: str
) -> None:
    """It accepts https anywhere and plain http to this machine (the fake SendGrid, the Prism mock)."""
    monkeypatch.setenv("REFERRAL_EMAIL_BACKEND", "sendgrid")
    monkeypatch.setenv("SENDGRID_API_HOST", given)
    assert load_settings().sendgrid_api_host == used


def test_the_outbox_backend_ignores_sendgrid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """It leaves SendGrid's settings unchecked with the outbox backend, which never reads them."""
    monkeypatch.setenv("SENDGRID_API_HOST", "api.sendgrid.com")
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.key.value\n")
    assert load_settings().email_backend == "outbox"


@pytest.mark.parametrize("name", ["SENDGRID_API_KEY", "SENDGRID_WEBHOOK_PUBLIC_KEY"])
def test_an_empty_key_is_no_key(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """It reads ``NAME=`` (a .env line left empty) as not set: the sendgrid backend then looks for the
    Prefect Secret block, and the web app says the webhook key is missing, as for an unset one."""
    monkeypatch.setenv("REFERRAL_EMAIL_BACKEND", "sendgrid")
    monkeypatch.setenv(name, "")
    settings = load_settings()
    assert (settings.sendgrid_api_key, settings.sendgrid_webhook_public_key) == (None, None)
