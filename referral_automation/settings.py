"""Settings from the environment (or ``.env``), as listed in CONTRACT.md.

Secrets are ``SecretStr`` so they never show up in a repr, a log line or an error. A value that
cannot be used is a ``SettingsError`` naming the variable (or the command-line option that gave
it) and what to write instead, never pydantic's report: ``load_settings`` is where every command
reads its settings, so a mistake is caught there, before any work starts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from referral_automation.errors import SettingsError

BACKENDS = ("outbox", "sendgrid")
DATABASE_URL_EXAMPLES = "sqlite:///referral.db or postgresql+psycopg://user@host:5432/referral"

#: Host names that only the machine itself reaches: links built on them are dead in a customer's inbox.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "[::1]"})
SENDGRID_HOST_EXAMPLE = "https://api.sendgrid.com"


def is_loopback(host: str) -> bool:
    """Whether only this machine reaches ``host`` (a URL's ``hostname``: lower case, no brackets)."""
    host = host.lower()
    return host in LOCAL_HOSTS or host.endswith(".localhost") or host.startswith("127.")


def api_host_problem(value: str) -> str | None:
    """What is wrong with ``value`` as ``SENDGRID_API_HOST``, or None.

    The client appends ``/v3/mail/send`` to it and urllib parses the result only when a message is
    sent, so a host without a scheme used to fail inside every send. It must be an absolute http(s)
    URL with a host and nothing after the path; plain http only to this machine (the fake SendGrid
    and the Prism mock of the tests), since the API key travels in every request's header.
    """
    if not value.strip():
        return f"leave it unset for the default {SENDGRID_HOST_EXAMPLE}, or write a full address like it"
    if value != value.strip():
        return f"has spaces or a line break around it: write it like {SENDGRID_HOST_EXAMPLE}"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return f"is not a URL (a bad port or address): write it like {SENDGRID_HOST_EXAMPLE}"
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return f"must start with https:// (write it like {SENDGRID_HOST_EXAMPLE})"
    if not parts.hostname or port == 0 or any(ch.isspace() or not ch.isprintable() for ch in value):
        return f"has no usable host name: write it like {SENDGRID_HOST_EXAMPLE}"
    if parts.query or parts.fragment or "?" in value or "#" in value:
        return f"must not have a ?query or #fragment: write it like {SENDGRID_HOST_EXAMPLE}"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user or password (the API key is sent as a bearer token)"
    if parts.scheme.lower() == "http" and not is_loopback(parts.hostname):
        return "must use https:// (the API key is in every request; plain http only to localhost, for tests)"
    return None


def api_key_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a SendGrid API key, or None; never the key itself.

    A key goes into the ``Authorization`` header as it is, where a line break or control character
    makes the request unbuildable and a space makes SendGrid refuse it. Stripping the whitespace
    would work for the common case (a key pasted with its newline), but it would hide a mistake
    that is often a sign of a wrong copy (half a key, two keys, a quoted value), and the same key
    then behaves differently in other tools: so it is refused, saying exactly what to fix.
    """
    if not value.strip():
        return "is only spaces or line breaks: copy the key again from SendGrid's API Keys page"
    if value.rstrip(" \t") != value.rstrip():
        return "ends with a line break (copy it again without the newline)"
    if value != value.rstrip():
        return "ends with a space (copy it again without it)"
    if value != value.lstrip():
        return "starts with a space or line break (copy it again without it)"
    if any(ch.isspace() for ch in value):
        return "has a space or line break inside it (a key is one word: copy it again)"
    if not value.isprintable() or not value.isascii():
        return "has a control or non-ASCII character in it (copy it again from SendGrid's API Keys page)"
    return None


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
    #: Signs unsubscribe links and reply addresses and keys the hash of a clicking IP. Unset: a key
    #: generated once and kept in the database, so the send flow and the web app share it.
    secret_key: SecretStr | None = Field(None, validation_alias="REFERRAL_SECRET_KEY")
    #: The Inbound Parse address replies go to (``reply@in.example.com``): each email's Reply-To
    #: becomes ``reply+<signed request token>@in.example.com``. Unset: the campaign's reply-to.
    reply_address: str | None = Field(None, validation_alias="REFERRAL_REPLY_ADDRESS")
    #: Development only: accept unsigned Event Webhook posts while no public key is configured.
    webhook_allow_unsigned: bool = Field(False, validation_alias="REFERRAL_WEBHOOK_ALLOW_UNSIGNED")
    #: A signed Event Webhook post older (or newer) than this is a replay and refused.
    webhook_replay_window_seconds: int = Field(300, ge=1, le=86400, validation_alias="REFERRAL_WEBHOOK_REPLAY_WINDOW")
    #: Largest webhook body accepted (Event Webhook batches, Inbound Parse posts with attachments).
    web_max_body_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024, validation_alias="REFERRAL_WEB_MAX_BODY_BYTES"
    )
    #: Days a reward stays pending after its conversion (a refund inside the window cancels it).
    refund_window_days: int = Field(30, ge=0, le=3650, validation_alias="REFERRAL_REFUND_WINDOW_DAYS")
    #: Currency of a conversion's value when the caller names none (ISO 4217).
    default_currency: str = Field("USD", pattern=r"^[A-Z]{3}$", validation_alias="REFERRAL_DEFAULT_CURRENCY")

    def public_url_warning(self) -> str | None:
        """Why links in emails sent through SendGrid would not work, or ``None``."""
        if self.email_backend != "sendgrid":
            return None
        host = urlsplit(self.public_base_url).hostname or ""
        if is_loopback(host):
            return (
                f"REFERRAL_PUBLIC_BASE_URL is {self.public_base_url}: the referral, unsubscribe and tracking links "
                "in these emails point at this machine and will not work for customers"
            )
        return None

    @field_validator("email_backend", mode="before")
    @classmethod
    def _known_backend(cls, value: Any) -> Any:
        choice = value.strip().lower() if isinstance(value, str) else value
        if choice not in BACKENDS:
            raise ValueError("use 'outbox' (writes .eml files) or 'sendgrid'")
        return choice

    @field_validator("sendgrid_api_key", "sendgrid_webhook_public_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """``SENDGRID_API_KEY=`` in a ``.env`` means "not here" (the key may be in a Prefect Secret block)."""
        return None if value == "" else value

    @field_validator("sendgrid_api_host")
    @classmethod
    def _usable_api_host(cls, value: str, info: ValidationInfo) -> str:
        """Checked only with the sendgrid backend (the outbox never reads it); a trailing slash is dropped."""
        if info.data.get("email_backend") != "sendgrid":
            return value
        problem = api_host_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value.rstrip("/")

    @field_validator("sendgrid_api_key")
    @classmethod
    def _usable_api_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        """Checked only with the sendgrid backend; the message names the mistake, never the key."""
        if value is None or info.data.get("email_backend") != "sendgrid":
            return value
        problem = api_key_problem(value.get_secret_value())
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("database_url")
    @classmethod
    def _parsable_url(cls, value: str) -> str:
        """Only the URL's syntax: whether its database kind and driver exist is ``db.session``'s to say."""
        try:
            make_url(value)
        except (ArgumentError, ValueError):  # a bad port is a ValueError
            raise ValueError(f"not a database URL: write it like {DATABASE_URL_EXAMPLES}") from None
        return value

    @field_validator("public_base_url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        """Every referral, unsubscribe and tracking link starts with it: a bad one breaks every email."""
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// address, like https://refer.example.com")
        return value


#: Settings whose values are never repeated in a message.
SECRETS = frozenset(
    {
        "SENDGRID_API_KEY",
        "SENDGRID_WEBHOOK_PUBLIC_KEY",
        "REFERRAL_API_TOKEN",
        "REFERRAL_INBOUND_TOKEN",
        "REFERRAL_SECRET_KEY",
    }
)
#: The option a command-line override comes from (every command takes these two).
OPTIONS = {"database_url": "--database-url", "config_dir": "--config-dir"}


def load_settings(**overrides: object) -> Settings:
    """Read the environment, then apply command-line overrides that were given (not None).

    Overrides are validated like the environment's values, and a ``SettingsError`` names where
    each bad value came from.
    """
    given = {name: value for name, value in overrides.items() if value is not None}
    aliases = {name: _alias(name) for name in given}
    values: dict[str, Any] = {aliases[name]: value for name, value in given.items()}
    try:
        return Settings(**values)
    except ValidationError as error:
        origins = {alias: OPTIONS.get(name, alias) for name, alias in aliases.items()}
        raise SettingsError([_message(item, origins) for item in error.errors()]) from None


def _alias(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias
    assert isinstance(alias, str)
    return alias


def _message(item: Any, origins: dict[str, str]) -> str:
    """``REFERRAL_EMAIL_BACKEND is 'smtp': use 'outbox' …``: the source, the value as given, what to do."""
    name = str(item["loc"][0]) if item["loc"] else "settings"
    source = origins.get(name, f"{name} (environment or .env)")
    reason = item["msg"].removeprefix("Value error, ")
    secret = name in SECRETS
    shown = _masked(item["input"]) if isinstance(item["input"], str) and not secret else None
    return f"{source} is {shown!r}: {reason}" if shown is not None else f"{source}: {reason}"


def _masked(text: str) -> str:
    """A URL's password replaced by ``***`` (``user:secret@host``), even in a URL that does not parse."""
    return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", text)
