"""``validate``: everything a marketer edits, checked at once, every problem reported."""

from __future__ import annotations

from referral_automation.config import AppConfig, load_config
from referral_automation.config.source import load_yaml
from referral_automation.errors import ConfigError, Problem
from referral_automation.settings import Settings


def validate_workspace(settings: Settings) -> AppConfig:
    """Load the config and check the templates it names; raise ``ConfigError`` with every problem.

    Warnings (config's and templates') stop nothing: they ride on the returned config
    (``AppConfig.warnings``), or beside the errors in the ``ConfigError``.
    """
    config = load_config(settings.config_dir)
    problems = template_problems(config, settings)
    if any(problem.severity == "error" for problem in problems):
        raise ConfigError([*config.warnings, *problems])
    return config.with_warnings([*config.warnings, *problems])


def template_problems(config: AppConfig, settings: Settings) -> list[Problem]:
    """Problems in the email templates the campaigns name (compiled and rendered with a sample),
    and warnings: parts that drift apart, locales some templates or incentives lack."""
    from referral_automation.email.rendering.validation import check_templates

    campaigns = load_yaml(settings.config_dir / "campaigns.yaml")  # read again for the lines of its incentives
    problems: list[Problem] = check_templates(config, settings.templates_dir, campaigns=campaigns)
    return problems
