"""The introduction filled into a skeleton: never different from the one Jinja renders for the email."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from referral_automation.email import skeleton
from referral_automation.email.context import IntroductionView, ReferralView, build_context, customer_view
from referral_automation.email.render import EmailRenderer
from referral_automation.email.skeleton import Introduction
from referral_automation.email.template_functions import mailto
from referral_automation.errors import TemplateError
from tests.email.render_support import BASE_URL, MOMENT_AT, TEMPLATES, campaign, customer, request

WITH = EmailRenderer(TEMPLATES)
WITHOUT = EmailRenderer(TEMPLATES, skeletons=False)

#: Values that meet each rule of the introduction's tidying and of its mailto: (line breaks of
#: every kind, spaces and tabs next to them, runs of blank lines, empty values, percent signs).
HOSTILE = [
    "",
    " ",
    "\t",
    "\n",
    "\n\n\n",
    "Ann ",
    " Ann",
    "Ann\t",
    "Ann\nBcc: x@example.com",
    "Ann\r\nB",
    "Ann\rB",
    "Ann\u2028B",
    "Ann\x85B\x0bC\x0cD\x1cE",
    "a\n \n\nb",
    "100% & <b>'\"",
    "李小龙 Zoë 🦄",
    "Bartholomew" * 40,
    "\ue000" + "0\ue001",
]
texts = st.sampled_from(HOSTILE) | st.text(alphabet=st.sampled_from(list("ab \t\n\r%é\u2028")), max_size=8)


def introduction(renderer: EmailRenderer, template: str, locale: str | None, context: dict[str, Any]) -> Any:
    """The introduction ``renderer`` gives an email of ``template`` (or the error it raises)."""
    chosen, _ = renderer.resolve(template, locale)
    variables = {**renderer.env.globals, **context, "email_locale": chosen}
    try:
        renderer.add_context(template, chosen, variables)
    except TemplateError as error:
        return [(p.path, p.line, p.message) for p in error.problems]
    return variables["introduction"]


def shipped_context(first_name: str, company: str, link: str, incentive: str = "give50_get50") -> dict[str, Any]:
    """The shipped campaign's context for one customer, with ``link`` as the referral link."""
    context = build_context(
        campaign_id="customer_referral",
        campaign=campaign(),
        request=request(incentive=incentive),
        customer=customer(first_name=first_name, company=company),
        sequence_step=0,
        public_base_url=BASE_URL,
    )
    context["referral"] = ReferralView("code", link)
    return context


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first_name=texts,
    company=texts,
    link=texts,
    locale=st.sampled_from(["en", "de"]),
    incentive=st.sampled_from(["give50_get50", "donation"]),
)
def test_the_shipped_introduction_is_the_one_jinja_renders(
    first_name: str, company: str, link: str, locale: str, incentive: str
) -> None:
    """It gives subject, body and mailto: exactly as rendering the shipped introduction does, for any values."""
    context = shipped_context(first_name, company, link, incentive)
    template = "customer_referral/gratitude"
    skeletal = introduction(WITH, template, locale, context)
    assert isinstance(skeletal, IntroductionView)
    assert skeletal == introduction(WITHOUT, template, locale, context)


def test_the_shipped_introduction_comes_from_a_skeleton() -> None:
    """It fills the shipped introduction into a skeleton (else composing would not get faster)."""
    renderer = EmailRenderer(TEMPLATES)
    for name in ("Ann", "Bob"):
        introduction(renderer, "customer_referral/gratitude", "en", shipped_context(name, "Co", f"https://x/r/{name}"))
    assert len(renderer._introductions) == 1
    assert all(isinstance(found, Introduction) for found in renderer._introductions.values())


def test_the_mailto_is_built_from_encoded_literals_unless_a_value_breaks_a_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It encodes only the customer's values for the mailto: link, the whole body when a value breaks a line."""
    renderer = EmailRenderer(TEMPLATES)
    encoded_whole: list[str] = []
    monkeypatch.setattr(skeleton, "mailto", lambda subject, body: encoded_whole.append(body) or mailto(subject, body))
    for first_name in ("Ann", "Bob", "Zoë 🦄", "Ann\r\nBcc: x"):
        context = shipped_context(first_name, "Co & Co", f"https://x/r/{first_name}")
        skeletal = introduction(renderer, "customer_referral/gratitude", "en", context)
        assert skeletal == introduction(WITHOUT, "customer_referral/gratitude", "en", context)
    assert [body.splitlines()[-1] for body in encoded_whole] == ["Bcc: x"]


#: Introductions written in ways a skeleton must follow exactly, or leave to Jinja.
INTRODUCTIONS = [
    '{% set subject = "Try it" %}{{ customer.first_name }}\n{{ referral.link }}\n{{ customer.company }}',
    '{% set subject = "Try it" %}\n\n{{ customer.first_name }}  \n\n\n\n{{ customer.company }}\t\n\n',
    '{% set subject = "Try\nit " %}Hi {{ customer.first_name or "there" }},\n\n{{ referral.link|upper }}\n',
    '{% set subject = "S" %}{% if customer.company %}at {{ customer.company }} {% endif %}\n\n\n{{ referral.link }}',
    "{% set subject = customer.first_name %}Hi {{ referral.link }}",
    '{% set subject = "Hi " ~ customer.first_name %}{{ referral.link }}',
    '{% set subject = customer.first_name or "S" %}{{ referral.link }}',
    "{% set subject %}Hi {{ customer.first_name }}{% endset %}{{ referral.link }}",
    "{{ customer.first_name }}: {{ referral.link }}",
    '{% set subject = "S" %}{{ customer.first_name|length }} {{ referral.link }}',
    '{% set subject = "S" %}{{ customer.nickname }}',
]


@pytest.mark.parametrize("source", INTRODUCTIONS)
def test_any_introduction_is_the_one_jinja_renders(tmp_path: Path, source: str) -> None:
    """It gives what Jinja gives (or the same error) for introductions that print, test, filter or capture values."""
    (tmp_path / "_context").mkdir()
    (tmp_path / "_context" / "introduction.txt").write_text(source, encoding="utf-8")
    for part in ("subject", "html", "txt"):
        (tmp_path / f"m.{part}").write_text("{{ introduction.body }}", encoding="utf-8")
    renderer, plain = EmailRenderer(tmp_path), EmailRenderer(tmp_path, skeletons=False)
    for first_name in ("Ann", "", " ", "Bob \n", "Zoë\r\n\n"):
        for company in ("", "Co", "C \t", "\n\n"):
            person = customer_view(customer(first_name=first_name, company=company), MOMENT_AT)
            context = {"customer": person, "referral": ReferralView("c", f"https://x/r/{first_name}")}
            assert introduction(renderer, "m", None, context) == introduction(plain, "m", None, context)
