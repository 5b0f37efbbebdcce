"""Golden files: the shipped templates rendered for fixed inputs, compared byte for byte.

A change to the copy, the layout or the renderer shows up here as a diff of the files under
tests/email/golden/. After checking the diff is what you meant, regenerate them with
``UPDATE_GOLDEN=1 .venv/bin/pytest tests/email/rendering/test_golden.py``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from referral_automation.email.senders.outbox import render_eml
from tests.support.render import compose, customer

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

CASES: dict[str, dict[str, Any]] = {
    "gratitude-en-nps": {"variant": "gratitude"},
    "social_proof-en-support-donation": {
        "variant": "social_proof",
        "incentive": "donation",
        "rule": "delighted_support",
        "properties": {"csat": 5, "ticket_id": "T-1042"},
    },
    "direct_ask-en-milestone": {
        "variant": "direct_ask",
        "rule": "milestone",
        "properties": {"name": "1,000th invoice sent"},
    },
    "follow_up-en-step1": {"variant": "gratitude", "step": 1},
    "follow_up-en-step2-tenure": {"variant": "social_proof", "step": 2, "rule": "settled_in", "properties": {}},
    "gratitude-de-nps": {"variant": "gratitude", "person": customer(locale="de")},
    "follow_up-de-step2": {"variant": "gratitude", "step": 2, "person": customer(locale="de-AT")},
}
PARTS = {
    "subject": lambda email: email.subject + "\n",
    "txt": lambda email: email.text,
    "html": lambda email: email.html,
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("part", sorted(PARTS))
def test_rendered_email_matches_golden_file(case: str, part: str) -> None:
    """It renders each part exactly as the reviewed golden file has it."""
    rendered = PARTS[part](compose(**CASES[case]))
    path = GOLDEN / f"{case}.{part}"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run UPDATE_GOLDEN=1 .venv/bin/pytest {__file__}"
    assert rendered == path.read_text(encoding="utf-8"), f"{path} differs (UPDATE_GOLDEN=1 regenerates it)"


@pytest.mark.parametrize("case", ["gratitude-de-nps", "social_proof-en-support-donation"])
def test_outbox_file_matches_golden_file(case: str) -> None:
    """It writes each email's ``.eml`` byte for byte as the reviewed golden file has it (headers,
    boundaries, quoted-printable text, base64 HTML and its line breaks)."""
    rendered = render_eml(compose(**CASES[case]), date=datetime(2026, 3, 4, 10, 0, tzinfo=UTC))
    path = GOLDEN / f"{case}.eml"
    if UPDATE:
        path.write_bytes(rendered)
    assert path.exists(), f"{path} is missing: run UPDATE_GOLDEN=1 .venv/bin/pytest {__file__}"
    assert rendered == path.read_bytes(), f"{path} differs (UPDATE_GOLDEN=1 regenerates it)"
