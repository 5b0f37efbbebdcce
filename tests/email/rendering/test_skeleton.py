"""Skeletons: a part rendered once per group of customers and filled in per email, never differing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import Markup, escape

from referral_automation.domain.facts import CustomerFacts
from referral_automation.email.rendering.context import CustomerView, PersonView, customer_view
from referral_automation.email.rendering.renderer import EmailRenderer
from referral_automation.email.rendering.skeleton import Planner, Skeleton
from tests.support.render import MOMENT_AT, TEMPLATES, compose, customer

#: One renderer with skeletons and one without, over the shipped templates, shared by the examples
#: below so that later examples fill skeletons that earlier ones built.
WITH = EmailRenderer(TEMPLATES)
WITHOUT = EmailRenderer(TEMPLATES, skeletons=False)

names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
hostile = st.sampled_from(
    [
        "",
        " ",
        "<b>&amp;</b>",
        '"><script>x</script>',
        "Ann\nBcc: x@example.com",
        "李小龙",
        "Zoë Ŀ",
        "\ue000" + "0\ue001",
    ]
)


def view(person: CustomerFacts) -> CustomerView:
    return customer_view(person, MOMENT_AT)


def both(**fields: Any) -> tuple[Any, Any]:
    person = customer(**{k: v for k, v in fields.items() if k in {"first_name", "last_name", "company", "locale"}})
    request = {k: v for k, v in fields.items() if k in {"variant", "incentive", "rule", "properties", "step"}}
    return compose(renderer=WITH, person=person, **request), compose(renderer=WITHOUT, person=person, **request)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first_name=names | hostile,
    last_name=names | hostile,
    company=names | hostile,
    locale=st.sampled_from(["en", "de", "de-CH", "fr"]),
    variant=st.sampled_from(["gratitude", "social_proof", "direct_ask"]),
    incentive=st.sampled_from(["give50_get50", "donation"]),
    step=st.sampled_from([0, 1, 2]),
)
def test_skeleton_emails_equal_ordinary_ones(**fields: Any) -> None:
    """It gives every customer, locale, variant, incentive and step the email a full render gives."""
    skeletal, ordinary = both(**fields)
    assert skeletal == ordinary


def test_the_shipped_parts_render_from_skeletons() -> None:
    """It renders the shipped subject, HTML and text from skeletons (else nothing would get faster)."""
    renderer = EmailRenderer(TEMPLATES)
    compose(renderer=renderer, person=customer(first_name="Ann"))
    stats = renderer.stats()
    assert (stats.skeletons, stats.ordinary_parts) == (3, 0)  # subject, HTML, text


def test_two_customers_of_one_group_never_share_personal_text() -> None:
    """It fills each customer's own name, company and links into the group's skeleton."""
    renderer = EmailRenderer(TEMPLATES)
    compose(renderer=renderer, person=customer(first_name="Cleo", company="Cleoco"))  # renders the shared words
    ann = compose(renderer=renderer, person=customer(first_name="Ann", company="Annco"))
    groups = renderer.stats().skeleton_groups
    bob = compose(renderer=renderer, person=customer(first_name="Bob", company="Bobco"))
    assert renderer.stats().skeleton_groups == groups  # one group: Bob's email came from Ann's skeleton
    assert "Ann" not in bob.html + bob.text + bob.subject
    assert "Annco" not in bob.html + bob.text
    assert "Hi Bob," in bob.text
    assert "Bobco" in bob.html
    assert "Bob" not in ann.html + ann.text + ann.subject


def test_a_customer_without_a_company_takes_the_other_branch() -> None:
    """It keys skeletons by whether each value is empty, so `{% if customer.company %}` still decides."""
    renderer = EmailRenderer(TEMPLATES)
    with_company = compose(renderer=renderer, person=customer(first_name="Ann", company="Annco"))
    without = compose(renderer=renderer, person=customer(first_name="Ann", company=""))
    assert " as Annco" in with_company.text
    assert " as " not in without.text.split("same results")[1].split(",")[0]
    assert without == compose(renderer=WITHOUT, person=customer(first_name="Ann", company=""))


@pytest.mark.parametrize(
    ("key", "first", "second"),
    [
        ("locale", {"person": customer(locale="en")}, {"person": customer(locale="de")}),
        ("variant", {"variant": "gratitude"}, {"variant": "direct_ask"}),
        ("incentive", {"incentive": "give50_get50"}, {"incentive": "donation"}),
        ("step", {"step": 0}, {"step": 1}),
        ("moment", {"rule": "nps_promoter"}, {"rule": "delighted_support", "properties": {"csat": 5}}),
    ],
)
def test_groups_differ_by_locale_variant_incentive_step_and_moment(
    key: str, first: dict[str, Any], second: dict[str, Any]
) -> None:
    """It builds a separate skeleton for each locale, variant, incentive, step and kind of moment."""
    renderer = EmailRenderer(TEMPLATES)
    a = compose(renderer=renderer, **first)
    groups = renderer.stats().skeleton_groups
    b = compose(renderer=renderer, **second)
    assert renderer.stats().skeleton_groups > groups, key  # (a follow-up also renders the first subject)
    assert (a, b) == (compose(renderer=WITHOUT, **first), compose(renderer=WITHOUT, **second))


UNFOLLOWABLE = [
    "{{ customer.first_name|length }}",
    "{% if customer.first_name == 'Ann' %}yes{% else %}no{% endif %}",
    "{{ customer.first_name[:2] }}",
    "{{ customer.first_name ~ '!' }}",
    "{{ customer.first_name is string }}",
    "{{ customer.first_name|replace('A', 'B') }}",
    "{{ customer.first_name|default('x', true) }}",
    "{{ customer.first_name.upper() }}",
    "{{ customer.first_name.index }}",
    "{{ '%s!'|format(customer.first_name) }}",
    "{% set x %}{{ customer.first_name }}{% endset %}{{ x|upper }}",
    "{% macro m(v) %}{{ v }}{% endmacro %}{{ m(customer.first_name)|upper }}",
    "{% filter upper %}{{ customer.first_name }}{% endfilter %}",
    "{{ customer.first_name|upper|length }}",
    "{% if customer.first_name|upper %}yes{% endif %}",
    "{{ [customer.first_name]|join(', ') }}",
    "{{ customer.first_name in 'Ann Bob' }}",
    "{{ mailto(customer.first_name, 'body') }}",
]


@pytest.mark.parametrize("expression", UNFOLLOWABLE)
def test_templates_doing_more_than_printing_a_value_render_the_ordinary_way(tmp_path: Path, expression: str) -> None:
    """It renders a part that compares, slices, captures or transforms a customer's value without a skeleton."""
    directory = tmp_path / "t"
    directory.mkdir()
    for part in ("subject", "html", "txt"):
        (directory / f"m.{part}").write_text(f"Hi {expression}", encoding="utf-8")
    renderer, plain = EmailRenderer(directory), EmailRenderer(directory, skeletons=False)
    for first_name in ("Ann", "Bob", "Alexandra"):
        context = {"customer": view(customer(first_name=first_name)), "request_id": first_name}
        assert renderer.render("m", None, context) == plain.render("m", None, context)
    stats = renderer.stats()
    assert (stats.skeletons, stats.ordinary_parts) == (0, 3)  # each part tried once, rendered the ordinary way


def test_values_shared_by_a_group_key_its_skeletons(tmp_path: Path) -> None:
    """It builds one skeleton per value of a name that is no customer's own (text, numbers, views)."""
    directory = tmp_path / "t"
    directory.mkdir()
    for part in ("subject", "html", "txt"):
        (directory / f"m.{part}").write_text("{{ variant }} {{ step }} {{ sender.name }} {{ customer.first_name }}")
    renderer, plain = EmailRenderer(directory), EmailRenderer(directory, skeletons=False)
    for variant, step, sender in (("a", 0, "Ann"), ("b", 0, "Ann"), ("a", 1, "Ann"), ("a", 0, "Bob"), ("a", 0, "Ann")):
        context = {"customer": view(customer()), "variant": variant, "step": step, "sender": PersonView(sender, "x@y")}
        assert renderer.render("m", None, context) == plain.render("m", None, context)
    assert renderer.stats().skeleton_groups == 4


def test_shared_views_key_by_value_however_many_there_were() -> None:
    """It gives equal shared views one key and different ones different keys, also after forgetting old ones."""
    planner = Planner({})

    def key(view: PersonView) -> Any:
        plan = planner.plan({"sender": view}, frozenset())
        assert plan is not None
        return plan.key

    first = key(PersonView("Ann", "ann@example.com"))
    assert key(PersonView("Ann", "ann@example.com")) == first  # another object of the same value
    others = {key(PersonView(f"Person {n}", "p@example.com")) for n in range(2500)}  # past every limit
    assert len(others) == 2500
    assert first not in others
    assert key(PersonView("Ann", "ann@example.com")) not in others


def test_pure_text_filters_are_applied_to_each_customers_value(tmp_path: Path) -> None:
    """It applies `upper`, `ucfirst`, `nl2br` to the customer's own value when filling in."""
    directory = tmp_path / "t"
    directory.mkdir()
    (directory / "m.subject").write_text("{{ customer.first_name|upper }}", encoding="utf-8")
    (directory / "m.html").write_text("<p>{{ customer.company|nl2br }} {{ customer.last_name|ucfirst }}</p>", "utf-8")
    (directory / "m.txt").write_text("{{ customer.company|title }}", encoding="utf-8")
    renderer, plain = EmailRenderer(directory), EmailRenderer(directory, skeletons=False)
    for person in (customer(first_name="ann", company="a <b>\nc", last_name="o'neil"), customer(first_name="zoë")):
        context = {"customer": view(person)}
        assert renderer.render("m", None, context) == plain.render("m", None, context)
    stats = renderer.stats()
    assert (stats.skeletons, stats.ordinary_parts) == (3, 0)


@settings(max_examples=300)
@given(st.one_of(st.text(), st.text(alphabet="<>&'\"ab é"), st.integers(), st.builds(Markup, st.text())))
def test_a_slot_printed_escaped_is_what_markupsafe_escape_gives(value: Any) -> None:
    """It fills an escaped slot with ``escape(value)``'s text and an unescaped one with ``str(value)``,
    for any value: plain text, text full of HTML's special characters, numbers, markup."""
    part = Skeleton(literals=("<p>", "|", "</p>"), prints=((0, (), True), (0, (), False)))
    assert part.fill([value]) == f"<p>{escape(value)}|{value}</p>"
