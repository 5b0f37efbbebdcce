"""compose_email: what every email carries (CONTRACT.md "Every email"), follow-ups and moments."""

from __future__ import annotations

import html as html_lib
from datetime import UTC, datetime

import pytest

from referral_automation.email.compose import template_for
from referral_automation.email.rendering.context import moment_kind
from referral_automation.email.rendering.validation import missing_parts
from tests.support.render import BASE_URL, campaign, compose, customer

REFERRAL_LINK = f"{BASE_URL}/r/Xy7-kQ2_pL9m"
UNSUBSCRIBE_LINK = f"{BASE_URL}/u/unsub-Tok3n_abc"


@pytest.mark.parametrize("variant", ["gratitude", "social_proof", "direct_ask"])
@pytest.mark.parametrize("step", [0, 1, 2])
@pytest.mark.parametrize("incentive", ["give50_get50", "donation"])
def test_every_email_carries_what_the_contract_lists(variant: str, step: int, incentive: str) -> None:
    """It puts subject, both parts, referral and unsubscribe links, introduction, incentive and "OK" in every email."""
    email = compose(variant=variant, step=step, incentive=incentive)
    text = campaign().incentive(incentive).text
    assert missing_parts(email, text, BASE_URL, "Xy7-kQ2_pL9m", "unsub-Tok3n_abc") == []


def test_headers_and_addresses() -> None:
    """It sets one-click unsubscribe headers, the request id and step, categories, sender and reply-to."""
    email = compose(step=1)
    assert email.headers == {
        "List-Unsubscribe": f"<{UNSUBSCRIBE_LINK}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "X-Referral-Request-Id": "5b0c3c1e-0000-5000-8000-000000000001",
        "X-Referral-Sequence-Step": "1",
    }
    assert email.categories == ("customer_referral", "gratitude")
    assert (email.from_email, email.from_name) == ("referrals@example.com", "Acme Success Team")
    assert (email.reply_to_email, email.reply_to_name) == ("referrals@example.com", "Acme Success Team")
    assert (email.to_email, email.to_name) == ("ana.garcia@example.com", "Ana García")
    assert (email.message_id, email.sequence_step, email.variant, email.incentive) == (
        "msg-1",
        1,
        "gratitude",
        "give50_get50",
    )


def test_base_url_with_trailing_slash() -> None:
    """It builds links without a double slash whatever the configured base URL ends with."""
    from referral_automation.email.compose import compose_email
    from tests.support.render import CAMPAIGN, request, shipped_renderer

    email = compose_email(
        renderer=shipped_renderer(),
        campaign_id=CAMPAIGN,
        campaign=campaign(),
        request=request(),
        customer=customer(),
        sequence_step=0,
        message_id="m",
        public_base_url=BASE_URL + "/",
    )
    assert REFERRAL_LINK in email.text
    assert f"{BASE_URL}//" not in email.text


def test_follow_ups_are_shorter_and_refer_to_the_first_email() -> None:
    """It sends follow-ups that recall the first email, the last one saying it is the last."""
    first = compose(step=0)
    second = compose(step=1)
    last = compose(step=2)
    assert second.subject == "Ana, did my note get buried?"
    assert last.subject == "Last nudge about your referral link"
    assert "A few days ago I wrote to thank you for your 10/10" in second.text
    assert "One last note, then I'll stop asking: last week I wrote" in last.text
    assert len(second.text) < len(first.text)
    assert len(last.text) < len(first.text)


def test_follow_up_context_knows_the_first_subject(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """It gives follow-up templates the subject the first email had."""
    from referral_automation.email.rendering.renderer import EmailRenderer
    from tests.support.render import copy_templates

    templates = copy_templates(tmp_path)
    (templates / "customer_referral" / "follow_up.subject").write_text("Re: {{ first_subject }}", encoding="utf-8")
    email = compose(renderer=EmailRenderer(templates), step=1, variant="direct_ask")
    assert email.subject == "Re: Ana, quick favour?"


@pytest.mark.parametrize(
    ("rule", "properties", "phrase", "headline"),
    [
        ("nps_promoter", {"score": 9}, "You told us you'd recommend Acme (9 out of 10)", "Thanks for the 9/10"),
        ("delighted_support", {"csat": 5}, "You rated our support 5 out of 5", "Glad we could help"),
        (
            "milestone",
            {"name": "1,000th invoice sent"},
            "You just reached a big milestone: 1,000th invoice sent",
            "Congrats on your milestone",
        ),
        ("settled_in", {}, "You've been getting results with Acme for 4 months now", "4 months with Acme"),
        ("vip_anniversary", {}, "You've been getting results with Acme for 4 months now", "4 months with Acme"),
        ("big_review", {"score": 10}, "You told us you'd recommend Acme (10 out of 10)", "Thanks for the 10/10"),
    ],
)
def test_the_email_names_the_customers_own_result(
    rule: str, properties: dict[str, object], phrase: str, headline: str
) -> None:
    """It opens with the result the moment stands for, and the gratitude subject names it."""
    email = compose(rule=rule, properties=properties)
    assert phrase in email.text
    assert phrase in html_lib.unescape(email.html)
    assert email.subject.startswith(headline)


def test_moment_without_tenure_or_properties_still_reads_well() -> None:
    """It thanks a customer whose first purchase is unknown without naming a number."""
    email = compose(rule="manual", properties={}, person=customer(first_purchase_at=None))
    assert "You've been getting real value out of Acme" in email.text
    assert email.subject == "Thank you, Ana (and a small favour)"


@pytest.mark.parametrize(
    ("rule", "properties", "tenure", "kind"),
    [
        ("nps_promoter", {}, None, "nps"),
        ("delighted_support", {}, None, "support"),
        ("milestone", {}, None, "milestone"),
        ("settled_in", {}, None, "tenure"),
        ("custom", {"score": 10}, 400, "nps"),
        ("custom", {"csat": 4}, 400, "support"),
        ("custom", {"name": "x"}, 400, "milestone"),
        ("custom", {}, 30, "tenure"),
        ("custom", {}, 29, "other"),
        ("custom", {}, None, "other"),
    ],
)
def test_moment_kind(rule: str, properties: dict[str, object], tenure: int | None, kind: str) -> None:
    """It names the kind of result from the rule id, else from the event's properties, else from tenure."""
    assert moment_kind(rule, properties, tenure) == kind


def test_no_first_name_greets_politely() -> None:
    """It greets a customer without a first name and signs the introduction without one."""
    email = compose(person=customer(first_name="", last_name=""))
    assert "Hi there," in email.text
    assert email.subject == "Thanks for the 10/10 (and a small favour)"
    assert email.to_name == ""


def test_single_sided_incentive_introduction_offers_no_referee_reward() -> None:
    """It does not promise the friend a reward the incentive does not give."""
    email = compose(incentive="donation")
    assert "We donate $25 to a charity of your choice" in email.text
    assert "Here's my link if you'd like to take a look:" in email.text
    assert "you get" not in email.text.split("----")[1]


def test_first_sent_at_is_available_to_follow_ups() -> None:
    """It hands follow-up templates the time the first email went out."""
    from referral_automation.email.rendering.context import build_context
    from tests.support.render import CAMPAIGN, request

    context = build_context(
        campaign_id=CAMPAIGN,
        campaign=campaign(),
        request=request(step=2),
        customer=customer(),
        sequence_step=2,
        public_base_url=BASE_URL,
    )
    assert context["first_sent_at"] == datetime(2025, 6, 3, 9, 0, tzinfo=UTC)
    assert (context["follow_up"], context["last_follow_up"], context["days_since_first"]) == (True, True, 7)


def test_each_variant_and_each_configuration_renders_its_own_template() -> None:
    """It picks the template of the variant asked for, and a reloaded configuration's, never a remembered one."""
    shipped = campaign()
    for variant in shipped.variants * 2:
        assert template_for("customer_referral", shipped, variant.id, 0) == variant.template
    renamed = [v.model_copy(update={"template": f"other/{v.id}"}) for v in shipped.variants]
    reloaded = shipped.model_copy(update={"variants": renamed})
    for variant in shipped.variants:
        assert template_for("customer_referral", reloaded, variant.id, 0) == f"other/{variant.id}"
        assert template_for("customer_referral", shipped, variant.id, 0) == variant.template
    assert template_for("customer_referral", shipped, shipped.variants[0].id, 1) == "customer_referral/follow_up"
