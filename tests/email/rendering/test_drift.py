"""drift: an email's HTML part, as shown, against its text part (links and sentences' count)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from referral_automation.email.rendering.drift import Drift, count_sentences, drift, read_part, shown_text
from tests.support.render import compose, customer

LINK = "https://refer.example.com/r/Xy7"
UNSUBSCRIBE = "https://refer.example.com/u/tok"

HTML = f"""<!DOCTYPE html><html><head><title>Not shown. At all.</title>
<style>p {{ color: red; }} .x::after {{ content: "Hidden. Text."; }}</style></head>
<body><div class="preheader" style="display: none">A preheader. It is not counted.</div>
<!-- A comment. Not shown either. -->
<p>Hi Ana,</p>
<p>Thanks for the 10/10. It made our week!</p>
<p>Share it: <a href="{LINK}">your link</a>.</p>
<p><a href="mailto:?subject=Hi&amp;body=Try%20it%3A%20{LINK.replace(":", "%3A").replace("/", "%2F")}">Open it</a></p>
<p style="font-size: 12px"><a href="{UNSUBSCRIBE}">Unsubscribe</a></p>
</body></html>"""

TEXT = f"""Hi Ana,

Thanks for the 10/10. It made our week!

Share it: {LINK}.

Open it:
mailto:?subject=Hi&body=Try%20it%3A%20{LINK.replace(":", "%3A").replace("/", "%2F")}

Unsubscribe: {UNSUBSCRIBE}
"""


def test_parts_that_say_the_same_do_not_drift() -> None:
    """It finds no drift between an HTML part and a text part with the same sentences and links."""
    assert drift(HTML, TEXT) == []


def test_what_the_html_does_not_show_is_left_out() -> None:
    """It leaves out the head, styles, comments and hidden elements (the preheader), and breaks lines at blocks."""
    shown, hrefs = shown_text(HTML)
    assert "Not shown" not in shown
    assert "Hidden" not in shown
    assert "preheader" not in shown
    assert "comment" not in shown
    assert "Hi Ana,\n" in shown
    assert hrefs[0] == LINK
    assert hrefs[1].startswith("mailto:?subject=Hi&body=")  # entities in attributes are unescaped


def test_a_paragraph_missing_from_the_text_part_is_drift() -> None:
    """It reports at the text part a paragraph the HTML part has and the text part lacks."""
    html = HTML.replace("<p>Hi Ana,</p>", "<p>Hi Ana,</p><p>We love working with you. Really.</p>")
    assert drift(html, TEXT) == [
        Drift("txt", "sentences", "the text part has 3 sentences, the HTML part 5 (drift between the parts?)")
    ]


def test_a_sentence_missing_from_the_html_part_is_drift() -> None:
    """It reports at the HTML part one sentence more in the text part."""
    text = TEXT.replace("It made our week!", "It made our week! See you soon.")
    assert drift(HTML, text) == [
        Drift("html", "sentences", "the text part has 4 sentences, the HTML part 3 (drift between the parts?)")
    ]


def test_links_missing_from_either_part_are_drift() -> None:
    """It names the links one part has and the other lacks, each at the part that lacks them."""
    html = HTML.replace("Share it:", 'Read <a href="https://example.com/blog?a=1&amp;b=2">our blog</a>. Share it:')
    text = TEXT.replace(f"Unsubscribe: {UNSUBSCRIBE}", "Unsubscribe: https://example.com/other")
    found = drift(html, text)
    assert (
        Drift(
            "txt",
            "links",
            f"links in the HTML part missing from the text part: https://example.com/blog?a=1&b=2, {UNSUBSCRIBE}",
        )
        in found
    )
    assert (
        Drift("html", "links", "links in the text part missing from the HTML part: https://example.com/other") in found
    )
    assert {d.kind for d in found} == {"links", "sentences"}  # "Read our blog." is a sentence more


def test_a_link_only_in_one_mailto_introduction_is_drift() -> None:
    """It reads the links inside a mailto: link's decoded body as links of the part."""
    text = TEXT.replace("Try%20it%3A%20", "Try%20https%3A%2F%2Fother.example.com%20or%20")
    assert drift(HTML, text) == [
        Drift("html", "links", "links in the text part missing from the HTML part: https://other.example.com")
    ]


def test_many_missing_links_are_counted_not_listed() -> None:
    """It lists three missing links and counts the rest."""
    extra = " ".join(f'<a href="https://example.com/{n}">{n}</a>' for n in range(5))
    found = drift(HTML.replace("<p>Hi Ana,</p>", f"<p>Hi Ana, {extra}</p>"), TEXT)
    assert found[0].message.endswith("https://example.com/0, https://example.com/1, https://example.com/2 and 2 more")


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("One. Two! Three? Four…", 4),
        ("Wait... what?! Really?!", 3),
        ('He said "stop." Then (quietly.) left.', 3),
        ("Hi Ana,\nSubject: Have you tried Acme\nShare your link:", 0),  # fragments are not sentences
        ("Pay $50.00 or 20.5% at example.com now", 0),  # dots inside words and numbers
        (" . ... ", 0),  # no word before the dots
        ("1. Sign up\n2. Invite\n- Enjoy", 0),  # list markers
        ("Go to https://example.com/a.b. Then rest.", 2),  # a URL's dots never end a sentence
        ("mailto:?body=Hi.%0AThanks.", 0),
    ],
)
def test_sentences_are_counted_by_their_ends(text: str, sentences: int) -> None:
    """It counts a sentence at each run of . ! ? … after a word and before a space or the end."""
    assert read_part(text)[1] == sentences
    if "://" not in text and "mailto:" not in text:
        assert count_sentences(text) == sentences


def test_urls_lose_their_trailing_punctuation() -> None:
    """It reads "https://example.com/a." at a sentence's end as https://example.com/a."""
    assert read_part("See https://example.com/a. Or (https://example.com/b), or HTTPS://Example.com/C!")[0] == {
        "https://example.com/a",
        "https://example.com/b",
        "HTTPS://Example.com/C",
    }


class _Reference(HTMLParser):
    """The plain way: the standard library's parser, for the text the fast path must agree with."""

    hidden_void = frozenset({"br", "img", "meta", "link", "hr", "input"})
    blocks = frozenset({"p", "div", "td", "tr", "table", "tbody", "h2", "li", "ul", "html", "body"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.hrefs: list[str] = []
        self.open: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        hidden = (
            (bool(self.open) and self.open[-1][1])
            or tag in ("head", "style", "title", "script")
            or "hidden" in values
            or "display: none" in (values.get("style") or "")
            or "preheader" in (values.get("class") or "").split()
        )
        if not hidden:
            self.chunks.append("\n" if tag == "br" else "\n\n" if tag in self.blocks else "")
            if values.get("href"):
                self.hrefs.append(values["href"] or "")
        if tag not in self.hidden_void:
            self.open.append((tag, hidden))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index][0] == tag:
                del self.open[index:]
                break
        if tag in self.blocks and not (self.open and self.open[-1][1]):
            self.chunks.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not (self.open and self.open[-1][1]):
            self.chunks.append(data)


@pytest.mark.parametrize(
    ("variant", "step", "locale", "first_name"),
    [
        ("gratitude", 0, "en", "Ana"),
        ("social_proof", 2, "en", ""),
        ("gratitude", 1, "de", "Jürgen"),
        ("direct_ask", 0, "en", '<b>Ana</b> & "Bo". İSTANBUL. Ştefan! <p hidden>x</p>'),  # hostile, escaped
    ],
)
def test_shown_text_agrees_with_the_standard_parser(variant: str, step: int, locale: str, first_name: str) -> None:
    """It reads a rendered email's HTML as html.parser does: the same shown text, sentences and links."""
    email = compose(variant=variant, step=step, person=customer(locale=locale, first_name=first_name))
    reference = _Reference()
    reference.feed(email.html)
    reference.close()
    expected = "".join(reference.chunks)
    shown, hrefs = shown_text(email.html)
    assert shown.split() == expected.split()
    assert hrefs == reference.hrefs
    assert read_part(shown, hrefs) == read_part(expected, reference.hrefs)
    assert drift(email.html, email.text) == []
