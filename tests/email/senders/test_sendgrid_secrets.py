"""The API key: from the environment or a Prefect Secret block, never in errors or logs."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from referral_automation.email.senders.sendgrid import SendGridSender, resolve_api_key, scrub
from referral_automation.email.senders.sendgrid_fake import FakeSendGrid
from referral_automation.errors import ConfigError, DeliveryError, SettingsError
from referral_automation.settings import Settings
from tests.support.sendgrid import API_KEY, FakeClock, closed_port_url, fast_sender, sample_email


def test_key_is_sent_but_never_logged(fake: FakeSendGrid, caplog: pytest.LogCaptureFixture) -> None:
    """It authenticates with the key while no log record, even at DEBUG, contains it."""
    caplog.set_level(logging.DEBUG)
    fake.plan("unavailable", "bad_request")
    with pytest.raises(DeliveryError):
        fast_sender(fake.url, FakeClock()).send(sample_email())
    fast_sender(fake.url).send(sample_email("req-2"))
    assert fake.received[0].authorization == f"Bearer {API_KEY}"
    assert any("HEADERS" in record.getMessage() for record in caplog.records)  # the library did log its headers
    assert API_KEY not in caplog.text
    assert "secretpart" not in caplog.text


@pytest.mark.parametrize("behaviour", ["unavailable", "bad_request", "unauthorized", "cut_after_accept"])
def test_key_never_in_error_messages(fake: FakeSendGrid, behaviour: str) -> None:
    """It keeps the key out of every delivery error, whatever went wrong."""
    fake.default = behaviour  # type: ignore[assignment]
    (outcome,) = fast_sender(fake.url, FakeClock(), max_attempts=2).send_many([sample_email()])
    assert isinstance(outcome, DeliveryError)
    assert API_KEY not in str(outcome)
    assert API_KEY not in repr(outcome)


def test_key_never_in_connection_errors() -> None:
    """It keeps the key out of the error of a refused connection."""
    (outcome,) = fast_sender(closed_port_url(), FakeClock(), max_attempts=1).send_many([sample_email()])
    assert isinstance(outcome, DeliveryError)
    assert API_KEY not in str(outcome)


def test_sender_repr_hides_the_key() -> None:
    """It shows no key in its repr."""
    assert API_KEY not in repr(SendGridSender(SecretStr(API_KEY)))


def test_scrub_removes_keys_and_bearer_tokens() -> None:
    """It redacts a given secret, bearer tokens and SendGrid-shaped keys."""
    text = f"Authorization: Bearer abc.def key={API_KEY} other=SG.a1.b2 mine=hunter2"
    cleaned = scrub(text, "hunter2")
    assert "abc.def" not in cleaned
    assert "SG.a1.b2" not in cleaned
    assert API_KEY not in cleaned
    assert "hunter2" not in cleaned


def test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """It takes SENDGRID_API_KEY from the environment first."""
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
    assert resolve_api_key(Settings()).get_secret_value() == API_KEY


def test_key_from_a_prefect_secret_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """It loads the Prefect Secret block sendgrid-api-key when the environment has no key."""
    from prefect.blocks.system import Secret

    loaded: list[str] = []

    def load(name: str) -> Secret:
        loaded.append(name)
        return Secret(value="SG.fromblock.value")

    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    monkeypatch.setattr(Secret, "load", staticmethod(load))
    assert resolve_api_key(Settings(_env_file=None)).get_secret_value() == "SG.fromblock.value"  # type: ignore[call-arg]
    assert loaded == ["sendgrid-api-key"]


def test_no_key_anywhere_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """It names both places to put the key when neither has one."""
    from prefect.blocks.system import Secret

    def load(name: str) -> Secret:
        raise ValueError(f"Unable to find block document named {name}")

    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    monkeypatch.setattr(Secret, "load", staticmethod(load))
    with pytest.raises(ConfigError) as caught:
        resolve_api_key(Settings(_env_file=None))  # type: ignore[call-arg]
    message = str(caught.value)
    assert message.startswith("SENDGRID_API_KEY: ")
    assert "sendgrid-api-key" in message
    assert "Unable to find block document" in message


def test_api_host_from_settings(fake: FakeSendGrid, monkeypatch: pytest.MonkeyPatch) -> None:
    """It sends to SENDGRID_API_HOST (a trailing slash is fine)."""
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
    monkeypatch.setenv("SENDGRID_API_HOST", fake.url + "/")
    sender = SendGridSender.from_settings(Settings())
    assert sender.send(sample_email()).provider_message_id
    assert fake.accepted_total == 1


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("environment", "SENDGRID_API_KEY ends with a line break (copy it again without the newline)"),
        ("block", "the Prefect Secret block 'sendgrid-api-key' (the SendGrid API key) ends with a line break "
                  "(copy it again without the newline)"),
    ],
)  # fmt: skip
def test_a_key_with_a_newline_is_refused_wherever_it_comes_from(
    monkeypatch: pytest.MonkeyPatch, source: str, message: str
) -> None:
    """It refuses a key ending in a newline, from the environment (even when the settings did not check
    it: another backend chosen) or from the Prefect Secret block, naming where it came from, not the key."""
    from prefect.blocks.system import Secret

    if source == "block":
        monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
        monkeypatch.setattr(Secret, "load", staticmethod(lambda name: Secret(value=API_KEY + "\n")))
    else:
        monkeypatch.setenv("SENDGRID_API_KEY", API_KEY + "\n")
    with pytest.raises(SettingsError) as caught:
        resolve_api_key(Settings(_env_file=None))  # type: ignore[call-arg]
    assert caught.value.messages == [message]
    assert "secretpart" not in str(caught.value)
