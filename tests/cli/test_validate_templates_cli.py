"""``referral-automation validate``: the templates part, on a broken copy of the shipped templates."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from typer.testing import CliRunner, Result

from referral_automation.cli import app
from tests.support import ROOT


def validate(templates: Path) -> Result:
    env = {"REFERRAL_TEMPLATES_DIR": str(templates), "COLUMNS": "200"}
    return CliRunner().invoke(app, ["validate", "--config-dir", str(ROOT / "config")], env=env)


def broken_copy(tmp_path: Path) -> Path:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates" / "email", templates)
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
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates" / "email", templates)
    result = validate(templates)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "ok\n", "")
