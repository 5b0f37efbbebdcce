"""Inbound replies: the customer's own words, and whether they start with "OK".

Every email asks the customer to reply "OK" (CONTRACT, "Every email"); a reply whose first word is
"OK" records ``replied_ok``, any other is kept with its text for the success manager. A reply holds
much that the customer did not write: the quoted original, an attribution line ("On … wrote:" and
its translations), Outlook's header block, a signature. ``reply_text`` removes them; ``is_ok`` reads
the first word of what is left; ``classify_reply`` does both.

Replies are hostile input: only the first ``MAX_TEXT_CHARS`` of a text part and ``MAX_HTML_CHARS``
of an HTML part are read, NULs and other controls dropped, lone surrogates replaced, and nothing
here raises on any text.

Which words are "OK" (after NFKC, case-folding, dots removed and repeated letters collapsed, so
"O.K.", "ＯＫ", "Okayyy" and "okkk" count): the word OK and its spellings in languages that borrowed
it, in any script, ``OK_WORDS``; never a language's own word for yes ("ja", "oui", "sí", "はい",
"好的"), which would answer questions the email did not ask. "k" alone is not OK: in an email it is
as often an initial or a typo, and a missed OK costs little (the reply is kept for a person). The
contract's rule is the first word, so "OK, but not now" and "OK?" count as OK (their text goes to the
success manager all the same) and "not OK" does not.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

#: How much of a reply is read at all (characters): a customer's "OK" is at the top or right
#: after a quote, and parsing more only gives an attacker more to work with.
MAX_TEXT_CHARS = 32 * 1024
MAX_HTML_CHARS = 64 * 1024
#: How much of the customer's words a verdict keeps for the success manager.
MAX_VERDICT_TEXT = 2_000
#: How far into the customer's words ``is_ok`` looks for the first word.
_FIRST_WORD_WINDOW = 200

#: Forms of "OK" accepted as the first word, compared after ``_fold``.
OK_WORDS = frozenset(
    {
        # Latin script: English, and the loanword's spellings in Dutch/Hungarian (oké), Indonesian (oke),
        # Spanish/Turkish (okey), Swedish/Polish/Czech (okej, oukej), Finnish/Norwegian (okei, oukei),
        # Brazilian Portuguese (oquei), Italian (ochei), and chat forms (okie, oki, ohkay).
        "ok",
        "okay",
        "okey",
        "okie",
        "oki",
        "oke",
        "oké",
        "okej",
        "okei",
        "oukej",
        "oukei",
        "oquei",
        "ochei",
        "ohkay",
        # Cyrillic (Russian, Ukrainian, Bulgarian …), Greek
        "ок",
        "окей",
        "оке",
        "окэй",
        "οκ",
        "οκει",
        "οκέι",
        # Korean, Hebrew, Arabic, Persian, Hindi
        "오케이",
        "오키",
        "אוקיי",
        "אוקי",
        "اوكي",
        "أوكي",
        "اوکی",
        "ओके",
        # "🆗" (SQUARED OK) is the word OK in a box
        "🆗",
    }
)
#: Forms in scripts written without spaces between words: they count when the first run of that
#: script starts with one ("オッケーです").
OK_PREFIXES = ("オーケー", "オッケー", "オーケイ", "โอเค")

_NEWLINES = re.compile("\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class ReplyVerdict:
    """What a reply said: whether it is an OK, and the customer's own words (at most 2,000 characters)."""

    ok: bool
    text: str


def classify_reply(text: str | None, html: str | None) -> ReplyVerdict:
    """The verdict on an Inbound Parse reply from its ``text`` and ``html`` fields (either may be missing)."""
    own = reply_text(text, html)
    return ReplyVerdict(ok=is_ok(own), text=own[:MAX_VERDICT_TEXT])


def reply_text(text: str | None, html: str | None) -> str:
    """The customer's own words: the text part (or, when it is empty, the HTML part's text)
    without quoted lines, attribution lines, Outlook's original-message block, signatures after
    "-- " and "Sent from my iPhone"-style lines."""
    if isinstance(text, str) and text.strip():
        plain = _normalise(text[:MAX_TEXT_CHARS])
    elif isinstance(html, str) and html.strip():
        plain = _normalise(html_to_text(html[:MAX_HTML_CHARS]))
    else:
        return ""
    return _tidy(own_lines(plain.split("\n")))


def _normalise(text: str) -> str:
    """One kind of line break, no control characters but tabs (as spaces), no lone surrogates, NFC."""
    text = _SURROGATES.sub("\ufffd", text)
    text = _NEWLINES.sub("\n", text)
    text = _CONTROLS.sub("", text).replace("\t", " ")
    return unicodedata.normalize("NFC", text)


def _tidy(lines: list[str]) -> str:
    """Lines without trailing spaces, no blank lines at either end, at most one blank line in a row."""
    text = "\n".join(line.rstrip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --------------------------------------------------------------------------- quotes and signatures
_OPENERS = ("on ", "am ", "le ", "el ", "em ", "il ", "op ")
#: Attribution lines ("On Mon, 2 Jun 2025 at 10:00, Acme <x@y> wrote:") in English, German, French,
#: Spanish, Portuguese, Italian and Dutch, the forms Gmail, Apple Mail, Outlook and Thunderbird write.
_ATTRIBUTION = re.compile(
    r"(?:on\s.{1,400}\swrote"
    r"|am\s.{1,400}\sschrieb.{0,400}"
    r"|le\s.{1,400}\sa\s+écrit"
    r"|el\s.{1,400}\sescribió"
    r"|em\s.{1,400}\sescreveu"
    r"|il\s.{1,400}\sha\s+scritto"
    r"|op\s.{1,400}\sschreef.{0,400})\s?:",
    re.IGNORECASE,
)
#: Longest attribution looked at: Gmail wraps a long one over two or three lines.
_MAX_ATTRIBUTION = 600
_ORIGINAL_MESSAGE = re.compile(
    r"-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|mensaje original|mensagem original"
    r"|messaggio originale|oorspronkelijk bericht|forwarded message|weitergeleitete nachricht)\s*-{2,}",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"_{10,}")
_HEADER_FROM = re.compile(r"\*?(?:from|von|de|da|van)\s?\*?:\s?\*?\s*\S", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"\*?(?:sent|date|to|subject|cc|gesendet|datum|an|betreff|envoyé|à|objet|enviado|fecha|para|asunto"
    r"|assunto|data|inviato|a|oggetto|verzonden|aan|onderwerp)\s?\*?:",
    re.IGNORECASE,
)
_MOBILE_SIGNATURE = re.compile(
    r"(?:sent from my |sent from (?:outlook|mail|yahoo mail|aol|samsung|proton ?mail|gmail)\b|sent with proton ?mail"
    r"|get outlook for (?:ios|android)|sent via |von meinem |gesendet von |envoyé de mon |envoyé depuis "
    r"|enviado desde mi |enviado do meu |enviado desde |inviato da |verzonden met |verzonden vanaf )",
    re.IGNORECASE,
)


def own_lines(lines: list[str]) -> list[str]:
    """The lines the customer wrote: ``>`` lines and attribution lines dropped, everything from a
    signature or an unquoted original (Outlook's block, an attribution with no ``>`` after it) cut."""
    kept: list[str] = []
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith(">"):
            i += 1
            continue
        if _ends_own_words(lines, i, stripped):
            break
        span = _attribution_span(lines, i)
        if span:
            i += span
            if not _quote_follows(lines, i):
                break
            continue
        kept.append(lines[i])
        i += 1
    return kept


def _ends_own_words(lines: list[str], i: int, stripped: str) -> bool:
    if stripped == "--" or _UNDERSCORES.fullmatch(stripped) or _ORIGINAL_MESSAGE.fullmatch(stripped):
        return True
    if len(stripped) <= 100 and _MOBILE_SIGNATURE.match(stripped):
        return True
    if _HEADER_FROM.match(stripped):
        return any(_HEADER_NEXT.match(line.strip()) for line in lines[i + 1 : i + 6])
    return False


def _attribution_span(lines: list[str], i: int) -> int:
    """How many lines (1-3) the attribution starting at line ``i`` takes, or 0 if there is none."""
    if not lines[i].lstrip().casefold().startswith(_OPENERS):
        return 0
    joined = ""
    for count, line in enumerate(lines[i : i + 3], start=1):
        if count > 1 and (not line.strip() or line.lstrip().casefold().startswith(_OPENERS)):
            return 0  # a wrapped attribution has no blank line inside, and one starting here is not ours
        joined = f"{joined} {line.strip()}".strip()
        if len(joined) > _MAX_ATTRIBUTION:
            return 0
        if _ATTRIBUTION.fullmatch(joined):
            return count
    return 0


def _quote_follows(lines: list[str], i: int) -> bool:
    """Whether the next non-blank line from ``i`` is quoted (or there is none)."""
    for line in lines[i:]:
        if line.strip():
            return line.lstrip().startswith(">")
    return True


# --------------------------------------------------------------------------- HTML
_BLOCKS = frozenset(
    {"p", "div", "br", "li", "tr", "table", "ul", "ol", "hr", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "section"}
)
_SKIPPED = frozenset({"script", "style", "head", "title", "template", "noscript"})
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source", "wbr"})
#: Classes of quoted or signature blocks: Gmail, Yahoo, Thunderbird's attribution.
_QUOTE_CLASSES = ("gmail_quote", "gmail_signature", "yahoo_quoted", "moz-cite-prefix")
#: A "<" with no ">" before the next "<" starts no tag; escaped, so the parser never rescans the rest
#: of the document for its end (CPython's HTMLParser is quadratic on "<a " repeated: 98 s for 120 KB).
_UNCLOSED_TAG = re.compile(r"<(?![^<>]*>)")


class _TextFromHtml(HTMLParser):
    """The visible text of an HTML reply, without quotes, signatures, scripts and styles; a quote
    leaves a ``>`` line behind, so an attribution above it is recognised as one."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skipping == "head" and tag == "body":
            self._skipping = None  # a <head> never closed ends where the body starts, as in browsers
        if self._skipping is not None:
            self._depth += tag == self._skipping
            return
        quote = tag == "blockquote" or _has_quote_class(attrs)
        if (quote or tag in _SKIPPED) and tag not in _VOID:
            self._skipping, self._depth = tag, 1
            self.parts.append("\n>\n" if quote else "")
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skipping is not None:
            if tag == self._skipping:
                self._depth -= 1
                if self._depth == 0:
                    self._skipping = None
            return
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skipping is None:
            self.parts.append(re.sub(r"\s+", " ", data))


def _has_quote_class(attrs: list[tuple[str, str | None]]) -> bool:
    classes = " ".join(value or "" for name, value in attrs if name == "class")
    return any(name in classes for name in _QUOTE_CLASSES)


def html_to_text(html: str) -> str:
    """The visible text of ``html`` (``_TextFromHtml``), one block a line; never raises."""
    parser = _TextFromHtml()
    try:
        parser.feed(defuse_html(html))
        parser.close()
    except AssertionError:  # _markupbase's remaining asserts on malformed declarations
        pass
    return "".join(parser.parts)


def defuse_html(html: str) -> str:
    """``html`` without what makes CPython's ``HTMLParser`` slow or raise, the same text otherwise:
    every "<" that starts no tag (no ">" before the next "<") and every "<!--" after the last "-->"
    escaped, so the parser never rescans the rest of the document from them (quadratic), and marked
    sections other than CDATA ("<![if …]>", "<![foo[") made bogus comments (it raises AssertionError
    on unknown ones). Lone surrogates become U+FFFD."""
    html = _UNCLOSED_TAG.sub("&lt;", _SURROGATES.sub("\ufffd", html))
    html = re.sub(r"<!\[(?!cdata\[)", "<!", html, flags=re.IGNORECASE)
    return _close_comments(html) if "<!--" in html else html


def _close_comments(html: str) -> str:
    """``html`` with every "<!--" after the last "-->" escaped: an unclosed comment makes
    CPython's parser search to the end of the document again at every later "<"."""
    end = html.rfind("-->") + 3 if "-->" in html else 0
    return html[:end] + html[end:].replace("<!--", "&lt;!--")


# --------------------------------------------------------------------------- the first word
def is_ok(text: str | None) -> bool:
    """Whether the first word of ``text`` (the customer's own words, ``reply_text``) is an "OK":
    one of ``OK_WORDS``, or a run of an unspaced script starting with one of ``OK_PREFIXES``.
    Punctuation, symbols and emoji around it are ignored."""
    if not isinstance(text, str):
        return False
    window = unicodedata.normalize("NFKC", _SURROGATES.sub("\ufffd", text[:_FIRST_WORD_WINDOW]))
    start = next((i for i, char in enumerate(window) if _is_word_char(char) or char == "🆗"), None)
    if start is None:
        return False
    if window[start] == "🆗":
        return True
    if _unspaced(window[start]):
        run = _run(window, start, lambda char: _unspaced(char) or _is_mark(char))
        return run.startswith(OK_PREFIXES)
    word = _run(window, start, lambda char: (_is_word_char(char) or char == ".") and not _unspaced(char))
    return _fold(word) in _FOLDED_OK_WORDS


def _run(text: str, start: int, belongs: Callable[[str], bool]) -> str:
    end = start
    while end < len(text) and belongs(text[end]):
        end += 1
    return text[start:end]


def _fold(word: str) -> str:
    """``word`` case-folded, without dots when every part between them is one letter ("o.k."),
    else up to its first dot ("ok.thanks"), with repeated letters collapsed ("okkk", "okayyy")."""
    parts = [part for part in word.casefold().split(".") if part]
    if not parts:
        return ""
    folded = "".join(parts) if all(len(part) == 1 for part in parts) else parts[0]
    return re.sub(r"(.)\1+", r"\1", folded)


_FOLDED_OK_WORDS = frozenset(_fold(word) for word in OK_WORDS)


def _is_word_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LMN"


def _is_mark(char: str) -> bool:
    return unicodedata.category(char)[0] == "M"


def _unspaced(char: str) -> bool:
    """Whether ``char`` belongs to a script written without spaces between words (Thai, Lao, Khmer,
    Myanmar, kana, CJK ideographs)."""
    code = ord(char)
    return (
        0x0E00 <= code <= 0x0EFF
        or 0x1000 <= code <= 0x109F
        or 0x1780 <= code <= 0x17FF
        or 0x3040 <= code <= 0x30FF
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x3FFFF
    )
