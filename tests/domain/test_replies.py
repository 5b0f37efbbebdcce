"""Inbound replies: the customer's own words without quotes and signatures, and "OK" as the first word."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_automation.domain.replies import (
    MAX_HTML_CHARS,
    MAX_TEXT_CHARS,
    MAX_VERDICT_TEXT,
    ReplyVerdict,
    classify_reply,
    defuse_html,
    html_to_text,
    is_ok,
    reply_text,
)

ORIGINAL = "> Hi Ada,\n> would you introduce us to a peer? Just reply OK.\n> Acme Success Team\n"

# --------------------------------------------------------------------------- is_ok
OK_CASES = [
    ("ok", "ok"),
    ("upper-case", "OK"),
    ("okay", "Okay"),
    ("okey", "okey"),
    ("okie", "Okie!"),
    ("oki", "oki"),
    ("dotted", "O.K."),
    ("dotted-without-last-dot", "o.k"),
    ("repeated-letters", "okkk"),
    ("stretched", "Okayyy"),
    ("fullwidth", "ＯＫ"),
    ("dutch", "Oké"),
    ("swedish", "Okej"),
    ("finnish", "okei"),
    ("brazilian", "Oquei"),
    ("indonesian", "Oke"),
    ("cyrillic-upper", "ОК"),
    ("cyrillic-lower", "ок"),
    ("cyrillic-okay", "Окей"),
    ("greek", "ΟΚ"),
    ("korean", "오케이"),
    ("hebrew", "אוקיי"),
    ("arabic", "أوكي"),
    ("hindi", "ओके"),
    ("katakana", "オーケー"),
    ("katakana-with-particle", "オッケーです"),
    ("thai-with-particle", "โอเคครับ"),
    ("squared-ok", "🆗"),
    ("punctuation-around", '"OK!!!"'),
    ("emoji-before", "👍 ok"),
    ("emoji-after", "OK👍"),
    ("leading-space-and-bom", "\ufeff  \u200b OK"),
    ("ok-and-more", "OK, happy to help"),
    ("ok-but-not-now", "OK, but not now"),
    ("ok-question", "OK?"),
    ("ok-dash", "okey-dokey"),
    ("ok-dot-no-space", "ok.thanks"),
    ("ok-then-japanese", "OKです"),
    ("ok-on-its-own-line", "OK\nAda"),
]


@pytest.mark.parametrize("text", [c[1] for c in OK_CASES], ids=[c[0] for c in OK_CASES])
def test_ok_forms_are_ok(text: str) -> None:
    """It takes the first word as OK in any case, spelling or script of the loanword, punctuation and emoji ignored."""
    assert is_ok(text)


NOT_OK_CASES = [
    ("empty", ""),
    ("only-punctuation", "!!! ... 👍"),
    ("not-ok", "not ok"),
    ("no", "No thanks"),
    ("yes", "Yes"),
    ("sure", "Sure"),
    ("german-yes", "Ja, gerne"),
    ("french-yes", "Oui"),
    ("japanese-yes", "はい"),
    ("chinese-fine", "好的"),
    ("thumbs-up", "👍"),
    ("ok-hand", "👌"),
    ("k", "k"),
    ("kk", "kk"),
    ("initial", "K. Müller here"),
    ("ok-inside-a-word", "Okinawa was lovely"),
    ("okra", "okra"),
    ("spaced-out", "O. K."),
    ("ok-second-word", "Hi, OK"),
    ("digits-attached", "ok2"),
    ("orchestra-in-katakana", "オーケストラ"),
    ("mixed-scripts", "Оk"),
]


@pytest.mark.parametrize("text", [c[1] for c in NOT_OK_CASES], ids=[c[0] for c in NOT_OK_CASES])
def test_other_first_words_are_not_ok(text: str) -> None:
    """It answers no for a first word that is not OK: other words for yes, emoji, "k", a negation, OK further on."""
    assert not is_ok(text)


def test_is_ok_survives_anything() -> None:
    """It answers no, never raising, for None, lone surrogates, NULs and huge text."""
    assert not is_ok(None)
    assert is_ok("\ud800 ok")
    assert is_ok("\x00OK")
    assert not is_ok("x" * 10_000_000)


# --------------------------------------------------------------------------- reply_text: plain text
ATTRIBUTIONS = [
    ("english-gmail", "On Mon, Jun 2, 2025 at 10:00 AM Acme Success Team <referrals@example.com> wrote:"),
    ("english-apple", "On 2 Jun 2025, at 10:00, Acme Success Team <referrals@example.com> wrote:"),
    ("german-gmail", "Am Mo., 2. Juni 2025 um 10:00 Uhr schrieb Acme Success Team <referrals@example.com>:"),
    ("german-apple", "Am 02.06.2025 um 10:00 schrieb Acme Success Team <referrals@example.com>:"),
    ("french-gmail", "Le lun. 2 juin 2025 à 10:00, Acme Success Team <referrals@example.com> a écrit\u202f:"),
    ("french-plain-space", "Le 2 juin 2025 à 10:00, Acme <referrals@example.com> a écrit :"),
    ("spanish", "El lun, 2 jun 2025 a las 10:00, Acme Success Team (<referrals@example.com>) escribió:"),
    ("portuguese", "Em seg., 2 de jun. de 2025 às 10:00, Acme Success Team <referrals@example.com> escreveu:"),
    ("italian", "Il giorno lun 2 giu 2025 alle ore 10:00 Acme Success Team <referrals@example.com> ha scritto:"),
    ("dutch", "Op ma 2 jun 2025 om 10:00 schreef Acme Success Team <referrals@example.com>:"),
    ("upper-case", "ON MON, JUN 2, 2025 ACME WROTE:"),
    ("decomposed-accent", "Le 2 juin 2025, Acme a e\u0301crit :"),
]


@pytest.mark.parametrize("attribution", [c[1] for c in ATTRIBUTIONS], ids=[c[0] for c in ATTRIBUTIONS])
def test_a_top_posted_reply_loses_the_attribution_and_the_quote(attribution: str) -> None:
    """It keeps the words above an attribution line, in each language Gmail, Apple Mail and Outlook write."""
    assert reply_text(f"Gern, OK!\n\n{attribution}\n\n{ORIGINAL}", None) == "Gern, OK!"


def test_gmails_wrapped_attribution_is_recognised() -> None:
    """It recognises an attribution that Gmail wrapped over two lines, inside the address."""
    text = "OK\n\nOn Mon, Jun 2, 2025 at 10:00 AM Acme Success Team <\nreferrals@example.com> wrote:\n\n" + ORIGINAL
    assert reply_text(text, None) == "OK"


def test_a_three_line_attribution_is_recognised() -> None:
    """It recognises an attribution wrapped over three lines."""
    text = "OK\n\nOn Mon, Jun 2, 2025 at 10:00 AM\nAcme Success Team <referrals@example.com>\nwrote:\n" + ORIGINAL
    assert reply_text(text, None) == "OK"


def test_a_bottom_posted_reply_keeps_the_words_under_the_quote() -> None:
    """It keeps the customer's words below a quoted original (bottom posting)."""
    text = "On Mon, Jun 2, 2025 Acme <referrals@example.com> wrote:\n" + ORIGINAL + "\nOk, gladly.\n"
    assert reply_text(text, None) == "Ok, gladly."
    assert is_ok(reply_text(text, None))


def test_inline_replies_keep_every_own_line() -> None:
    """It keeps the customer's lines between quoted ones and drops the quoted ones."""
    text = "> Would you introduce us?\nOK\n> Who would you pick?\nGrace, my old colleague\n"
    assert reply_text(text, None) == "OK\nGrace, my old colleague"


def test_an_attribution_followed_by_an_unquoted_original_cuts_the_rest() -> None:
    """It drops everything after an attribution that is not followed by quoted lines (the original, unquoted)."""
    text = "OK\nOn Mon, Jun 2, 2025 Acme wrote:\nHi Ada, would you introduce us? Reply OK.\n"
    assert reply_text(text, None) == "OK"


def test_an_own_line_starting_with_on_is_not_part_of_the_attribution_below() -> None:
    """It keeps an own line starting with "On" right above an attribution, instead of joining the two."""
    text = "On it!\nOn Mon, Jun 2, 2025 Acme <referrals@example.com> wrote:\n" + ORIGINAL
    assert reply_text(text, None) == "On it!"


def test_a_sentence_starting_with_on_is_kept() -> None:
    """It keeps an own line that starts like an attribution but is not one."""
    assert (
        reply_text("On second thought, OK.\nOn Monday I am free.", None)
        == "On second thought, OK.\nOn Monday I am free."
    )


OUTLOOK_BLOCKS = [
    ("original-message", "-----Original Message-----\nFrom: Acme\nSent: Monday\nSubject: Hi\n\nHi Ada"),
    ("german-original", "-----Ursprüngliche Nachricht-----\nVon: Acme\nGesendet: Montag\n\nHallo Ada"),
    (
        "from-sent-block",
        "From: Acme Success Team <referrals@example.com>\nSent: Monday, June 2, 2025 10:00 AM\nTo: Ada",
    ),
    ("bold-from-block", "*From:* Acme <referrals@example.com>\n*Sent:* Monday\n*To:* Ada\n*Subject:* Hi\n\nHi Ada"),
    ("french-block", "De : Acme <referrals@example.com>\nEnvoyé : lundi 2 juin 2025 10:00\nÀ : Ada\nObjet : Bonjour"),
    ("underscore-line", "________________________________\nFrom: Acme\nSent: Monday\n\nHi Ada"),
    ("forwarded", "---------- Forwarded message ---------\nFrom: Acme <referrals@example.com>\nDate: Mon"),
]


@pytest.mark.parametrize("block", [c[1] for c in OUTLOOK_BLOCKS], ids=[c[0] for c in OUTLOOK_BLOCKS])
def test_outlooks_original_message_is_cut(block: str) -> None:
    """It drops Outlook's unquoted original from its separator or its From:/Sent: header block on."""
    assert reply_text(f"OK, happy to.\r\n\r\n{block}\r\nreply OK", None) == "OK, happy to."


def test_a_from_line_alone_is_kept() -> None:
    """It keeps a line starting with "From:" that no other header line follows."""
    assert reply_text("OK\nFrom: my side, all good.\nAda", None) == "OK\nFrom: my side, all good.\nAda"


SIGNATURES = [
    ("sig-dashes", "-- \nAda Lovelace\nAnalytical Engines Ltd"),
    ("sig-dashes-trimmed", "--\nAda"),
    ("iphone", "Sent from my iPhone"),
    ("outlook-mobile", "Get Outlook for iOS"),
    ("german-iphone", "Von meinem iPhone gesendet"),
    ("french-iphone", "Envoyé de mon iPhone"),
    ("spanish-iphone", "Enviado desde mi iPhone"),
    ("portuguese-iphone", "Enviado do meu iPhone"),
    ("italian-iphone", "Inviato da iPhone"),
    ("dutch-iphone", "Verzonden met iPhone"),
    ("proton", "Sent with Proton Mail secure email."),
]


@pytest.mark.parametrize("signature", [c[1] for c in SIGNATURES], ids=[c[0] for c in SIGNATURES])
def test_signatures_are_cut(signature: str) -> None:
    """It drops a signature after "-- " and "Sent from my iPhone"-style lines, in several languages."""
    assert reply_text(f"Okay!\n\n{signature}\n\n{ORIGINAL}", None) == "Okay!"


def test_blank_lines_are_tidied() -> None:
    """It drops blank lines at either end and keeps at most one blank line in a row, and trailing spaces."""
    assert reply_text("\n\n  OK   \n\n\n\nThanks  \n\n", None) == "OK\n\nThanks"


def test_line_endings_and_controls_are_normalised() -> None:
    """It reads CRLF, CR and Unicode line separators as line breaks, and drops NULs and other controls."""
    assert reply_text("OK\r\nline\rnext\u2028last\x00\x07!", None) == "OK\nline\nnext\nlast!"


def test_only_the_first_part_of_a_huge_reply_is_read() -> None:
    """It reads at most MAX_TEXT_CHARS of a text part, so a huge reply costs no more than a long one."""
    words = reply_text("OK " + "x" * (10 * MAX_TEXT_CHARS), None)
    assert words.startswith("OK")
    assert len(words) <= MAX_TEXT_CHARS


# --------------------------------------------------------------------------- reply_text: HTML
GMAIL_HTML = (
    '<div dir="ltr">OK, gladly &amp; soon<br></div><br>'
    '<div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">'
    "On Mon, Jun 2, 2025 at 10:00 AM Acme &lt;referrals@example.com&gt; wrote:<br></div>"
    '<blockquote class="gmail_quote" style="margin:0px">Hi Ada,<br>reply OK<div>nested</div></blockquote></div>'
)
APPLE_HTML = (
    "<html><head><meta charset=utf-8><style>p { color: red }</style></head><body>"
    '<div>Okay.</div><div><br><blockquote type="cite"><div>On 2 Jun 2025, at 10:00, Acme wrote:</div>'
    "<div>Hi Ada</div></blockquote></div></body></html>"
)
OUTLOOK_WEB_HTML = (
    '<div style="font-family:Calibri">OK from Outlook</div><div id="appendonsend"></div><hr>'
    '<div id="divRplyFwdMsg"><b>From:</b> Acme &lt;referrals@example.com&gt;<br><b>Sent:</b> Monday<br>'
    "<b>To:</b> Ada<br><b>Subject:</b> Hi</div><div>Hi Ada, reply OK</div>"
)
THUNDERBIRD_HTML = (
    '<p>OK</p><div class="moz-cite-prefix">On 02/06/2025 10:00, Acme wrote:<br></div>'
    '<blockquote type="cite">Hi Ada</blockquote><div class="moz-signature">-- <br>Ada</div>'
)
YAHOO_HTML = '<div>ok!</div><div class="yahoo_quoted"><div>On Monday, Acme wrote:</div><div>Hi Ada</div></div>'
BOTTOM_POSTED_HTML = (
    "<div>On Mon, Jun 2, 2025, Acme wrote:</div><blockquote>Hi Ada, reply OK</blockquote><div>OK below</div>"
)

HTML_REPLIES = [
    ("gmail", GMAIL_HTML, "OK, gladly & soon"),
    ("apple-mail", APPLE_HTML, "Okay."),
    ("outlook-web", OUTLOOK_WEB_HTML, "OK from Outlook"),
    ("thunderbird", THUNDERBIRD_HTML, "OK"),
    ("yahoo", YAHOO_HTML, "ok!"),
    ("bottom-posted", BOTTOM_POSTED_HTML, "OK below"),
    ("script", "<script>alert('not OK')</script><p>Sure</p>", "Sure"),
    ("unclosed-head", "<head><title>x</title><body><p>OK</p>", "OK"),
    ("entities", "<p>&#79;&#x4B; &lt;3</p>", "OK <3"),
    ("whitespace", "<p>  OK\n\n   thanks  </p>", "OK thanks"),
    ("outlook-conditional", "<!--[if gte mso 9]><xml>x</xml><![endif]--><![if !supportLists]>1.<![endif]>OK", "1.OK"),
]


@pytest.mark.parametrize(("html", "expected"), [c[1:] for c in HTML_REPLIES], ids=[c[0] for c in HTML_REPLIES])
def test_an_html_only_reply_gives_its_own_words(html: str, expected: str) -> None:
    """It reads an HTML-only reply's visible text without blockquotes, Gmail/Yahoo quotes, scripts and styles."""
    assert reply_text(None, html) == expected


def test_the_text_part_wins_over_html() -> None:
    """It reads the text part when there is one, and the HTML part only when the text part is empty."""
    assert reply_text("From text", "<p>From HTML</p>") == "From text"
    assert reply_text("  \n ", "<p>From HTML</p>") == "From HTML"
    assert reply_text(None, None) == ""


MALFORMED_HTML = [
    ("unknown-marked-section", "<![foo[bar]]><p>OK</p>"),
    ("marked-section-without-name", "<![ x]><p>OK</p>"),
    ("unclosed-comment", "<p>OK</p><!-- never closed <p>x"),
    ("unclosed-tag", "<p>OK</p><a href='x"),
    ("stray-brackets", "<p>OK</p> < > << >> </ <!"),
    ("nul-and-surrogate", "<p>OK\x00\ud800</p>"),
    ("deep-nesting", "<div>" * 5_000 + "OK"),
    ("unclosed-blockquote", "<p>OK</p><blockquote>quote never closed"),
]


@pytest.mark.parametrize("html", [c[1] for c in MALFORMED_HTML], ids=[c[0] for c in MALFORMED_HTML])
def test_malformed_html_still_gives_the_words(html: str) -> None:
    """It reads malformed HTML (constructs that make CPython's parser raise included) without raising."""
    assert reply_text(None, html).startswith("OK")


REPEATED = ["<a ", "<!--", "</", "<a b=", "<!-- >", '<a b="', "<![", "<script>", "&#"]


@pytest.mark.parametrize("unit", REPEATED)
def test_pathological_html_is_read(unit: str) -> None:
    """It reads the longest HTML part made of one construct repeated (quadratic in CPython's parser) without raising."""
    html = "<p>OK</p>" + unit * (MAX_HTML_CHARS // len(unit))
    assert is_ok(reply_text(None, html))


def test_only_the_first_part_of_huge_html_is_read() -> None:
    """It reads at most MAX_HTML_CHARS of an HTML part."""
    html = "<p>OK</p>" + "<p>" + "y" * (10 * MAX_HTML_CHARS) + "</p><p>END</p>"
    assert "END" not in html_to_text(html[:MAX_HTML_CHARS])
    assert "END" not in reply_text(None, html)


# --------------------------------------------------------------------------- classify_reply
def test_classify_reply_gives_ok_and_the_words() -> None:
    """It says whether the reply is OK and gives the customer's own words for the success manager."""
    assert classify_reply("OK!\n\nOn Mon, Acme wrote:\n" + ORIGINAL, None) == ReplyVerdict(ok=True, text="OK!")
    assert classify_reply("Not now, sorry.\n" + ORIGINAL, None) == ReplyVerdict(ok=False, text="Not now, sorry.")


def test_a_quoted_ok_is_not_the_customers() -> None:
    """It never counts the "reply OK" of the quoted original as the customer's answer."""
    assert classify_reply(ORIGINAL, None) == ReplyVerdict(ok=False, text="")
    assert classify_reply("> OK\n", None).ok is False


def test_the_verdicts_text_is_bounded() -> None:
    """It keeps at most MAX_VERDICT_TEXT characters of the customer's words."""
    verdict = classify_reply("OK " + "word " * 5_000, None)
    assert verdict.ok
    assert len(verdict.text) == MAX_VERDICT_TEXT


@given(text=st.one_of(st.none(), st.text(max_size=2_000)), html=st.one_of(st.none(), st.text(max_size=2_000)))
@settings(max_examples=300, deadline=None)
def test_any_reply_gets_a_verdict(text: str | None, html: str | None) -> None:
    """It classifies any text and HTML without raising, within its bound."""
    verdict = classify_reply(text, html)
    assert len(verdict.text) <= MAX_VERDICT_TEXT
    assert "\x00" not in verdict.text


HTML_PIECES = st.sampled_from(
    [
        *("<", ">", "</", "<!--", "-->", "<![", "]]>", "<blockquote>", "</blockquote>", "<div class=gmail_quote>"),
        *("</div>", "<script>", "</script>", "<br>", "&", "&#", ";", '"', "'", "=", "OK", " ", "\n", "> "),
        *("On x wrote:", "\x00"),
    ]
)


@given(st.lists(HTML_PIECES, max_size=200).map("".join))
@settings(max_examples=400, deadline=None)
def test_any_tag_soup_gets_a_verdict(html: str) -> None:
    """It reads any mixture of tags, comments, marked sections and entities without raising."""
    verdict = classify_reply(None, html)
    assert isinstance(verdict.ok, bool)
    assert "\x00" not in verdict.text


@given(st.lists(HTML_PIECES, max_size=200).map("".join))
@settings(max_examples=400, deadline=None)
def test_defused_html_gives_the_parser_nothing_to_rescan(html: str) -> None:
    """It leaves no "<" without a ">" before the next "<", no "<!--" after the last "-->" and no marked
    section but CDATA: the inputs on which CPython's HTMLParser rescans the rest of the document or raises."""
    defused = defuse_html(html)
    for start in [i for i, char in enumerate(defused) if char == "<"]:
        following = [i for i in (defused.find("<", start + 1), defused.find(">", start + 1)) if i >= 0]
        assert following
        assert defused[min(following)] == ">"
    assert "<!--" not in defused[defused.rfind("-->") + 3 if "-->" in defused else 0 :]
    assert "<![" not in defused.lower().replace("<![cdata[", "")


def test_defusing_keeps_ordinary_html() -> None:
    """It leaves well-formed HTML, comments and CDATA sections as they are."""
    html = '<p class="a">OK &amp; <b>thanks</b></p><!-- note --><![CDATA[x]]><br/>'
    assert defuse_html(html) == html
