"""Hostile customer data: markup, quotes, line breaks, very long names, non-Latin scripts."""

from __future__ import annotations

import html as html_lib
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from referral_automation.email.message import OutgoingEmail
from tests.support.render import compose, customer


def mailto_body(email: OutgoingEmail) -> str:
    href = re.search(r'href="(mailto:[^"]*)"', email.html)
    assert href is not None
    return parse_qs(urlsplit(html_lib.unescape(href.group(1))).query)["body"][0]


def header_values(email: OutgoingEmail) -> list[str]:
    return [
        email.subject,
        email.to_name,
        email.to_email,
        email.from_name,
        email.reply_to_name or "",
        *email.headers.values(),
    ]


def test_markup_and_quotes_are_escaped_in_html_and_kept_in_text() -> None:
    """It shows a customer's angle brackets and quotes as text, never as markup."""
    person = customer(
        first_name='<script>alert("hi")</script>',
        last_name="O'Brien & Sons",
        company='"><img src=x onerror=alert(1)>',
    )
    email = compose(person=person)
    assert "<script" not in email.html
    assert "<img" not in email.html
    assert "&lt;script&gt;alert(&#34;hi&#34;)&lt;/script&gt;" in email.html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in email.html
    assert 'Hi <script>alert("hi")</script>,' in email.text
    assert '"><img src=x onerror=alert(1)>' in mailto_body(email)


def test_markup_in_event_properties_is_escaped() -> None:
    """It escapes what a journey event carries (a milestone's name) like customer data."""
    email = compose(rule="milestone", properties={"name": '</p><a href="javascript:x">win</a>'})
    assert 'href="javascript' not in email.html
    assert "&lt;/p&gt;&lt;a href=&#34;javascript:x&#34;&gt;win&lt;/a&gt;" in email.html
    assert '</p><a href="javascript:x">win</a>' in email.text


@pytest.mark.parametrize(
    "first_name",
    ["Ana\r\nBcc: victim@example.com", "Ana\nSubject: free money", "Ana\u2028X-Evil: 1", "Ana\x85\x0b\x0cZ"],
)
def test_line_breaks_in_names_never_reach_subject_or_headers(first_name: str) -> None:
    """It makes header injection impossible: no line break from data reaches the subject or any header."""
    email = compose(person=customer(first_name=first_name, last_name="Lee\r\nCc: x@example.com"))
    for value in header_values(email):
        assert not re.search(r"[\r\n\u2028\u2029\x85\x0b\x0c]", value), value
    assert email.subject.startswith("Thanks for the 10/10, Ana")


def test_line_breaks_in_the_address_are_removed() -> None:
    """It keeps the recipient address on one line even if the CRM stored a line break in it."""
    email = compose(person=customer(email="ana@example.com\r\nBcc: victim@example.com"))
    assert "\r" not in email.to_email
    assert "\n" not in email.to_email


def test_very_long_names_render_whole() -> None:
    """It renders a 500-character name in full, on one subject line."""
    name = "Bartholomew" * 45 + "Zed"  # 498 characters
    email = compose(person=customer(first_name=name, company="C" * 500))
    assert len(name) >= 490
    assert name in email.subject
    assert "\n" not in email.subject
    assert f"Hi {name}," in email.text
    assert name in email.html
    assert "C" * 500 in mailto_body(email)


@pytest.mark.parametrize(
    ("first_name", "company"),
    [
        ("مريم", "شركة النور"),
        ("王小明", "北京科技有限公司"),
        ("Zoë 🦄", "Café Ünïcødé 🚀"),
        ("Σωκράτης", "Ελληνική Α.Ε."),
    ],
)
def test_non_latin_names_round_trip(first_name: str, company: str) -> None:
    """It keeps Arabic, Chinese, Greek and emoji intact in subject, both parts and the mailto: body."""
    email = compose(person=customer(first_name=first_name, company=company))
    assert email.subject == f"Thanks for the 10/10, {first_name} (and a small favour)"
    assert f"Hi {first_name}," in email.text
    assert f"Hi {first_name}," in html_lib.unescape(email.html)
    assert f"at {company} and" in mailto_body(email)
    assert email.to_name == f"{first_name} García"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first_name=st.text(max_size=80), company=st.text(max_size=80))
def test_any_text_is_escaped_and_subject_stays_one_line(first_name: str, company: str) -> None:
    """It escapes any text in the HTML part and keeps the subject on one line, whatever the input."""
    email = compose(person=customer(first_name=first_name, company=company))
    assert "\n" not in email.subject
    assert "\r" not in email.subject
    # The same texts without markup characters: the same lines and line breaks (a line break in a
    # value becomes <br>), so only escaping can make the two HTML parts differ in raw occurrences.
    tame = {ord("<"): "x", ord(">"): "x", ord("&"): "x"}
    baseline = compose(person=customer(first_name=first_name.translate(tame), company=company.translate(tame))).html
    for value in (first_name, company):
        if "<" in value:
            # Markup of its own may contain the value ("<" alone is in every tag): escaping means
            # the value adds no raw occurrence of itself to the HTML.
            assert email.html.count(value) <= baseline.count(value)
        if "<" in value or ">" in value or "&" in value or '"' in value:
            continue
        one_line = " ".join(value.split())
        assert one_line in " ".join(html_lib.unescape(email.html).split())
