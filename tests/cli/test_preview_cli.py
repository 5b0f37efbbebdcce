"""``referral-automation preview``: one email as an HTML page with headers, HTML part and text part."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from referral_automation.cli import app
from tests.support import ROOT
from tests.support.factories import add_customer, add_request, sessions

ENV = {
    "REFERRAL_TEMPLATES_DIR": str(ROOT / "templates" / "email"),
    "REFERRAL_PUBLIC_BASE_URL": "https://refer.example.com",
    "COLUMNS": "200",
}


def preview(*args: str) -> Result:
    return CliRunner().invoke(
        app, ["preview", "customer_referral", "--config-dir", str(ROOT / "config"), *args], env=ENV
    )


def parts(page: str) -> tuple[str, str, str]:
    """The headers table, the HTML part (from the iframe's srcdoc) and the text part of a preview page."""
    headers = re.search(r'<table class="headers">(.*?)</table>', page, re.S)
    frame = re.search(r'<iframe sandbox="" title="HTML part" srcdoc="([^"]*)"></iframe>', page)
    text = re.search(r"<pre>(.*?)</pre>", page, re.S)
    assert headers is not None
    assert frame is not None
    assert text is not None
    return headers.group(1), html.unescape(frame.group(1)), html.unescape(text.group(1))


def test_sample_customer_preview_writes_headers_html_and_text(tmp_path: Path) -> None:
    """It writes one page of headers, HTML part (in a sandboxed iframe) and text part, and prints its path."""
    out = tmp_path / "p.html"
    result = preview("--variant", "social_proof", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out}\n"
    headers, email_html, text = parts(out.read_text(encoding="utf-8"))
    assert "<th>Subject</th><td>Most teams find Acme through a peer, Ana. Would you pass it on?</td>" in headers
    assert "<th>List-Unsubscribe</th><td>&lt;https://refer.example.com/u/" in headers
    assert "<th>X-Referral-Sequence-Step</th><td>0</td>" in headers
    assert "<th>To</th><td>Ana García &lt;ana.garcia@example.com&gt;</td>" in headers
    assert email_html.startswith("<!DOCTYPE html>")
    assert 'href="https://refer.example.com/r/' in email_html
    assert text.startswith("Hi Ana,\n")


def test_preview_of_a_follow_up_in_german_with_another_incentive(tmp_path: Path) -> None:
    """It renders the step, locale and incentive asked for."""
    out = tmp_path / "nested" / "f.html"
    result = preview(
        "--variant", "gratitude", "--step", "2", "--locale", "de", "--incentive", "donation", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    headers, _, text = parts(out.read_text(encoding="utf-8"))
    assert "<th>Subject</th><td>Ein letzter Hinweis zu Ihrem Empfehlungslink</td>" in headers
    assert "<th>X-Referral-Sequence-Step</th><td>2</td>" in headers
    assert "spenden wir 25 $" in text


def test_default_output_file_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It names the page after campaign, variant and step in the working directory by default."""
    monkeypatch.chdir(tmp_path)
    result = preview("--variant", "direct_ask", "--step", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout == "preview-customer_referral-direct_ask-step1.html\n"
    assert (tmp_path / "preview-customer_referral-direct_ask-step1.html").is_file()


def test_real_customer_from_the_database(tmp_path: Path, db_url: str) -> None:
    """It renders with the customer's own data and their latest moment of the campaign."""
    factory = sessions(db_url)
    add_customer(factory, "c42", first_name="Grace", company="Navy <Labs>")
    add_request(factory, "c42", status="scheduled")
    out = tmp_path / "real.html"
    result = preview("--variant", "gratitude", "--customer", "c42", "--database-url", db_url, "--out", str(out))
    assert result.exit_code == 0, result.output
    headers, email_html, text = parts(out.read_text(encoding="utf-8"))
    assert "<th>To</th><td>Grace Lovelace &lt;c42@example.com&gt;</td>" in headers
    assert "Hi Grace," in text
    assert "You told us you'd recommend Acme, and honestly" in text
    assert "at Navy &lt;Labs&gt; and" in email_html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--variant", "nope"], "campaigns.yaml: unknown variant 'nope' (known: gratitude, social_proof, direct_ask)"),
        (["--variant", "gratitude", "--incentive", "free"], "unknown incentive 'free'"),
        (["--variant", "gratitude", "--step", "3"], "--step: step 3 does not exist"),
    ],
)
def test_bad_choices_are_user_errors(args: list[str], message: str) -> None:
    """It exits 1 with one line naming what is wrong."""
    result = preview(*args)
    assert result.exit_code == 1
    assert message in result.stderr


def test_unknown_campaign_and_customer(db_url: str) -> None:
    """It exits 1 for a campaign or a customer that does not exist."""
    campaign = CliRunner().invoke(
        app, ["preview", "other", "--variant", "x", "--config-dir", str(ROOT / "config")], env=ENV
    )
    assert campaign.exit_code == 1
    assert "unknown campaign 'other' (known: customer_referral)" in campaign.stderr
    customer = preview("--variant", "gratitude", "--customer", "ghost", "--database-url", db_url)
    assert customer.exit_code == 1
    assert customer.stderr.strip() == "--customer: no customer 'ghost' in the database"
