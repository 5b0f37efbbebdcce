"""The ``referral-automation`` command line: thin commands that parse, call a service, print.

Each command group lives in its own module and registers itself on ``app`` (``cli.app``) when
imported below.
"""

from __future__ import annotations

# Command modules register themselves on ``app`` when imported (kept sorted).
from referral_automation.cli import approvals as _approvals  # noqa: F401
from referral_automation.cli import audit as _audit  # noqa: F401
from referral_automation.cli import bandit as _bandit  # noqa: F401
from referral_automation.cli import customers as _customers  # noqa: F401
from referral_automation.cli import demo as _demo  # noqa: F401
from referral_automation.cli import ingest as _ingest  # noqa: F401
from referral_automation.cli import preview as _preview  # noqa: F401
from referral_automation.cli import referrals as _referrals  # noqa: F401
from referral_automation.cli import requests as _requests  # noqa: F401
from referral_automation.cli import responses as _responses  # noqa: F401
from referral_automation.cli import run as _run  # noqa: F401
from referral_automation.cli import sendgrid_events as _sendgrid_events  # noqa: F401
from referral_automation.cli import setup as _setup  # noqa: F401
from referral_automation.cli import simulate as _simulate  # noqa: F401
from referral_automation.cli import suppressions as _suppressions  # noqa: F401
from referral_automation.cli import web as _web  # noqa: F401
from referral_automation.cli.app import app


def main() -> None:
    app()
