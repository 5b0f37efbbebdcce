"""The renderer: locales, the sandbox, strict undefined names with file and line, inline CSS."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_automation.email.rendering.context import customer_view
from referral_automation.email.rendering.functions import MailtoEncoder, nl2br, tidy_text
from referral_automation.email.rendering.renderer import EmailRenderer, locale_chain, parse_template_name
from referral_automation.errors import TemplateError
from tests.support.render import MOMENT_AT, compose, copy_templates, customer, shipped_renderer, write_templates


def email_files(stem: str, subject: str = "Hi", html: str = "<p>{{ name }}</p>", text: str = "{{ name }}") -> dict:
    return {f"{stem}.subject": subject, f"{stem}.html": html, f"{stem}.txt": text}


# --------------------------------------------------------------------------- names and locales
@pytest.mark.parametrize(
    ("locale", "chain"),
    [
        ("pt-BR", ["pt-BR", "pt"]),
        ("pt_br", ["pt-BR", "pt"]),
        ("DE", ["de"]),
        ("zh-hant-tw", ["zh-Hant-TW", "zh-Hant", "zh"]),
        ("", []),
        (None, []),
    ],
)
def test_locale_chain(locale: str | None, chain: list[str]) -> None:
    """It tries the most specific locale first, then each shorter one."""
    assert locale_chain(locale) == chain


def test_template_file_names() -> None:
    """It reads template, locale and part from a file name, and refuses other names."""
    parsed = parse_template_name("customer_referral/gratitude.de.html")
    assert parsed is not None
    assert (parsed.template, parsed.locale, parsed.part) == ("customer_referral/gratitude", "de", "html")
    assert parse_template_name("_partials/copy.txt").is_partial  # type: ignore[union-attr]
    assert parse_template_name("a.b.c.html") is None
    assert parse_template_name("notes.md") is None


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("de", "de"), ("de-AT", "de"), ("de_CH", "de"), ("pt-BR", ""), ("en", ""), (None, "")],
)
def test_locale_fallback_picks_the_nearest_translation(tmp_path: Path, locale: str | None, expected: str) -> None:
    """It renders ``name.<locale>`` files when they exist, else the language's, else the default."""
    files = {**email_files("c/m", subject="Hello"), **email_files("c/m.de", subject="Hallo")}
    renderer = EmailRenderer(write_templates(tmp_path, files))
    chosen, _ = renderer.resolve("c/m", locale)
    assert chosen == expected
    assert renderer.render("c/m", locale, {"name": "x"}).subject == ("Hallo" if expected else "Hello")


def test_a_half_translated_email_falls_back_whole(tmp_path: Path) -> None:
    """It never mixes languages: a locale missing one of the three files is not used at all."""
    files = {**email_files("m", subject="Hello"), "m.fr.subject": "Bonjour", "m.fr.html": "<p>Bonjour</p>"}
    renderer = EmailRenderer(write_templates(tmp_path, files))
    assert renderer.render("m", "fr", {"name": "x"}).subject == "Hello"


def test_shipped_german_customer_gets_german_layout_and_incentive() -> None:
    """It renders the German variant, layout words and incentive text for a German customer."""
    email = compose(person=customer(locale="de-DE"))
    assert "Hallo Ana," in email.text
    assert "Antworten Sie einfach mit" in email.text
    assert "Sie erhalten 50 $ Guthaben" in email.text
    assert '<html lang="de">' in email.html


def test_shipped_variant_without_translation_is_all_english_for_a_german_customer(tmp_path: Path) -> None:
    """It keeps a fallback email in one language, incentive included."""
    templates = copy_templates(tmp_path)
    for part in ("subject", "html", "txt"):
        (templates / "customer_referral" / f"direct_ask.de.{part}").unlink()
    email = compose(renderer=EmailRenderer(templates), variant="direct_ask", person=customer(locale="de"))
    assert "Quick ask" in email.text
    assert "You get $50 in account credit" in email.text
    assert "Sie erhalten" not in email.text


# --------------------------------------------------------------------------- strictness and errors
def test_missing_variable_names_template_file_and_line(tmp_path: Path) -> None:
    """It reports an undefined name with the template's path and line."""
    html = "<p>Hello</p>\n<p>\n  {{ customer.nickname }}\n</p>"
    renderer = EmailRenderer(write_templates(tmp_path, email_files("m", html=html)))
    with pytest.raises(TemplateError) as caught:
        renderer.render("m", None, {"name": "x", "customer": {"first_name": "Ana"}})
    (problem,) = caught.value.problems
    assert problem.path == str(tmp_path / "m.html")
    assert problem.line == 3
    assert "nickname" in problem.message
    assert str(problem).startswith(f"{tmp_path / 'm.html'}:3: undefined")


def test_missing_variable_in_a_layout_names_the_layout(tmp_path: Path) -> None:
    """It names the file the undefined name is in, not the template that extends it."""
    files = {
        "_layout.html": '<!DOCTYPE html>\n<html>\n<body>\n<div\n  class="x">{% block body %}{% endblock %}</div>\n'
        "<p>{{ footer_text }}</p>\n</body>\n</html>\n",
        **email_files("m", html='{% extends "_layout.html" %}\n{% block body %}{{ name }}{% endblock %}'),
        "_styles.css": ".x { color: red; }",
    }
    renderer = EmailRenderer(write_templates(tmp_path, files))
    with pytest.raises(TemplateError) as caught:
        renderer.render("m", None, {"name": "x"})
    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == (str(tmp_path / "_layout.html"), 6)


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    """It collects a template that does not compile as a problem with path and line."""
    html = '<table\n  class="x">\n<tr><td>{{ name | }}</td></tr></table>'
    files = email_files("m", html=html, text="{% if name %}\n")
    renderer = EmailRenderer(write_templates(tmp_path, files))
    html_problem, text_problem = renderer.problems
    assert (html_problem.path, html_problem.line) == (str(tmp_path / "m.html"), 3)
    assert (text_problem.path, text_problem.line) == (str(tmp_path / "m.txt"), 1)
    assert "syntax error" in html_problem.message
    with pytest.raises(TemplateError):
        renderer.render("m", None, {"name": "x"})


def test_missing_template_is_a_template_error(tmp_path: Path) -> None:
    """It raises TemplateError naming the file it looked for."""
    renderer = EmailRenderer(write_templates(tmp_path, email_files("m")))
    with pytest.raises(TemplateError) as caught:
        renderer.render("other", None, {})
    assert caught.value.problems[0].path == str(tmp_path / "other.subject")


@pytest.mark.parametrize(
    "expression",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ customer.__class__.__init__.__globals__ }}",
        "{{ (1).__class__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ ''|attr('__class__') }}",
    ],
)
def test_sandbox_blocks_attribute_escapes(tmp_path: Path, expression: str) -> None:
    """It refuses access to Python internals from a template."""
    renderer = EmailRenderer(write_templates(tmp_path, email_files("m", subject=expression)))
    with pytest.raises(TemplateError) as caught:
        renderer.render("m", None, {"name": "x", "customer": customer()})
    (problem,) = caught.value.problems
    assert problem.path == str(tmp_path / "m.subject")
    assert problem.line == 1


def test_sandbox_forbids_mutating_context_values(tmp_path: Path) -> None:
    """It refuses to let a template change a list or dict it was given."""
    renderer = EmailRenderer(write_templates(tmp_path, email_files("m", subject="{{ items.append(1) }}")))
    with pytest.raises(TemplateError):
        renderer.render("m", None, {"name": "x", "items": []})


def test_templates_cannot_read_files_outside_their_directory(tmp_path: Path) -> None:
    """It refuses an include that climbs out of the templates directory."""
    (tmp_path / "secret.txt").write_text("s3cret", encoding="utf-8")
    renderer = EmailRenderer(write_templates(tmp_path / "t", email_files("m", subject='{% include "../secret.txt" %}')))
    with pytest.raises(TemplateError):
        renderer.render("m", None, {"name": "x"})


# --------------------------------------------------------------------------- escaping and text
def test_html_is_autoescaped_and_text_is_not(tmp_path: Path) -> None:
    """It escapes values in the HTML part only."""
    renderer = EmailRenderer(write_templates(tmp_path, email_files("m")))
    rendered = renderer.render("m", None, {"name": '<b>Tom & "Jerry"</b>'})
    assert "<b>" not in rendered.html
    assert "&lt;b&gt;Tom &amp; &#34;Jerry&#34;&lt;/b&gt;" in rendered.html
    assert rendered.text == '<b>Tom & "Jerry"</b>\n'


def test_text_macro_output_is_escaped_in_html(tmp_path: Path) -> None:
    """It escapes what a ``.txt`` partial's macro prints when an HTML template calls it."""
    files = {
        "_p.txt": "{% macro hi(who) %}Hi {{ who }}!{% endmacro %}",
        **email_files(
            "m",
            html='{% import "_p.txt" as p %}<p>{{ p.hi(name) }}</p>',
            text='{% import "_p.txt" as p %}{{ p.hi(name) }}',
        ),
    }
    renderer = EmailRenderer(write_templates(tmp_path, files))
    rendered = renderer.render("m", None, {"name": "<script>x</script>"})
    assert "<script>" not in rendered.html
    assert "Hi &lt;script&gt;x&lt;/script&gt;!" in rendered.html
    assert rendered.text == "Hi <script>x</script>!\n"


def test_subject_is_one_line(tmp_path: Path) -> None:
    """It strips line breaks from the subject, whatever the template and the data."""
    renderer = EmailRenderer(write_templates(tmp_path, email_files("m", subject="Hello\n{{ name }}\r\n  there\n")))
    rendered = renderer.render("m", None, {"name": "Ana\r\nBcc: x@evil.example\u2028y"})
    assert rendered.subject == "Hello Ana Bcc: x@evil.example y there"


def test_text_part_has_no_trailing_spaces_or_blank_runs(tmp_path: Path) -> None:
    """It tidies the plain-text part: no trailing spaces, at most one blank line in a row."""
    renderer = EmailRenderer(write_templates(tmp_path, email_files("m", text="\n\na  \n\n\n\nb\t\n\n")))
    assert renderer.render("m", None, {"name": "x"}).text == "a\n\nb\n"


def tidy_by_each_rule(text: str) -> str:
    """Tidying as the three rules say it, one after the other, to compare ``tidy_text`` with."""
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n") + "\n"


@settings(max_examples=500)
@given(st.text(alphabet=st.sampled_from([" ", "\t", "\n", "\r", "a", "é", "—"]), max_size=40))
def test_tidy_text_is_each_rule_applied(text: str) -> None:
    """It tidies any text exactly as its rules say, whether or not its first look finds something to do."""
    assert tidy_text(text) == tidy_by_each_rule(text)
    assert tidy_text(f"Grüße —\n{text}\n\n") == tidy_by_each_rule(f"Grüße —\n{text}\n\n")


def test_nl2br_escapes_then_breaks_lines() -> None:
    """It escapes text and turns its line breaks into <br>."""
    assert str(nl2br("a<b>\r\nc")) == "a&lt;b&gt;<br>\nc"
    assert str(nl2br("a\rb\n\r\nc")) == "a<br>\nb<br>\n<br>\nc"
    assert str(nl2br("no breaks")) == "no breaks"


# --------------------------------------------------------------------------- mailto
def test_mailto_percent_encodes_and_round_trips() -> None:
    """It encodes subject and body so a mail client reads back exactly the text (line breaks as CRLF)."""
    body = "Hi & welcome,\nuse https://x.example/r/a?b=c&d=e #1 100%\nAna — ☃"
    url = MailtoEncoder().mailto("Try Acme? Yes & no", body)
    assert url.startswith("mailto:?subject=")
    assert " " not in url
    assert "\n" not in url
    query = parse_qs(urlsplit(url).query)
    assert query["subject"] == ["Try Acme? Yes & no"]
    assert query["body"] == [body.replace("\n", "\r\n")]


@settings(max_examples=300)
@given(st.text(max_size=60) | st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
def test_mailto_text_is_percent_encoded_exactly_as_quote_does(text: str) -> None:
    """It percent-encodes any text as ``quote(text, safe="")`` does, ASCII or not, met before or not."""
    encoder = MailtoEncoder()
    assert encoder.quote_text(text) == quote(text, safe="")
    assert encoder.quote_text(text) == quote(text, safe="")  # the second time from the words already met


def test_every_character_is_percent_encoded_as_quote_does() -> None:
    """It encodes each ASCII character, and the UTF-8 bytes of any other, exactly as ``quote(safe="")`` does."""
    for code in [*range(256), 0x2028, 0x4E2D, 0xFFFF, 0x1F984, 0x10FFFF]:
        word = f"{chr(code)}/{code}:{chr(code)}"  # a word never met before: encoded, not looked up
        assert MailtoEncoder().quote_text(word) == quote(word, safe=""), hex(code)
    for lone_surrogate in ("\ud800", "a\udfff"):
        with pytest.raises(UnicodeEncodeError):
            quote(lone_surrogate, safe="")
        with pytest.raises(UnicodeEncodeError):
            MailtoEncoder().quote_text(lone_surrogate)


@settings(max_examples=200)
@given(st.lists(st.sampled_from(["Hi,", "", "Grüße von Ana", "a & b = c?", "Line\r", "x\u2028y"]), max_size=8))
def test_mailto_body_is_the_text_with_crlf_line_breaks_percent_encoded(lines: list[str]) -> None:
    """It encodes a body as ``quote`` encodes its lines joined by CRLF, whatever line breaks it had."""
    for body in ("\n".join(lines), "\r\n".join(lines)):
        query = urlsplit(MailtoEncoder().mailto("S", body)).query
        assert query.split("&body=")[1] == quote("\r\n".join(body.splitlines()), safe="")


def test_shipped_email_mailto_carries_the_introduction_and_referral_link() -> None:
    """It gives the customer a mailto: link whose body is the introduction with their referral link."""
    email = compose()
    href = re.search(r'href="(mailto:[^"]*)"', email.html)
    assert href is not None
    url = href.group(1).replace("&amp;", "&")
    query = parse_qs(urlsplit(url).query)
    assert query["subject"] == ["Have you tried Acme?"]
    assert "https://refer.example.com/r/Xy7-kQ2_pL9m" in query["body"][0]
    assert query["body"][0].replace("\r\n", "\n") in email.text


# --------------------------------------------------------------------------- CSS
def test_shipped_html_has_inline_styles_and_no_stylesheet_rules() -> None:
    """It inlines the stylesheet: every styled element carries style="", only @media stays in <style>."""
    renderer = shipped_renderer()
    assert not renderer.inline_each_email
    email = compose()
    button = re.search(r'<a class="button" [^>]*>', email.html)
    assert button is not None
    assert 'style="' in button.group(0)
    assert "background" not in button.group(0)
    assert re.search(r'<td class="button-cell"[^>]*style="[^"]*background-color: #1d4ed8', email.html)
    assert re.search(r'<p style="margin: 0 0 16px 0;">Hi Ana,</p>', email.html)
    styles = re.findall(r"<style>(.*?)</style>", email.html, re.S)
    assert all(css.strip().startswith("@media") for css in styles)


def test_templates_that_cannot_be_inlined_early_are_inlined_per_email(tmp_path: Path) -> None:
    """It falls back to inlining each rendered email when a template's markup cannot be inlined in advance."""
    html = '<!DOCTYPE html><html><body><p class="x" {% if name %}id="n"{% endif %}>{{ name }}</p></body></html>'
    files = {**email_files("m", html=html), "_styles.css": ".x { color: #123456; }"}
    renderer = EmailRenderer(write_templates(tmp_path, files))
    assert renderer.inline_each_email
    rendered = renderer.render("m", None, {"name": "Ana"})
    assert re.search(r'<p class="x" id="n" style="color: #123456;">Ana</p>', rendered.html)


def test_renderer_compiles_once(tmp_path: Path) -> None:
    """It renders from compiled templates: editing a file after the renderer is built changes nothing."""
    directory = write_templates(tmp_path, email_files("m", subject="Before"))
    renderer = EmailRenderer(directory)
    (directory / "m.subject").write_text("After", encoding="utf-8")
    assert renderer.render("m", None, {"name": "x"}).subject == "Before"


# --------------------------------------------------------------------------- _context files
def test_context_files_become_variables_in_the_emails_locale(tmp_path: Path) -> None:
    """It renders each _context file once per email, in the email's locale, as a variable named after it."""
    files = {
        "_context/words.txt": '{% set hello = "Hello" %}',
        "_context/words.de.txt": '{% set hello = "Hallo" %}',
        "_context/zeta.txt": "{% set shout = words.hello|upper %}",
        **email_files("c/m", subject="{{ words.hello }} {{ zeta.shout }}"),
        **email_files("c/m.de", subject="{{ words.hello }} {{ zeta.shout }}"),
    }
    renderer = EmailRenderer(write_templates(tmp_path, files))
    assert renderer.render("c/m", "en", {"name": "x"}).subject == "Hello HELLO"
    assert renderer.render("c/m", "de-CH", {"name": "x"}).subject == "Hallo HALLO"


def test_a_campaign_folder_overrides_a_context_file(tmp_path: Path) -> None:
    """It prefers the campaign folder's _context file to the shared one."""
    files = {
        "_context/words.txt": '{% set hello = "Hello" %}',
        "partners/_context/words.txt": '{% set hello = "Dear partner" %}',
        **email_files("partners/m", subject="{{ words.hello }}"),
        **email_files("customers/m", subject="{{ words.hello }}"),
    }
    renderer = EmailRenderer(write_templates(tmp_path, files))
    assert renderer.render("partners/m", None, {"name": "x"}).subject == "Dear partner"
    assert renderer.render("customers/m", None, {"name": "x"}).subject == "Hello"


def test_introduction_needs_a_subject(tmp_path: Path) -> None:
    """It reports an introduction that sets no subject, naming its file."""
    files = {"_context/introduction.txt": "Hi,\n{{ name }}\n", **email_files("m", subject="{{ introduction.subject }}")}
    renderer = EmailRenderer(write_templates(tmp_path, files))
    with pytest.raises(TemplateError) as caught:
        renderer.render("m", None, {"name": "x"})
    (problem,) = caught.value.problems
    assert problem.path == str(tmp_path / "_context" / "introduction.txt")
    assert "needs a subject" in problem.message


def test_introduction_gives_subject_body_and_mailto(tmp_path: Path) -> None:
    """It turns the introduction file into a subject, a body (its output) and a mailto: link of both."""
    text = "{{ introduction.body }}|{{ introduction.mailto }}"
    files = {
        "_context/introduction.txt": '{% set subject = "Try\nit" %}\n\nHi,\n\n\n\nsee {{ name }}\n\n',
        **email_files("m", subject="{{ introduction.subject }}", text=text),
    }
    renderer = EmailRenderer(write_templates(tmp_path, files))
    rendered = renderer.render("m", None, {"name": "x"})
    assert rendered.subject == "Try it"
    assert rendered.text == "Hi,\n\nsee x|mailto:?subject=Try%20it&body=Hi%2C%0D%0A%0D%0Asee%20x\n"


@pytest.mark.parametrize(
    "reading",
    [
        "{{ customer.first_name }}",
        "{% set c = customer %}{{ c.first_name }}",
        "{{ customer|attr('first_name') }}",
        "{% for c in [customer] %}{{ c.first_name }}{% endfor %}",
        "{{ customer.tenure_days }} {{ customer.first_name|upper }}",
    ],
)
def test_a_context_file_reading_a_customers_name_is_never_reused_for_another(tmp_path: Path, reading: str) -> None:
    """It reuses a _context rendering only for emails that agree on everything the file reads."""
    files = {
        "_context/words.txt": f"{{% set hello %}}Hi {reading}{{% endset %}}",
        **email_files("m", "{{ words.hello }}"),
    }
    renderer = EmailRenderer(write_templates(tmp_path, files))
    for name in ("Ann", "Bob", "Ann"):
        person = customer_view(customer(first_name=name), MOMENT_AT)
        assert name.upper() in renderer.render("m", None, {"customer": person, "name": name}).subject.upper()


@pytest.mark.parametrize("reading", ["{{ customer.nickname }}", "{{ customer._secret }}", "{{ customer.name.x }}"])
def test_a_context_file_reading_what_is_not_there_is_reported_every_time(tmp_path: Path, reading: str) -> None:
    """It reports a context file that reads a missing or private attribute for every email, never reusing a failure."""
    files = {
        "_context/words.txt": f"{{% set hello %}}Hi {reading}{{% endset %}}",
        **email_files("m", "{{ words.hello }}"),
    }
    renderer = EmailRenderer(write_templates(tmp_path, files))
    for _ in range(2):
        with pytest.raises(TemplateError) as caught:
            renderer.render("m", None, {"customer": customer_view(customer(), MOMENT_AT), "name": "x"})
        assert caught.value.problems[0].path == str(tmp_path / "_context" / "words.txt")


def test_the_customers_result_is_rendered_once_per_kind_of_moment_and_tenure() -> None:
    """It reuses the shipped result wording for customers whose moment and tenure agree, whatever their names."""
    renderer = EmailRenderer(shipped_renderer().templates_dir)
    for name in ("Ann", "Bob", "Cleo"):
        email = compose(renderer=renderer, person=customer(first_name=name))
        assert f"Hi {name}," in email.text
    compose(renderer=renderer, person=customer(first_name="Dan"), rule="milestone", properties={"name": "1,000 orders"})
    assert renderer.stats().context_renders["_context/result.txt"] == 2


def test_a_context_file_never_reused_stops_being_looked_up(tmp_path: Path) -> None:
    """It stops computing reuse keys for a _context file whose renderings never repeat, and renders it right."""
    files = {
        "_context/words.txt": "{% set hello %}Hi {{ customer.first_name }}{% endset %}",
        **email_files("m", "{{ words.hello }}"),
    }
    renderer = EmailRenderer(write_templates(tmp_path, files))
    for n in range(300):
        person = customer_view(customer(first_name=f"Name{n}"), MOMENT_AT)
        assert renderer.render("m", None, {"customer": person, "name": "x"}).subject == f"Hi Name{n}"
    assert renderer.stats().context_reuse_given_up == {"_context/words.txt"}
