"""check_templates: every template compiles, every email renders and carries its required parts."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from referral_automation.config import AppConfig, load_config
from referral_automation.config.source import YamlDocument, load_yaml
from referral_automation.email.rendering.sample import sample_moments
from referral_automation.email.rendering.validation import check_templates
from tests.support.render import CONFIG, TEMPLATES, copy_templates, shipped_config

EMAILS = "customer_referral"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def messages(config: AppConfig, templates: Path) -> list[str]:
    return [str(problem) for problem in check_templates(config, templates)]


def test_shipped_templates_are_valid() -> None:
    """It finds nothing wrong with the templates as shipped."""
    assert check_templates(shipped_config(), TEMPLATES) == []


def test_missing_variable_reported_with_path_and_line(tmp_path: Path) -> None:
    """It reports an undefined name as path:line: message, once however many renders hit it."""
    templates = copy_templates(tmp_path)
    edit(templates / EMAILS / "direct_ask.html", '{{ customer.first_name or "there" }}', "{{ customer.nickname }}")
    found = messages(shipped_config(), templates)
    assert found == [f"{templates / EMAILS / 'direct_ask.html'}:4: undefined: 'customer' has no attribute 'nickname'"]


def test_syntax_errors_in_every_file_are_reported(tmp_path: Path) -> None:
    """It reports each file that does not compile, _context files included, with its line."""
    templates = copy_templates(tmp_path)
    edit(templates / "_context" / "result.txt", '{% elif moment.kind == "support" %}', "{% elif moment.kind == %}")
    edit(templates / EMAILS / "social_proof.txt", "{% block body %}", "{% block body %}\n{{ customer.first_name ) }}")
    found = messages(shipped_config(), templates)
    result = next(line for line in found if "result.txt" in line)
    social = next(line for line in found if "social_proof.txt" in line)
    assert result.startswith(f"{templates / '_context' / 'result.txt'}:17: syntax error: ")
    assert social.startswith(f"{templates / EMAILS / 'social_proof.txt'}:3: syntax error")


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("_context/copy.txt", 'Just reply "OK" to this email', "Just write back", 'has no instruction to reply "OK"'),
        ("_layout.html", '<a class="link" href="{{ referral.link }}">{{ referral.link }}</a>', "", None),
        ("_layout.txt", "{{ unsubscribe_link }}", "", "the text part has no unsubscribe link"),
        ("_layout.html", "{{ incentive.text }}", "{{ incentive.id }}", "the HTML part does not tell the incentive"),
        ("_layout.txt", "{{ introduction.mailto }}", "", "the text part has no mailto: link"),
        ("_context/introduction.txt", "{{ referral.link }}", "", "mailto: introduction does not carry the referral"),
    ],
)
def test_missing_required_parts_are_reported(
    tmp_path: Path, file: str, old: str, new: str, expected: str | None
) -> None:
    """It reports an email that lacks the referral link, unsubscribe link, incentive, introduction or "OK"."""
    templates = copy_templates(tmp_path)
    edit(templates / file, old, new)
    if expected is None:  # the button's link, the link line and the introduction's link: all gone
        edit(templates / file, 'href="{{ referral.link }}"', 'href="https://example.com"')
        edit(templates / "_context" / "introduction.txt", "{{ referral.link }}", "")
        expected = "the HTML part has no referral link"
    found = messages(shipped_config(), templates)
    assert any(expected in line for line in found), found
    assert all(re.match(rf"{re.escape(str(templates / EMAILS))}/\w+(\.de)?\.(html|txt): ", line) for line in found)


def test_empty_subject_is_reported(tmp_path: Path) -> None:
    """It reports a subject that renders empty."""
    templates = copy_templates(tmp_path)
    (templates / EMAILS / "social_proof.subject").write_text("{# nothing #}\n", encoding="utf-8")
    found = messages(shipped_config(), templates)
    assert found[0].startswith(f"{templates / EMAILS / 'social_proof.subject'}: the subject is empty")


def test_campaign_naming_a_missing_template(tmp_path: Path) -> None:
    """It reports every template campaigns.yaml names that does not exist."""
    templates = copy_templates(tmp_path)
    for part in ("subject", "html", "txt"):
        (templates / EMAILS / f"follow_up.{part}").unlink()
    found = messages(shipped_config(), templates)
    assert any(
        line.startswith(str(templates / EMAILS / "follow_up.subject"))
        and "'customer_referral' follow_ups.template names template 'customer_referral/follow_up'" in line
        for line in found
    ), found


def test_half_translated_email_and_odd_file_names(tmp_path: Path) -> None:
    """It reports a locale missing one of the three files and a file name it cannot read."""
    templates = copy_templates(tmp_path)
    (templates / EMAILS / "gratitude.de.subject").unlink()
    (templates / EMAILS / "gratitude.de.draft.html").write_text("<p>x</p>", encoding="utf-8")
    found = messages(shipped_config(), templates)
    assert f"{templates / EMAILS / 'gratitude.de.draft.html'}: unexpected file name" in "\n".join(found)
    assert any("incomplete email: customer_referral/gratitude.de.subject missing" in line for line in found)


def test_sandbox_violation_is_reported(tmp_path: Path) -> None:
    """It reports a template reaching for Python internals as a problem, with its line."""
    templates = copy_templates(tmp_path)
    path = templates / EMAILS / "direct_ask.subject"
    path.write_text(path.read_text(encoding="utf-8") + "{{ ''.__class__.__mro__ }}\n", encoding="utf-8")
    found = messages(shipped_config(), templates)
    assert found == [f"{path}:3: not allowed in templates: access to attribute '__class__' of 'str' object is unsafe."]


def test_one_error_does_not_hide_the_next(tmp_path: Path) -> None:
    """It renders the other files of an email that failed, to report all their problems at once."""
    templates = copy_templates(tmp_path)
    edit(templates / EMAILS / "direct_ask.subject", "{% if customer.first_name %}", "{% if customer.first %}")
    edit(templates / EMAILS / "direct_ask.txt", "{{ result.sentence|ucfirst }}", "{{ result.nothing }}")
    found = messages(shipped_config(), templates)
    assert any("direct_ask.subject:2: undefined" in line for line in found), found
    text_problem = "direct_ask.txt:5: undefined: the _context file has no attribute 'nothing'"
    assert f"{templates / EMAILS / text_problem}" in found


def test_missing_templates_directory(tmp_path: Path) -> None:
    """It reports a templates directory that does not exist."""
    assert messages(shipped_config(), tmp_path / "nope") == [f"{tmp_path / 'nope'}: templates directory not found"]


def test_sample_moments_cover_every_rule_of_the_campaign() -> None:
    """It renders each campaign with a moment of every one of its trigger rules, with happy values."""
    moments = {m.rule_id: m.properties for m in sample_moments(shipped_config(), "customer_referral")}
    assert moments == {
        "nps_promoter": {"score": 10},
        "delighted_support": {"ticket_id": "T-1042", "csat": 5},
        "milestone": {"name": "1,000th invoice sent"},
        "settled_in": {},
    }


def test_context_file_cannot_shadow_a_variable(tmp_path: Path) -> None:
    """It reports a _context file named like a variable templates already have."""
    templates = copy_templates(tmp_path)
    (templates / "_context" / "customer.txt").write_text('{% set x = "y" %}', encoding="utf-8")
    found = messages(shipped_config(), templates)
    assert f"{templates / '_context' / 'customer.txt'}: a _context file cannot be called 'customer'" in found[0]


def test_context_names_are_every_name_build_context_gives() -> None:
    """It keeps the list of reserved names in step with the context itself."""
    from referral_automation.email.rendering.context import CONTEXT_NAMES, build_context
    from tests.support.render import CAMPAIGN, campaign, customer, request

    context = build_context(
        campaign_id=CAMPAIGN, campaign=campaign(), request=request(), customer=customer(), sequence_step=0,
        public_base_url="https://x.example",
    )  # fmt: skip
    assert set(context) == CONTEXT_NAMES


# --------------------------------------------------------------------------- warnings: drift and translations
def warnings(config: AppConfig, templates: Path, campaigns: YamlDocument | None = None) -> list[str]:
    found = check_templates(config, templates, campaigns=campaigns)
    assert all(problem.severity == "warning" for problem in found), found
    return [str(problem) for problem in found]


def test_a_paragraph_in_one_part_only_is_a_warning_once(tmp_path: Path) -> None:
    """It warns once, at the part with fewer sentences, when the HTML part has a paragraph the text part lacks."""
    templates = copy_templates(tmp_path)
    edit(templates / EMAILS / "gratitude.html", "<p>Hi ", "<p>We read every answer. Yours made us smile.</p>\n<p>Hi ")
    (found,) = warnings(shipped_config(), templates)
    assert found.startswith(
        f"{templates / EMAILS / 'gratitude.txt'}: warning: the text part has 17 sentences, the HTML part 19 "
        "(drift between the parts?) (rendered for campaign customer_referral, variant gratitude, step 0, locale default"
    )


def test_a_link_in_one_part_only_is_a_warning(tmp_path: Path) -> None:
    """It warns at the HTML part of a German email whose text part has a link the HTML part lacks."""
    templates = copy_templates(tmp_path)
    edit(
        templates / EMAILS / "social_proof.de.txt",
        "als von uns.",
        "als von uns.\nMehr dazu: https://example.com/kunden",
    )
    (found,) = warnings(shipped_config(), templates)
    assert found.startswith(
        f"{templates / EMAILS / 'social_proof.de.html'}: warning: links in the text part missing from the HTML part: "
        "https://example.com/kunden (rendered for campaign customer_referral, variant social_proof, step 0, locale de"
    )


def test_a_part_missing_what_every_email_carries_is_an_error_not_also_drift(tmp_path: Path) -> None:
    """It reports the missing unsubscribe link as an error, without a drift warning about the same link."""
    templates = copy_templates(tmp_path)
    edit(templates / "_layout.txt", "{{ unsubscribe_link }}", "")
    found = check_templates(shipped_config(), templates)
    assert found
    assert {problem.severity for problem in found} == {"error"}


def test_a_template_missing_a_locale_the_campaign_speaks_is_a_warning(tmp_path: Path) -> None:
    """It warns at the default files of a template German customers get in English, the others having German."""
    templates = copy_templates(tmp_path)
    for part in ("subject", "html", "txt"):
        (templates / EMAILS / f"direct_ask.de.{part}").unlink()
    assert warnings(shipped_config(), templates) == [
        f"{templates / EMAILS / 'direct_ask.subject'}: warning: customers with locale de get this email in the "
        "default language: it has no de files, though customer_referral/follow_up, customer_referral/gratitude, "
        "customer_referral/social_proof do (add direct_ask.de.subject, direct_ask.de.html, direct_ask.de.txt)"
    ]


def test_an_incentive_missing_a_locale_the_campaign_speaks_is_a_warning_at_its_line(tmp_path: Path) -> None:
    """It warns at the incentive's translations in campaigns.yaml when one lacks the campaign's German."""
    shutil.copytree(CONFIG, tmp_path / "config")
    campaigns = tmp_path / "config" / "campaigns.yaml"
    text = campaigns.read_text(encoding="utf-8")
    german = next(line for line in text.splitlines() if "Für jede Person" in line)
    campaigns.write_text(text.replace(german, german.replace("de:", "fr:")), encoding="utf-8")
    line = text.splitlines().index(german)  # the line above it (1-based): "translations:"
    found = warnings(load_config(tmp_path / "config"), TEMPLATES, load_yaml(campaigns))
    assert found == [
        f"{campaigns}:{line}: warning: incentive 'donation' has no de translation: customers with locale de read "
        "it in the default language, though customer_referral/direct_ask, customer_referral/follow_up, "
        "customer_referral/gratitude, customer_referral/social_proof speak de (add de: under its translations)"
    ]
