"""Helpers for the rendering tests: the shipped config and templates, and one-call composition."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from referral_automation.config import AppConfig, Campaign, load_config
from referral_automation.domain.facts import CustomerFacts
from referral_automation.email.compose import RequestView, compose_email
from referral_automation.email.message import OutgoingEmail
from referral_automation.email.rendering.renderer import EmailRenderer
from referral_automation.email.rendering.sample import sample_customer
from tests.support import ROOT

TEMPLATES = ROOT / "templates" / "email"
CONFIG = ROOT / "config"
BASE_URL = "https://refer.example.com"
CAMPAIGN = "customer_referral"
MOMENT_AT = datetime(2025, 6, 2, 14, 5, tzinfo=UTC)


@lru_cache(maxsize=1)
def shipped_config() -> AppConfig:
    return load_config(CONFIG)


@lru_cache(maxsize=1)
def shipped_renderer() -> EmailRenderer:
    """One renderer for every test that uses the shipped templates (it compiles them all)."""
    return EmailRenderer(TEMPLATES)


def campaign() -> Campaign:
    return shipped_config().campaign(CAMPAIGN)


def request(
    *,
    variant: str = "gratitude",
    incentive: str = "give50_get50",
    rule: str = "nps_promoter",
    properties: dict[str, Any] | None = None,
    step: int = 0,
) -> RequestView:
    return RequestView(
        id="5b0c3c1e-0000-5000-8000-000000000001",
        code="Xy7-kQ2_pL9m",
        unsubscribe_token="unsub-Tok3n_abc",
        campaign=CAMPAIGN,
        variant=variant,
        incentive=incentive,
        rule_id=rule,
        moment_occurred_at=MOMENT_AT,
        moment_properties={"score": 10} if properties is None else properties,
        first_sent_at=datetime(2025, 6, 3, 9, 0, tzinfo=UTC) if step else None,
    )


def customer(**changes: Any) -> CustomerFacts:
    return dataclasses.replace(sample_customer(), **changes)


def compose(
    *,
    renderer: EmailRenderer | None = None,
    person: CustomerFacts | None = None,
    step: int = 0,
    **request_fields: Any,
) -> OutgoingEmail:
    """One email of the shipped campaign, as the send flow would compose it."""
    return compose_email(
        renderer=renderer or shipped_renderer(),
        campaign_id=CAMPAIGN,
        campaign=campaign(),
        request=request(step=step, **request_fields),
        customer=person or customer(),
        sequence_step=step,
        message_id="msg-1",
        public_base_url=BASE_URL,
    )


def copy_templates(tmp_path: Path) -> Path:
    """A writable copy of the shipped templates (to break on purpose)."""
    target = tmp_path / "templates"
    shutil.copytree(TEMPLATES, target)
    return target


def write_templates(directory: Path, files: dict[str, str]) -> Path:
    """``files`` (path relative to ``directory``: text) written under ``directory``, folders made."""
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return directory
