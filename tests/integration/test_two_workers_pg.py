"""Two `run send` processes on one PostgreSQL database, through a fake SendGrid: every message once.

The fake counts what it accepted per (referral request, sequence step). Both workers claim from the
same 2,000 due requests (``FOR UPDATE SKIP LOCKED``); SendGrid's rate limit in the copied config is
low enough that neither can finish alone before the other has started, and each reports what it sent.
Both talk to one Prefect server started here, as in production (two temporary servers would cost
each worker half a minute of start-up on two cores).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from referral_automation.db.models import Customer, Message, Moment, ReferralRequest
from referral_automation.db.session import session_factory
from referral_automation.domain import identity
from referral_automation.email.senders.sendgrid_fake import FakeSendGrid
from tests.support import ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

#: A Wednesday, 10:00 UTC: inside every customer's send window.
NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
REQUESTS = 2000
CLI = Path(sys.executable).with_name("referral-automation")


def seed(url: str, count: int) -> list[str]:
    """``count`` customers in UTC, each with one due referral request; the request ids."""
    customers, moments, requests = [], [], []
    variants, incentives = ("gratitude", "social_proof", "direct_ask"), ("give50_get50", "donation")
    for n in range(count):
        customer_id = f"w{n:05d}"
        moment = identity.moment_id(customer_id, "milestone", f"two-workers-{n}")
        customers.append(
            {"customer_id": customer_id, "email": f"{customer_id}@example.com", "first_name": f"Name{n}",
             "last_name": "Worker", "company": "Acme", "plan": "team", "lifetime_value": Decimal(1000),
             "first_purchase_at": NOW - timedelta(days=400), "timezone": "UTC", "locale": "en",
             "marketing_opt_in": True, "created_at": NOW, "updated_at": NOW}
        )  # fmt: skip
        moments.append(
            {"id": moment, "customer_id": customer_id, "rule_id": "milestone", "source_key": f"two-workers-{n}",
             "event_seq": None, "occurred_at": NOW - timedelta(hours=2), "detected_at": NOW, "priority": 10,
             "campaign": "customer_referral", "outcome": "requested"}
        )  # fmt: skip
        requests.append(
            {"id": identity.request_id(moment), "customer_id": customer_id, "moment_id": moment,
             "campaign": "customer_referral", "variant": variants[n % 3], "incentive": incentives[n % 2],
             "code": f"tw{n:010d}", "unsubscribe_token": f"tu{n:010d}", "status": "scheduled",
             "scheduled_for": NOW - timedelta(minutes=n % 60), "created_at": NOW, "updated_at": NOW}
        )  # fmt: skip
    with session_factory(url)() as session, session.begin():
        session.execute(insert(Customer), customers)
        session.execute(insert(Moment), moments)
        session.execute(insert(ReferralRequest), requests)
    return [row["id"] for row in requests]


def worker_env(tmp_path: Path, name: str, fake: FakeSendGrid, config_dir: Path, api: str) -> dict[str, str]:
    home = tmp_path / f"prefect-{name}"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "REFERRAL_"))}
    env.pop("SENDGRID_API_KEY", None)
    return env | {
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
        "REFERRAL_EMAIL_BACKEND": "sendgrid",
        "REFERRAL_CONFIG_DIR": str(config_dir),
        "REFERRAL_TEMPLATES_DIR": str(ROOT / "templates" / "email"),
        "SENDGRID_API_KEY": "SG.twoworkers.testkey",
        "SENDGRID_API_HOST": fake.url,
    }


def test_two_workers_send_every_message_exactly_once(
    pg_url: str, fake: FakeSendGrid, prefect_api: str, tmp_path: Path
) -> None:
    """It has two concurrent send workers get each of 2,000 messages accepted by SendGrid exactly once."""
    request_ids = seed(pg_url, REQUESTS)
    config_dir = tmp_path / "config"
    shutil.copytree(ROOT / "config", config_dir)
    # Slow enough that one worker alone would need ~13 s: both are sure to be sending at the same time.
    (config_dir / "delivery.yaml").write_text("sendgrid:\n  rate_limit_per_second: 150\n  concurrency: 16\n")
    command = [str(CLI), "run", "send", "--now", NOW.isoformat(), "--database-url", pg_url, "--json"]
    workers = []
    for name in ("a", "b"):  # output to files: a full pipe would block a worker while we wait on the other
        out, err = (tmp_path / f"{name}.out").open("wb"), (tmp_path / f"{name}.err").open("wb")
        env = worker_env(tmp_path, name, fake, config_dir, prefect_api)
        workers.append((subprocess.Popen(command, env=env, cwd=tmp_path, stdout=out, stderr=err), out, err))
    sent_by = []
    for process, out, err in workers:
        process.wait(timeout=300)
        out.close()
        err.close()
        assert process.returncode == 0, Path(err.name).read_text(errors="replace")[-3000:]
        sent_by.append(_sent_count(json.loads(Path(out.name).read_text())))

    assert fake.duplicates() == {}
    assert set(fake.accepted) == {(request_id, 0) for request_id in request_ids}
    assert sum(sent_by) == REQUESTS
    assert all(count > 0 for count in sent_by), f"one worker sent everything: {sent_by}"
    factory = session_factory(pg_url)
    with factory() as session:
        statuses = dict(
            session.execute(select(ReferralRequest.status, func.count()).group_by(ReferralRequest.status))
            .tuples()
            .all()
        )
        messages = dict(session.execute(select(Message.status, func.count()).group_by(Message.status)).tuples().all())
    assert statuses == {"sent": REQUESTS}
    assert messages == {"sent": REQUESTS}


def _sent_count(document: dict[str, object]) -> int:
    """``run send --json`` counts: ``sent`` at the top level or under the flow's name."""
    if "sent" in document:
        return int(document["sent"])  # type: ignore[call-overload]
    nested = document.get("send")
    assert isinstance(nested, dict), document
    return int(nested["sent"])
