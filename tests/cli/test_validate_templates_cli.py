"""``referral-automation validate``: the templates part, on a broken copy of the shipped templates."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from typer.testing import CliRunner, Result

from referral_automation.cli import app
from tests.support import ROOT
from tests.support.render import copy_templates


def validate(templates: Path) -> Result:
    env = {"REFERRAL_TEMPLATES_DIR": str(templates), "COLUMNS": "200"}
    return CliRunner().invoke(app, ["validate", "--config-dir", str(ROOT / "config")], env=env)


def broken_copy(tmp_path: Path) -> Path:
    templates = copy_templates(tmp_path)
    emails = templates / "customer_referral"
    html = emails / "social_proof.html"
    html.write_text(html.read_text(encoding="utf-8").replace("customer.company", "customer.employer"), encoding="utf-8")
    text = emails / "direct_ask.txt"
    text.write_text(text.read_text(encoding="utf-8").replace("{% endblock %}", "{% endblok %}"), encoding="utf-8")
    copy = templates / "_context" / "copy.txt"
    copy.write_text(copy.read_text(encoding="utf-8").replace('reply "OK" to', "reply to"), encoding="utf-8")
    return templates


def test_broken_templates_are_reported_as_path_line_message(tmp_path: Path) -> None:
    """It exits 1 and prints one path:line: message per problem on stderr, nothing on stdout."""
    templates = broken_copy(tmp_path)
    result = validate(templates)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    emails = templates / "customer_referral"
    assert f"{emails / 'social_proof.html'}:7: undefined: 'customer' has no attribute 'employer'" in lines
    assert any(
        re.fullmatch(rf"{re.escape(str(emails / 'direct_ask.txt'))}:\d+: syntax error: .*endblok.*", line)
        for line in lines
    )
    missing_ok = [line for line in lines if 'no instruction to reply "OK"' in line]
    assert missing_ok, lines
    assert all(
        re.match(rf"{re.escape(str(emails))}/\w+\.(html|txt): the (HTML|text) part", line) for line in missing_ok
    )
    assert all(re.match(r"^/\S+?(:\d+)?: \S", line) for line in lines), lines


def test_shipped_templates_validate(tmp_path: Path) -> None:
    """It prints ok for an untouched copy of the shipped templates."""
    templates = copy_templates(tmp_path)
    result = validate(templates)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "ok\n", "")


def test_drift_and_missing_translations_are_warnings(tmp_path: Path) -> None:
    """It prints a warning for a paragraph only the HTML part has and for an email German customers get in
    English, prints ok and exits 0."""
    templates = copy_templates(tmp_path)
    emails = templates / "customer_referral"
    html = emails / "gratitude.html"
    html.write_text(html.read_text(encoding="utf-8").replace("<p>Hi ", "<p>A new paragraph.</p>\n<p>Hi "), "utf-8")
    for part in ("subject", "html", "txt"):
        (emails / f"social_proof.de.{part}").unlink()

    result = validate(templates)

    assert (result.exit_code, result.stdout) == (0, "ok\n"), result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(
        f"{emails / 'gratitude.txt'}: warning: the text part has 17 sentences, the HTML part 18 "
        "(drift between the parts?)"
    )
    assert lines[1].startswith(
        f"{emails / 'social_proof.subject'}: warning: customers with locale de get this email in the default language"
    )


def test_warnings_come_with_the_template_errors(tmp_path: Path) -> None:
    """It prints the warnings beside the errors, and exits 1 for the errors."""
    templates = broken_copy(tmp_path)
    for part in ("subject", "html", "txt"):
        (templates / "customer_referral" / f"direct_ask.de.{part}").unlink()
    result = validate(templates)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert any("undefined: 'customer' has no attribute 'employer'" in line for line in lines)
    assert any(": warning: customers with locale de get this email in the default language" in line for line in lines)


def test_an_untranslated_incentive_is_a_warning_at_its_line(tmp_path: Path) -> None:
    """It warns at the line of an incentive's translations when they lack a language the templates speak."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    campaigns = config / "campaigns.yaml"
    text = campaigns.read_text(encoding="utf-8")
    campaigns.write_text(text.replace("          de: Sie erhalten", "          fr: Sie erhalten"), encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "de: Sie erhalten" in row) - 1
    env = {"REFERRAL_TEMPLATES_DIR": str(ROOT / "templates" / "email"), "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["validate", "--config-dir", str(config)], env=env)
    assert (result.exit_code, result.stdout) == (0, "ok\n"), result.output
    assert result.stderr.splitlines() == [
        f"{campaigns}:{line}: warning: incentive 'give50_get50' has no de translation: customers with locale de "
        "read it in the default language, though customer_referral/direct_ask, customer_referral/follow_up, "
        "customer_referral/gratitude, customer_referral/social_proof speak de (add de: under its translations)"
    ]
