"""delivery.yaml: optional, defaults when absent, path:line errors when wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from referral_automation.config import DeliveryConfig, load_config
from referral_automation.errors import ConfigError


def test_shipped_delivery_config_loads(config_dir: Path) -> None:
    """It loads the shipped delivery.yaml, whose values are the defaults."""
    assert load_config(config_dir).delivery == DeliveryConfig()


def test_absent_delivery_file_gives_defaults(config_dir: Path, tmp_path: Path) -> None:
    """It uses the defaults when delivery.yaml is absent (a one-day reconcile window, sandbox off)."""
    workspace = tmp_path / "config"
    shutil.copytree(config_dir, workspace)
    (workspace / "delivery.yaml").unlink()
    delivery = load_config(workspace).delivery.sendgrid
    assert delivery.reconcile_window_minutes == 24 * 60
    assert delivery.email_activity_api is False
    assert delivery.sandbox_mode is False


def test_bad_delivery_value_is_reported_with_its_line(config_dir: Path, tmp_path: Path) -> None:
    """It reports a bad value and an unknown key in delivery.yaml as path:line."""
    workspace = tmp_path / "config"
    shutil.copytree(config_dir, workspace)
    (workspace / "delivery.yaml").write_text("sendgrid:\n  concurrency: 0\n  trackin: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(workspace)
    lines = str(caught.value).splitlines()
    assert f"{workspace / 'delivery.yaml'}:2: sendgrid.concurrency: Input should be greater than or equal to 1" in lines
    assert f"{workspace / 'delivery.yaml'}:3: sendgrid: unknown key 'trackin'" in lines


def test_sendgrid_backend_is_made_from_settings_and_delivery_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It builds the SendGrid sender for REFERRAL_EMAIL_BACKEND=sendgrid with delivery.yaml's settings."""
    from referral_automation.email.senders import make_sender
    from referral_automation.email.senders.sendgrid import SendGridSender
    from referral_automation.settings import Settings

    (tmp_path / "delivery.yaml").write_text("sendgrid:\n  concurrency: 7\n  sandbox_mode: true\n")
    monkeypatch.setenv("REFERRAL_EMAIL_BACKEND", "sendgrid")
    monkeypatch.setenv("REFERRAL_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.unit.test")
    sender = make_sender(Settings())
    assert isinstance(sender, SendGridSender)
    assert (sender.config.concurrency, sender.config.sandbox_mode) == (7, True)
    assert make_sender(Settings(), DeliveryConfig()).config.concurrency == 32  # type: ignore[attr-defined]
