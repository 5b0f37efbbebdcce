"""``preview``: one email rendered as its customer would get it, written as one HTML page.

The page shows the headers, the HTML part (in a sandboxed iframe: the email's markup cannot
touch the page) and the text part, so a marketer sees all three before a campaign goes out.
With a customer id, the customer and their latest moment of the campaign come from the
database; without one, the sample customer of ``email.rendering.sample`` stands in.
"""

from __future__ import annotations

import dataclasses
import html
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig, Campaign
from referral_automation.db.models import JourneyEvent, Moment
from referral_automation.db.shared import customer_facts
from referral_automation.domain.facts import CustomerFacts
from referral_automation.domain.identity import message_id
from referral_automation.email.compose import compose_email
from referral_automation.email.message import OutgoingEmail
from referral_automation.email.rendering.renderer import EmailRenderer
from referral_automation.email.rendering.sample import (
    SAMPLE_MOMENT_AT,
    SampleMoment,
    sample_customer,
    sample_moments,
    sample_request,
)
from referral_automation.errors import InputError, Problem


def _choice(kind: str, value: str, known: list[str], where: str) -> str:
    if value not in known:
        raise InputError([Problem(where, None, f"unknown {kind} {value!r} (known: {', '.join(known)})")])
    return value


def _campaign(config: AppConfig, campaign_id: str, config_dir: Path) -> Campaign:
    where = str(config_dir / "campaigns.yaml")
    _choice("campaign", campaign_id, sorted(config.campaigns.campaigns), where)
    return config.campaign(campaign_id)


def latest_moment(session: Session, customer_id: str, campaign_id: str) -> tuple[SampleMoment, datetime] | None:
    """The customer's latest moment of ``campaign_id`` with its event's properties, if any."""
    query = (
        select(Moment.rule_id, Moment.occurred_at, JourneyEvent.properties)
        .outerjoin(JourneyEvent, JourneyEvent.seq == Moment.event_seq)
        .where(Moment.customer_id == customer_id, Moment.campaign == campaign_id)
        .order_by(Moment.occurred_at.desc())
        .limit(1)
    )
    row = session.execute(query).first()
    if row is None:
        return None
    return SampleMoment(row.rule_id, dict(row.properties or {})), row.occurred_at


def load_customer(
    sessions: sessionmaker[Session], customer_id: str, campaign_id: str
) -> tuple[CustomerFacts, tuple[SampleMoment, datetime] | None]:
    """A customer from the database and their latest moment of the campaign (None if none yet)."""
    with sessions() as session:
        found = customer_facts(session, [customer_id]).get(customer_id)
        moment = latest_moment(session, customer_id, campaign_id) if found else None
    if found is None:
        raise InputError([Problem("--customer", None, f"no customer {customer_id!r} in the database")])
    return found, moment


def preview_email(
    *,
    config: AppConfig,
    config_dir: Path,
    templates_dir: Path,
    public_base_url: str,
    campaign_id: str,
    variant: str,
    sessions: sessionmaker[Session] | None = None,
    customer_id: str | None = None,
    step: int = 0,
    incentive: str | None = None,
    locale: str | None = None,
) -> OutgoingEmail:
    """One email of ``campaign_id`` as ``compose_email`` builds it for the send flow."""
    campaign = _campaign(config, campaign_id, config_dir)
    where = str(config_dir / "campaigns.yaml")
    _choice("variant", variant, [v.id for v in campaign.variants], where)
    incentive = _choice("incentive", incentive or campaign.incentives[0].id, [i.id for i in campaign.incentives], where)
    steps = len(campaign.follow_ups.after_days)
    if not 0 <= step <= steps:
        raise InputError(
            [Problem("--step", None, f"step {step} does not exist: 0 is the first email, 1..{steps} follow-ups")]
        )
    customer = sample_customer()
    moment = (sample_moments(config, campaign_id)[0], SAMPLE_MOMENT_AT)
    if customer_id is not None:
        if sessions is None:
            raise InputError([Problem("--customer", None, "a database is needed to preview a real customer")])
        customer, found = load_customer(sessions, customer_id, campaign_id)
        moment = found or moment
    if locale:
        customer = dataclasses.replace(customer, locale=locale)
    request = sample_request(
        campaign_id,
        campaign,
        variant=variant,
        incentive=incentive,
        moment=moment[0],
        occurred_at=moment[1],
        sequence_step=step,
    )
    return compose_email(
        renderer=EmailRenderer(templates_dir),
        campaign_id=campaign_id,
        campaign=campaign,
        request=request,
        customer=customer,
        sequence_step=step,
        message_id=message_id(request.id, step),
        public_base_url=public_base_url,
    )


PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #111827; background: #f9fafb; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table.headers { border-collapse: collapse; background: #fff; font-size: 13px; }
table.headers th, table.headers td { border: 1px solid #e5e7eb; padding: 4px 8px; text-align: left; }
table.headers th { background: #f3f4f6; white-space: nowrap; }
iframe { width: 100%; max-width: 760px; height: 1200px; border: 1px solid #d1d5db; background: #fff; }
pre { background: #fff; border: 1px solid #d1d5db; padding: 16px; max-width: 760px; white-space: pre-wrap; }
"""


def header_rows(email: OutgoingEmail) -> list[tuple[str, str]]:
    """Every header the email goes out with, as (name, value), addresses first."""

    def address(email_address: str | None, name: str | None) -> str:
        return f"{name} <{email_address}>" if name else (email_address or "")

    rows = [
        ("From", address(email.from_email, email.from_name)),
        ("To", address(email.to_email, email.to_name)),
        ("Reply-To", address(email.reply_to_email, email.reply_to_name)),
        ("Subject", email.subject),
    ]
    rows += list(email.headers.items())
    rows.append(("Categories", ", ".join(email.categories)))
    return [(name, value) for name, value in rows if value]


def preview_page(email: OutgoingEmail) -> str:
    """One self-contained HTML page: headers, the HTML part in a sandboxed iframe, the text part."""
    esc = html.escape
    headers = "\n".join(f"<tr><th>{esc(name)}</th><td>{esc(value)}</td></tr>" for name, value in header_rows(email))
    title = f"{email.campaign} / {email.variant} / step {email.sequence_step}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Preview: {esc(title)}</title>
<style>{PAGE_STYLE}</style>
</head>
<body>
<h1>Preview: {esc(title)}</h1>
<section id="headers">
<h2>Headers</h2>
<table class="headers">
{headers}
</table>
</section>
<section id="html-part">
<h2>HTML part</h2>
<iframe sandbox="" title="HTML part" srcdoc="{esc(email.html, quote=True)}"></iframe>
</section>
<section id="text-part">
<h2>Text part</h2>
<pre>{esc(email.text)}</pre>
</section>
</body>
</html>
"""


def write_preview(email: OutgoingEmail, out: Path | None = None) -> Path:
    """Write the preview page (default: ``preview-<campaign>-<variant>-step<N>.html`` here)."""
    path = out or Path(f"preview-{email.campaign}-{email.variant}-step{email.sequence_step}.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(preview_page(email), encoding="utf-8")
    return path
