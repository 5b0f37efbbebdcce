"""Hostile templates: unknown names, files linked from outside the templates folder, runaway renders."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from referral_automation.email.rendering.renderer import EmailRenderer
from referral_automation.errors import TemplateError
from tests.support.render import write_templates


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
    renderer = EmailRenderer(write_templates(tmp_path, email(text=text)), skeletons=skeletons)
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
    renderer = EmailRenderer(write_templates(tmp_path, files))
    layout = tmp_path / "_layout.html"
    assert [str(p) for p in renderer.problems] == [f"{layout}:2: no test named 'shouting'"]
    with pytest.raises(TemplateError) as raised:
        renderer.render("mail", None, {"name": "Ana"})
    assert problem_lines(raised.value) == [f"{layout}:2: no test named 'shouting'"]


@pytest.mark.parametrize("skeletons", [True, False])
def test_calling_an_unknown_function_names_it(tmp_path: Path, skeletons: bool) -> None:
    """It reports a call of a name nothing defines as an unknown function, with its line."""
    renderer = EmailRenderer(
        write_templates(tmp_path, email(subject="Hi\n{{ frobnicate(name) }}")), skeletons=skeletons
    )
    assert renderer.problems == []
    with pytest.raises(TemplateError) as raised:
        renderer.render("mail", None, {"name": "Ana"})
    assert problem_lines(raised.value) == [f"{tmp_path / 'mail.subject'}:2: no function named 'frobnicate'"]


def test_calling_a_missing_attribute_still_says_which(tmp_path: Path) -> None:
    """It keeps the usual message for a method the value does not have."""
    renderer = EmailRenderer(write_templates(tmp_path, email(subject="{{ name.shout() }}")))
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
    templates = write_templates(tmp_path / "templates", email(text='{{ name }}\n{% include "_partials/leak.txt" %}'))
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
    templates = write_templates(tmp_path / "templates", email(subject='{% include "_partials/secret.txt" %}'))
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
    templates = write_templates(
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
    templates = write_templates(tmp_path / "templates", email())
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
    templates = write_templates(tmp_path / "templates", email())
    (templates / "_styles.css").symlink_to(outside / "evil.css")
    renderer = EmailRenderer(templates)
    assert "red" not in renderer.render("mail", None, {"name": "Ana"}).html
    assert [p.path for p in renderer.problems] == [str(templates / "_styles.css")]


# --------------------------------------------------------------------------- render limits
NESTED_LOOPS = "{% for a in range(100000) %}{% for b in range(100000) %}{{ b }}{% endfor %}{% endfor %}"
SILENT_LOOPS = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"


def limited(directory: Path, files: dict[str, str], **limits: Any) -> EmailRenderer:
    return EmailRenderer(write_templates(directory, files), **{"time_limit": 0.2, "output_limit": 10_000, **limits})


@pytest.mark.parametrize("skeletons", [True, False])
@pytest.mark.parametrize("loops", [NESTED_LOOPS, SILENT_LOOPS])
def test_runaway_loops_stop_at_the_time_limit(tmp_path: Path, skeletons: bool, loops: str) -> None:
    """It stops a template that loops for hours after the time limit, naming the file, line and limit."""
    renderer = limited(tmp_path, email(subject=f"Hi {{{{ name }}}}\n{loops}"), skeletons=skeletons, output_limit=10**9)
    started = time.monotonic()
    with pytest.raises(TemplateError) as raised:
        renderer.render("mail", None, {"name": "Ana"})
    assert time.monotonic() - started < 1.5
    assert problem_lines(raised.value) == [
        f"{tmp_path / 'mail.subject'}:2: rendering took longer than 0.2 s (time limit)"
    ]


def test_the_time_limit_covers_context_files_and_layouts(tmp_path: Path) -> None:
    """It applies the limit to ``_context/`` files (reused or not) and to layouts a part extends."""
    files = {
        "_context/words.txt": "{% set greeting = 'Hello' %}\n" + SILENT_LOOPS,
        "_layout.html": "<html>\n" + SILENT_LOOPS + "{% block body %}{% endblock %}</html>",
        **email(html='{% extends "_layout.html" %}{% block body %}{{ name }}{% endblock %}'),
    }
    renderer = limited(tmp_path, files)
    with pytest.raises(TemplateError) as raised:
        renderer.render("mail", None, {"name": "Ana"})
    assert problem_lines(raised.value) == [
        f"{tmp_path / '_context' / 'words.txt'}:2: rendering took longer than 0.2 s (time limit)"
    ]
    (tmp_path / "_context" / "words.txt").unlink()
    renderer = limited(tmp_path, {})
    with pytest.raises(TemplateError) as raised:
        renderer.render("mail", None, {"name": "Ana"})
    assert problem_lines(raised.value) == [
        f"{tmp_path / '_layout.html'}:2: rendering took longer than 0.2 s (time limit)"
    ]


def test_recursion_through_calls_is_timed_too(tmp_path: Path) -> None:
    """It checks the time at every call, so a recursive loop cannot escape it."""
    loop = "{% for a in range(100000) recursive %}{{ loop(range(100000)) if loop.depth < 3 else '' }}{% endfor %}"
    renderer = limited(tmp_path, email(text=f"x\n{loop}"), output_limit=10**9)
    with pytest.raises(TemplateError, match="time limit"):
        renderer.render("mail", None, {"name": "Ana"})


def test_a_file_that_keeps_running_out_of_time_is_not_run_again(tmp_path: Path) -> None:
    """It fails at once the emails whose file ran out of time three times: a batch does not wait on each."""
    renderer = limited(tmp_path, email(subject=f"Hi\n{SILENT_LOOPS}"), time_limit=0.1)
    for _ in range(3):
        with pytest.raises(TemplateError):
            renderer.render("mail", None, {"name": "Ana"})
    started = time.monotonic()
    with pytest.raises(TemplateError) as raised:
        renderer.render("mail", None, {"name": "Bob"})
    assert time.monotonic() - started < 0.05
    assert problem_lines(raised.value) == [
        f"{tmp_path / 'mail.subject'}:2: rendering took longer than 0.1 s (time limit)"
    ]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("9**(9**9)", "the result of ** would have more than 16,384 bits (size limit)"),
        ("'x'*10**8", "the result of * would be 100,000,000 characters, more than 10,000 (size limit)"),
        ("10**8*'x'", "the result of * would be 100,000,000 characters, more than 10,000 (size limit)"),
        ("['ab']*10**8", "the result of * would be 300,000,000 characters, more than 10,000 (size limit)"),
        ("('x'*9000) + ('y'*9000)", "the result of + would be 18,000 characters, more than 10,000 (size limit)"),
        ("('x'*9000) ~ ('y'*9000)", "the result of ~ would be 18,000 characters, more than 10,000 (size limit)"),
        ("'%0999999999d' % 1", "a % format's width would be 999,999,999 characters, more than 10,000 (size limit)"),
        (
            "'{:>999999999}'.format(1)",
            "a format's width would be 999,999,999 characters, more than 10,000 (size limit)",
        ),
        ("'x'|center(999999999)", "center would be 999,999,999 characters, more than 10,000 (size limit)"),
        ("'x'.ljust(999999999)", "ljust would be 999,999,999 characters, more than 10,000 (size limit)"),
        ("('x'*9000)|replace('x', 'xy')", "replace would be 18,000 characters, more than 10,000 (size limit)"),
        (
            "range(10000)|map('string')|map('center', 1000)|join",
            "join would be more than 10,000 characters (size limit)",
        ),
        (
            "''.join(range(10000)|map('string')|map('center', 1000))",
            "join would be more than 10,000 characters (size limit)",
        ),
        (
            "[1]|batch(999999999, 'x')|list",
            "the number of groups would be 999,999,999 groups, more than 10,000 (size limit)",
        ),
        ("lipsum(999999)", "lipsum would be 799,999,200 characters, more than 10,000 (size limit)"),
        (
            "range(10000)|map('string')|map('center', 9000)|list|length",
            "the rendering built more than 200,000 characters in all (size limit)",
        ),
    ],
)
def test_operations_that_would_build_too_much_are_refused_before(tmp_path: Path, expression: str, message: str) -> None:
    """It refuses an operator, filter or method whose result would pass the size limit, before building it."""
    started = time.monotonic()
    renderer = limited(tmp_path, email(text=f"{{{{ name }}}}\n{{{{ {expression} }}}}"), time_limit=5)
    with pytest.raises(TemplateError) as raised:
        renderer.render("mail", None, {"name": "Ana"})
    assert problem_lines(raised.value) == [f"{tmp_path / 'mail.txt'}:2: {message}"]
    assert time.monotonic() - started < 1


def test_ordinary_uses_of_the_checked_operations_still_work(tmp_path: Path) -> None:
    """It leaves small repetitions, joins, formats and powers alone."""
    text = "{{ '-'*3 }}{{ 2**10 }}{{ [1, 2]|join(',') }}{{ '%3d' % 7 }}{{ '{:>3}'.format(8) }}{{ 'a' ~ 'b' + 'c' }}"
    renderer = limited(tmp_path, email(text=text))
    assert renderer.render("mail", None, {"name": "Ana"}).text.strip() == "---10241,2  7  8abc"


@pytest.mark.parametrize("skeletons", [True, False])
def test_output_stops_at_the_limit_as_it_is_generated(tmp_path: Path, skeletons: bool) -> None:
    """It stops rendering a part when what it printed passes the limit, naming the loop printing then."""
    html = "<p>{{ name }}</p>\n{% for a in range(100000) %}\n<i>{{ a }}</i>\n{% endfor %}"
    renderer = limited(tmp_path, email(html=html), skeletons=skeletons)
    with pytest.raises(TemplateError) as raised:
        renderer.render("mail", None, {"name": "Ana"})
    [line] = [n for n in (2, 3) if f"mail.html:{n}:" in str(raised.value)]  # the loop, or the line it prints
    assert problem_lines(raised.value) == [
        f"{tmp_path / 'mail.html'}:{line}: the output passed 10,000 characters (output limit)"
    ]


def test_captured_output_is_measured_before_it_is_joined(tmp_path: Path) -> None:
    """It refuses a ``{% set %}`` block or macro whose captured output would pass the limit."""
    text = "{{ name }}\n{% set big %}{% for a in range(5000) %}{{ 'abc' }}{% endfor %}{% endset %}{{ big|length }}"
    renderer = limited(tmp_path, email(text=text))
    with pytest.raises(TemplateError) as raised:
        renderer.render("mail", None, {"name": "Ana"})
    assert problem_lines(raised.value) == [
        f"{tmp_path / 'mail.txt'}:2: the output captured would pass 10,000 characters (output limit)"
    ]


def test_limits_belong_to_each_renderer(tmp_path: Path) -> None:
    """It keeps each renderer's limits its own, with defaults of 2 s and 1,000,000 characters."""
    files = email(text="{{ name }}\n{{ 'x' * 50000 }}")
    small = limited(tmp_path, files)
    default = EmailRenderer(tmp_path)
    assert (default.guard.limits.time_limit, default.guard.limits.output_limit) == (2.0, 1_000_000)
    assert len(default.render("mail", None, {"name": "Ana"}).text) == len("Ana\n") + 50_000 + len("\n")
    with pytest.raises(TemplateError, match="size limit"):
        small.render("mail", None, {"name": "Ana"})
