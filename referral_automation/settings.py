"""Settings from the environment (or ``.env``), as listed in CONTRACT.md.

Secrets are ``SecretStr`` so they never show up in a repr, a log line or an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the engine reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field("sqlite:///referral.db", validation_alias="REFERRAL_DATABASE_URL")
    config_dir: Path = Field(Path("config"), validation_alias="REFERRAL_CONFIG_DIR")
    templates_dir: Path = Field(Path("templates/email"), validation_alias="REFERRAL_TEMPLATES_DIR")
    email_backend: Literal["outbox", "sendgrid"] = Field("outbox", validation_alias="REFERRAL_EMAIL_BACKEND")
    outbox_dir: Path = Field(Path("outbox"), validation_alias="REFERRAL_OUTBOX_DIR")
    sendgrid_api_key: SecretStr | None = Field(None, validation_alias="SENDGRID_API_KEY")
    sendgrid_api_host: str = Field("https://api.sendgrid.com", validation_alias="SENDGRID_API_HOST")
    sendgrid_webhook_public_key: SecretStr | None = Field(None, validation_alias="SENDGRID_WEBHOOK_PUBLIC_KEY")
    public_base_url: str = Field("http://localhost:8000", validation_alias="REFERRAL_PUBLIC_BASE_URL")
    api_token: SecretStr | None = Field(None, validation_alias="REFERRAL_API_TOKEN")
    inbound_token: SecretStr | None = Field(None, validation_alias="REFERRAL_INBOUND_TOKEN")


def load_settings(**overrides: object) -> Settings:
    """Read the environment, then apply command-line overrides that were given (not None)."""
    settings = Settings()
    given = {key: value for key, value in overrides.items() if value is not None}
    return settings.model_copy(update=given) if given else settings
