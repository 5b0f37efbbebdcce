"""Hostile templates: unknown names, files linked from outside the templates folder, runaway renders."""

from __future__ import annotations

import os
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


# --------------------------------------------------------------------------- confinement to the templates directory
OUTSIDE = "the template {what} is a link to {real}, outside the templates directory (only files inside it are read)"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the templates one, holding a secret."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("SECRET-TOKEN", encoding="utf-8")
    return folder


def test_a_file_linked_from_outside_is_never_read(tmp_path: Path, outside: Path) -> None:
    """It neither lists nor reads a template that links outside the directory, and reports it."""
    templates = write(tmp_path / "templates", email(text='{{ name }}\n{% include "_partials/leak.txt" %}'))
    (templates / "_context").mkdir()
    (templates / "_context" / "leak.txt").symlink_to(outside / "secret.txt")
    (templates / "_partials").mkdir()
    (templates / "_partials" / "leak.txt").symlink_to(outside / "secret.txt")
    renderer = EmailRenderer(templates)
    assert "_context/leak.txt" not in renderer.files
    assert "_partials/leak.txt" not in renderer.env.list_templates()
    real = outside / "secret.txt"
    expected = [
        f"{templates / '_context' / 'leak.txt'}: {OUTSIDE.format(what='file', real=real)}",
        f"{templates / '_partials' / 'leak.txt'}: {OUTSIDE.format(what='file', real=real)}",
    ]
    assert [str(p) for p in renderer.problems] == expected
    with pytest.raises(TemplateError) as raised:
        renderer.render("mail", None, {"name": "Ana"})
    assert problem_lines(raised.value) == expected[1:]
    assert "SECRET" not in str(raised.value)


def test_a_folder_linked_from_outside_is_never_walked(tmp_path: Path, outside: Path) -> None:
    """It refuses a linked folder that leads outside, and any file named through it."""
    templates = write(tmp_path / "templates", email(subject='{% include "_partials/secret.txt" %}'))
    (templates / "_partials").symlink_to(outside, target_is_directory=True)
    renderer = EmailRenderer(templates)
    assert sorted(renderer.files) == ["mail.html", "mail.subject", "mail.txt"]
    message = f"{templates / '_partials'}: {OUTSIDE.format(what='folder', real=outside)}"
    assert [str(p) for p in renderer.problems] == [message]
    with pytest.raises(TemplateError) as raised:
        renderer.render("mail", None, {"name": "Ana"})
    assert "SECRET" not in str(raised.value)
    assert "outside the templates directory" in str(raised.value)


def test_links_inside_the_directory_are_followed_and_loops_end(tmp_path: Path) -> None:
    """It reads a file or folder linked from inside the directory, and walks a link loop once."""
    templates = write(
        tmp_path / "templates",
        {**email(text='{% include "_partials/footer.txt" %} {{ greeting }}'), "shared/footer.txt": "Bye"},
    )
    (templates / "_partials").symlink_to(templates / "shared", target_is_directory=True)
    (templates / "_context").mkdir()
    (templates / "_context" / "greeting.txt").symlink_to(templates / "shared" / "footer.txt")
    (templates / "shared" / "loop").symlink_to(templates, target_is_directory=True)
    renderer = EmailRenderer(templates)
    assert renderer.problems == []
    assert renderer.render("mail", None, {"name": "Ana"}).text.strip() == "Bye Bye"


def test_a_named_pipe_is_never_opened(tmp_path: Path) -> None:
    """It refuses a named pipe (reading one would wait forever) and reports what it is."""
    templates = write(tmp_path / "templates", email())
    (templates / "_context").mkdir()
    os.mkfifo(templates / "_context" / "pipe.txt")
    (templates / "_partials").mkdir()
    (templates / "_partials" / "pipe.txt").symlink_to(templates / "_context" / "pipe.txt")
    renderer = EmailRenderer(templates)
    refused = "the template file is a named pipe, not a regular file (only regular files are read)"
    assert [str(p) for p in renderer.problems] == [
        f"{templates / '_context' / 'pipe.txt'}: {refused}",
        f"{templates / '_partials' / 'pipe.txt'}: {refused}",
    ]
    assert renderer.render("mail", None, {"name": "Ana"}).subject == "Hi Ana"


def test_a_stylesheet_linked_from_outside_is_not_inlined(tmp_path: Path, outside: Path) -> None:
    """It does not read a stylesheet that links outside the directory."""
    (outside / "evil.css").write_text("p { color: red; }", encoding="utf-8")
    templates = write(tmp_path / "templates", email())
    (templates / "_styles.css").symlink_to(outside / "evil.css")
    renderer = EmailRenderer(templates)
    assert "red" not in renderer.render("mail", None, {"name": "Ana"}).html
    assert [p.path for p in renderer.problems] == [str(templates / "_styles.css")]
