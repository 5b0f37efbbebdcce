"""A small valid configuration as YAML text, and helpers to break it one edit at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from referral_automation.config import load_config
from referral_automation.errors import ConfigError, Problem

EVENTS = """\
event_types:
  nps_submitted:
    properties:
      score: {type: integer, min: 0, max: 10}
  ticket_opened:
    properties:
      ticket_id: {type: string}
  ticket_resolved:
    properties:
      ticket_id: {type: string}
      csat: {type: integer, min: 1, max: 5}
  milestone_reached:
    properties:
      name: {type: string}
"""

TRIGGERS = """\
rules:
  - id: nps_promoter
    event: nps_submitted
    when:
      property: score
      gte: 9
    priority: 30
    campaign: customer_referral
  - id: delighted_support
    event: ticket_resolved
    when:
      all:
        - {property: csat, gte: 4}
        - {customer: plan, ne: free}
    priority: 20
    campaign: customer_referral
  - id: settled_in
    after:
      days: 120
    priority: 5
    campaign: customer_referral
guards:
  tenure:
    min_days: 90
  detractor:
    lookback_days: 30
    signals:
      - event: nps_submitted
        when: {property: score, lte: 6}
      - event: ticket_opened
        unresolved_by: ticket_resolved
        match_property: ticket_id
"""

CAMPAIGNS = """\
campaigns:
  customer_referral:
    kind: customer
    name: Customer referral program
    sender:
      email: referrals@example.com
    landing_page: https://example.com/referral
    variants:
      - id: gratitude
        template: customer_referral/gratitude
      - id: direct_ask
        template: customer_referral/direct_ask
    incentives:
      - id: give50_get50
        sides: double
        referrer: {kind: credit, value: 50, currency: USD}
        referee: {kind: discount_percent, value: 20}
        cost: 150
        text: You get $50 and they get 20% off.
      - id: donation
        sides: single
        referrer: {kind: donation, value: 25, currency: USD}
        cost: 25
        text: We donate $25.
    send_window:
      days: [mon, tue, wed, thu, fri]
      start: "09:00"
      end: "17:00"
"""

BASE = {"events.yaml": EVENTS, "triggers.yaml": TRIGGERS, "campaigns.yaml": CAMPAIGNS}


def write_config(directory: Path, *edits: tuple[str, str, str]) -> Path:
    """The base config with ``(file, old, new)`` text replacements (each old text must occur once)."""
    texts = dict(BASE)
    for name, old, new in edits:
        assert texts[name].count(old) == 1, f"{old!r} must occur once in {name}"
        texts[name] = texts[name].replace(old, new)
    for name, text in texts.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def problems_of(directory: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_config(directory)
    return caught.value.problems


def line_of(path: Path, marker: str) -> int:
    """The 1-based line of the first line containing ``marker``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if marker in line)
