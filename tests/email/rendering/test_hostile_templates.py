"""Hostile templates: unknown names, files linked from outside the templates folder, runaway renders."""

from __future__ import annotations

from pathlib import Path

import pytest

from referral_automation.email.rendering.renderer import EmailRenderer
from referral_automation.errors import TemplateError


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return directory


def email(subject: str = "Hi {{ name }}", html: str = "<p>{{ name }}</p>", text: str = "{{ name }}") -> dict[str, str]:
    return {"mail.subject": subject, "mail.html": html, "mail.txt": text}


def problem_lines(error: TemplateError) -> list[str]:
    return [str(problem) for problem in error.problems]


# --------------------------------------------------------------------------- unknown filters, tests, functions
@pytest.mark.parametrize("skeletons", [True, False])
def test_unknown_filter_in_a_branch_not_taken_is_found_at_build(tmp_path: Path, skeletons: bool) -> None:
    """It reports an unknown filter or test when the renderer is built, even inside an ``if`` never
    taken, and every email using that file raises instead of going out."""
    text = (
        "{{ name }}\n{% if name == 'nobody' %}{{ name|capitalise }}{% endif %}\n{% if name is shouting %}!{% endif %}"
    )
    renderer = EmailRenderer(write(tmp_path, email(text=text)), skeletons=skeletons)
    path = tmp_path / "mail.txt"
    assert [str(p) for p in renderer.problems] == [f"{path}:2: no filter named 'capitalise'"]
    with pytest.raises(TemplateError) as raised:
        renderer.render("mail", None, {"name": "Ana"})
    assert problem_lines(raised.value) == [f"{path}:2: no filter named 'capitalise'"]


def test_unknown_test_in_a_layout_fails_the_emails_extending_it(tmp_path: Path) -> None:
    """It fails an email whose layout uses an unknown test, naming the layout's line."""
    files = {
        "_layout.html": "<html>\n{% if name is shouting %}!{% endif %}{% block body %}{% endblock %}</html>",
        **email(html='{% extends "_layout.html" %}{% block body %}{{ name }}{% endblock %}'),
    }
    renderer = EmailRenderer(write(tmp_path, files))
    layout = tmp_path / "_layout.html"
    assert [str(p) for p in renderer.problems] == [f"{layout}:2: no test named 'shouting'"]
    with pytest.raises(TemplateError) as raised:
        renderer.render("mail", None, {"name": "Ana"})
    assert problem_lines(raised.value) == [f"{layout}:2: no test named 'shouting'"]


@pytest.mark.parametrize("skeletons", [True, False])
def test_calling_an_unknown_function_names_it(tmp_path: Path, skeletons: bool) -> None:
    """It reports a call of a name nothing defines as an unknown function, with its line."""
    renderer = EmailRenderer(write(tmp_path, email(subject="Hi\n{{ frobnicate(name) }}")), skeletons=skeletons)
    assert renderer.problems == []
    with pytest.raises(TemplateError) as raised:
        renderer.render("mail", None, {"name": "Ana"})
    assert problem_lines(raised.value) == [f"{tmp_path / 'mail.subject'}:2: no function named 'frobnicate'"]


def test_calling_a_missing_attribute_still_says_which(tmp_path: Path) -> None:
    """It keeps the usual message for a method the value does not have."""
    renderer = EmailRenderer(write(tmp_path, email(subject="{{ name.shout() }}")))
    with pytest.raises(TemplateError) as raised:
        renderer.render("mail", None, {"name": "Ana"})
    assert problem_lines(raised.value) == [f"{tmp_path / 'mail.subject'}:1: undefined: 'str' has no attribute 'shout'"]
