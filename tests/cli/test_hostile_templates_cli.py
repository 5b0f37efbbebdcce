"""``validate`` and ``preview`` on hostile templates: unknown names, links out of the folder, runaway renders."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from referral_automation.cli import app
from tests.support import ROOT
from tests.support.render import copy_templates

SUBJECT = Path("customer_referral") / "direct_ask.subject"


def append(templates: Path, name: Path | str, text: str) -> Path:
    path = templates / name
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")
    return path


def run(templates: Path, *args: str) -> Result:
    env = {"REFERRAL_TEMPLATES_DIR": str(templates), "COLUMNS": "200"}
    return CliRunner().invoke(app, [*args, "--config-dir", str(ROOT / "config")], env=env)


def validate(templates: Path) -> Result:
    return run(templates, "validate")


def preview(templates: Path, out: Path) -> Result:
    return run(templates, "preview", "customer_referral", "--variant", "direct_ask", "--out", str(out))


# --------------------------------------------------------------------------- unknown filters, tests, functions
@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{{ customer.first_name|capitalise }}", "no filter named 'capitalise'"),
        ("{% if customer.first_name is shouting %}!{% endif %}", "no test named 'shouting'"),
        ("{{ frobnicate(customer.first_name) }}", "no function named 'frobnicate'"),
    ],
)
def test_unknown_names_are_template_errors(tmp_path: Path, line: str, message: str) -> None:
    """It reports an unknown filter, test or function as path:line: message, in validate and preview alike."""
    templates = copy_templates(tmp_path)
    subject = append(templates, SUBJECT, f"\n{line}\n")
    number = len(subject.read_text(encoding="utf-8").splitlines())
    expected = f"{subject}:{number}: {message}"

    checked = validate(templates)
    assert (checked.exit_code, checked.stdout) == (1, "")
    assert checked.stderr.splitlines() == [expected]

    shown = preview(templates, tmp_path / "p.html")
    assert (shown.exit_code, shown.stdout) == (1, "")
    assert shown.stderr.splitlines() == [expected]
    assert not (tmp_path / "p.html").exists()


# --------------------------------------------------------------------------- links out of the templates directory
def test_a_context_file_linked_to_a_system_file_fails_validation(tmp_path: Path) -> None:
    """It reports a template linked to a file outside the directory, and preview never shows its text."""
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:SECRET\n", encoding="utf-8")
    templates = copy_templates(tmp_path)
    link = templates / "_context" / "leak.txt"
    link.symlink_to(secret)
    append(templates, SUBJECT, "{{ leak }}")

    checked = validate(templates)
    assert (checked.exit_code, checked.stdout) == (1, "")
    assert checked.stderr.splitlines()[0] == (
        f"{link}: the template file is a link to {secret}, outside the templates directory "
        "(only files inside it are read)"
    )
    assert "SECRET" not in checked.stderr

    shown = preview(templates, tmp_path / "p.html")
    assert shown.exit_code == 1
    assert "SECRET" not in shown.stderr
    assert not (tmp_path / "p.html").exists()


# --------------------------------------------------------------------------- runaway templates
@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            "rendering took longer than 2 s (time limit)",
        ),
        (
            "{% for a in range(100000) %}{% for b in range(100000) %}{{ b }}{% endfor %}{% endfor %}",
            "the output passed 1,000,000 characters (output limit)",
        ),
        ("{{ 9**(9**9) }}", "the result of ** would have more than 16,384 bits (size limit)"),
        ("{{ 'x' * 10**8 }}", "the result of * would be 100,000,000 characters, more than 1,000,000 (size limit)"),
    ],
)
def test_runaway_templates_are_one_line_and_exit_1(tmp_path: Path, line: str, message: str) -> None:
    """It stops a template that would hang validate and preview, and reports it as path:line: message."""
    templates = copy_templates(tmp_path)
    subject = append(templates, SUBJECT, f"\n{line}\n")
    expected = f"{subject}:{len(subject.read_text(encoding='utf-8').splitlines())}: {message}"

    started = time.monotonic()
    checked = validate(templates)
    assert (checked.exit_code, checked.stdout, checked.stderr.splitlines()) == (1, "", [expected])
    shown = preview(templates, tmp_path / "p.html")
    assert (shown.exit_code, shown.stdout, shown.stderr.splitlines()) == (1, "", [expected])
    assert time.monotonic() - started < 30  # validate renders that subject for many emails: three time out
