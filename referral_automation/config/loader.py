"""Reading ``config/``: every file validated, every problem reported as ``path:line: message``.

``load_config`` reads ``events.yaml``, ``triggers.yaml``, ``campaigns.yaml`` and (if present)
``delivery.yaml``, and either returns an ``AppConfig`` or raises ``ConfigError`` listing every
problem of every file, each at the line of the offending YAML node; the cross-file checks
(``checks``) run once every file is valid on its own. Their warnings (a rule that can never match)
stop nothing: they ride on the config (``AppConfig.warnings``) for ``validate`` to print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from referral_automation.config.base import WITHIN, Strict
from referral_automation.config.checks import cross_check
from referral_automation.config.conditions import UNION_TAGS
from referral_automation.config.models import AppConfig, CampaignsConfig, DeliveryConfig, EventsConfig, TriggersConfig
from referral_automation.config.source import Location, YamlDocument, load_yaml
from referral_automation.errors import ConfigError, Problem

#: The files every workspace has, and their models (``delivery.yaml`` is optional).
FILES: dict[str, type[Strict]] = {
    "events": EventsConfig,
    "triggers": TriggersConfig,
    "campaigns": CampaignsConfig,
}


def _problems_from(doc: YamlDocument, error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc: Location = tuple(part for part in item["loc"] if part not in UNION_TAGS)
        loc = (*loc, *item.get("ctx", {}).get(WITHIN, ()))
        where = ".".join(str(part) for part in loc) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}"
            where = ".".join(str(part) for part in loc[:-1]) or "(top level)"
        problems.append(doc.problem(loc, f"{where}: {message}"))
    return problems


def load_file(path: Path, model: type[BaseModel]) -> tuple[YamlDocument, Any]:
    """Load one YAML (or JSON) file into ``model``; raise ``ConfigError`` with every problem in it."""
    doc = load_yaml(path)
    try:
        return doc, model.model_validate(doc.data)
    except ValidationError as error:
        raise ConfigError(_problems_from(doc, error)) from error


def load_delivery_config(config_dir: Path) -> DeliveryConfig:
    """``delivery.yaml`` alone (its defaults when absent), for a sender made without the whole config."""
    path = config_dir / "delivery.yaml"
    if not path.exists():
        return DeliveryConfig()
    delivery: DeliveryConfig = load_file(path, DeliveryConfig)[1]
    return delivery


def load_config(config_dir: Path) -> AppConfig:
    """Load and cross-check the whole configuration, collecting problems from every file."""
    if not config_dir.is_dir():  # one line, not one "cannot read" per file
        files = ", ".join(f"{name}.yaml" for name in FILES)
        raise ConfigError([Problem(str(config_dir), None, f"no such folder: give --config-dir the folder of {files}")])
    problems: list[Problem] = []
    docs: dict[str, YamlDocument] = {}
    parts: dict[str, Any] = {}
    for name, model in FILES.items():
        try:
            docs[name], parts[name] = load_file(config_dir / f"{name}.yaml", model)
        except ConfigError as error:
            problems.extend(error.problems)
    if (config_dir / "delivery.yaml").exists():  # optional: DeliveryConfig's defaults otherwise
        try:
            docs["delivery"], parts["delivery"] = load_file(config_dir / "delivery.yaml", DeliveryConfig)
        except ConfigError as error:
            problems.extend(error.problems)
    if problems:
        raise ConfigError(problems)
    config = AppConfig(**parts)
    problems = cross_check(config, docs)
    if any(problem.severity == "error" for problem in problems):
        raise ConfigError(problems)
    return config.with_warnings(problems)
