"""``validate``: everything a marketer edits, checked at once, every problem reported."""

from __future__ import annotations

from referral_automation.config import AppConfig, load_config
from referral_automation.errors import ConfigError, Problem
from referral_automation.settings import Settings


def validate_workspace(settings: Settings) -> AppConfig:
    """Load the config and check the templates it names; raise ``ConfigError`` with every problem."""
    config = load_config(settings.config_dir)
    problems: list[Problem] = []
    problems += template_problems(config, settings)
    if problems:
        raise ConfigError(problems)
    return config


def template_problems(config: AppConfig, settings: Settings) -> list[Problem]:
    """Problems in the email templates the campaigns name (compiled and rendered with a sample)."""
    from referral_automation.email.rendering.validation import check_templates

    problems: list[Problem] = check_templates(config, settings.templates_dir)
    return problems
