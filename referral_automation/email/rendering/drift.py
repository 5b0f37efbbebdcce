"""Drift between an email's two parts: the HTML as its reader sees it, against the text part.

The two parts of an email are written by hand, side by side, so one gains a paragraph or a link
that the other never gets. ``drift`` compares what the parts say in two ways, cheap enough to run
on every email ``validate`` renders and blind to what the layouts legitimately do differently:

- **links**: the set of ``http(s)`` link targets of each part. In the HTML, every ``href`` and
  every URL in the shown text; in the text part, every URL. Links inside a ``mailto:`` link (the
  ready-to-send introduction: its subject and body, decoded) count as links of the part, so an
  introduction that points elsewhere in one part shows; the ``mailto:`` URLs themselves are not
  compared, as the two parts may encode the same words differently. A URL's trailing punctuation
  (``https://example.com/a.`` at a sentence's end) is not part of it.
- **sentences**: how many each part has. A sentence ends at ``.``, ``!``, ``?`` or ``…`` (a run of
  them, then any closing quotes or brackets) after a word and before a space, a line break or the
  end. Fragments without such an end are not counted (greetings like "Hi Ana,", headings, button
  labels, "Subject: …"), so the layouts' furniture (a button in HTML, "Share your link:" above a
  bare URL in text) does not count; URLs count as one word, so their dots never end a sentence,
  and list markers (``1.``, ``-``) at the start of a line are not sentences. The counts must be
  equal: the parts are the same words in two formats, so one sentence more is one sentence that
  the other part's reader never sees.

The HTML is read as shown: nothing of ``<head>``, ``<style>``, ``<script>`` or ``<title>``,
nothing hidden (``style="display: none"``, the ``hidden`` attribute, the preheader: an element of
class ``preheader``), attributes only for ``href``; block elements and ``<br>`` break lines, and
entities are unescaped.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

URL = re.compile(r"""(?:https?|mailto):[^\s<>"]+""")  # over the lower-cased text
HTTP = re.compile(r"""https?://[^\s<>"]+""", re.IGNORECASE)
TRAILING = re.compile(r"""[.,;:!?…)\]}'"’”»]+$""")
SENTENCE_END = re.compile(r"""[.!?…]+["'’”»)\]]*(?=\s|\Z)""")
LIST_MARKER = re.compile(r"^[ \t]*(?:\d{1,3}[.)]|[-*•·])[ \t]+", re.MULTILINE)
HIDDEN_STYLE = re.compile(r"display\s*:\s*none", re.IGNORECASE)

#: Elements that never close.
VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
)
#: Elements that start a new line of the shown text.
BLOCKS = frozenset(
    {"address", "article", "aside", "blockquote", "body", "center", "dd", "div", "dl", "dt", "footer", "form"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "html", "li", "main", "nav", "ol", "p", "pre"}
    | {"section", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"}
)


@dataclass(frozen=True, slots=True)
class Drift:
    """What one part says that the other does not: ``part`` ("html" or "txt") is where to look."""

    part: str
    kind: str  # "links" or "sentences"
    message: str


#: Patterns over the lower-cased HTML (``_lowered``): literal prefixes that ``re`` finds fast.
UNSHOWN = re.compile(
    r"<!--.*?(?:-->|\Z)|<![^>]*>|<\?[^>]*>"  # comments, <!DOCTYPE>, <?…?>
    r"|<(head|style|script|title|template)\b[^>]*>.*?(?:</\1\s*>|\Z)",
    re.DOTALL,
)
HREF = re.compile(r"""href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))""")
ATTRIBUTE = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")
TAG = re.compile(r"<(/?)([A-Za-z][\w:-]*)[^>]*>")
NON_ASCII = re.compile(r"[^\x00-\x7f]")
#: Words without which an element cannot be hidden (a '>' inside a value is escaped in rendered templates).
HIDING_WORDS = ("hidden", "display", "preheader")


def _lowered(html: str) -> str:
    """``html`` lower-cased, each character where it was (a few characters grow when lower-cased)."""
    low = html.lower()
    return low if len(low) == len(html) else NON_ASCII.sub("?", html).lower()


def _hides(raw_attributes: str) -> bool:
    attributes = {
        match.group(1): match.group(2) or match.group(3) or match.group(4) or ""
        for match in ATTRIBUTE.finditer(raw_attributes)
    }
    return (
        "hidden" in attributes
        or HIDDEN_STYLE.search(attributes.get("style", "")) is not None
        or "preheader" in attributes.get("class", "").split()
    )


def _end_of(low: str, tag: str, position: int) -> int:
    """Where the element whose start tag ends at ``position`` ends (the end of ``low`` if never closed)."""
    if tag in VOID:
        return position
    depth = 1
    for match in re.finditer(rf"<(/?){re.escape(tag)}\b[^>]*>", low[position:]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            return position + match.end()
    return len(low)


def _hidden_spans(low: str) -> list[tuple[int, int]]:
    """Where the elements hidden by their own attributes start and end."""
    starts = set()
    for word in HIDING_WORDS:
        at = low.find(word)
        while at >= 0:
            if _in_tag(low, at):
                starts.add(low.rfind("<", 0, at))
            at = low.find(word, at + 1)
    spans = []
    for opening in sorted(starts):
        tag = TAG.match(low, opening)
        if tag is not None and not tag.group(1) and _hides(low[tag.end(2) : tag.end() - 1]):
            spans.append((opening, _end_of(low, tag.group(2), tag.end())))
    return spans


def _shown_spans(low: str) -> list[tuple[int, int]]:
    """The spans of the HTML left once what is never shown is taken out."""
    hidden = sorted([match.span() for match in UNSHOWN.finditer(low)] + _hidden_spans(low))
    spans, position = [], 0
    for start, end in hidden:
        if start >= position:
            spans.append((position, start))
        position = max(position, end)
    spans.append((position, len(low)))
    return spans


def _in_tag(low: str, position: int) -> bool:
    """Whether ``position`` is between a tag's ``<`` and its ``>`` (not in the text)."""
    opening = low.rfind("<", 0, position)
    return opening >= 0 and low.find(">", opening, position) < 0


def _tag_text(match: re.Match[str]) -> str:
    name = match.group(2).lower()
    return "\n" if name == "br" else "\n\n" if name in BLOCKS else ""


def shown_text(html: str) -> tuple[str, list[str]]:
    """The text ``html`` shows (block elements as blank lines, ``<br>`` as a line break) and its ``href`` values.

    Regular expressions over the lower-cased HTML find what to leave out, rather than ``html.parser``,
    which costs a few milliseconds an email: ``validate`` reads every email a campaign can send.
    """
    low = _lowered(html)
    spans = _shown_spans(low)
    hrefs = [
        html_lib.unescape(html[match.start(index) : match.end(index)])
        for start, end in spans
        for match in HREF.finditer(low, start, end)
        if _in_tag(low, match.start())
        for index in (1, 2, 3)
        if match.group(index) is not None
    ]
    shown = "".join(html[start:end] for start, end in spans)
    return html_lib.unescape(TAG.sub(_tag_text, shown)), hrefs


def _trimmed(url: str) -> str:
    return TRAILING.sub("", url) if not url.lower().startswith("mailto:") else url


def read_part(text: str, hrefs: list[str] | tuple[str, ...] = ()) -> tuple[set[str], int]:
    """The ``http(s)`` links of a part's text (and of ``hrefs``), and how many sentences it has.

    A link inside a ``mailto:`` link (its decoded subject and body) counts; a URL counts as one
    word, so its dots never end a sentence.
    """
    low = _lowered(text)
    pieces, position = [], 0
    urls = list(hrefs)
    for match in URL.finditer(low):
        url = _trimmed(text[match.start() : match.end()])
        urls.append(url)
        pieces += [text[position : match.start()], "URL"]
        position = match.start() + len(url)
    pieces.append(text[position:])
    found: set[str] = set()
    for url in urls:
        scheme = url.partition(":")[0].lower()
        if scheme in ("http", "https"):
            found.add(url.strip())
        elif scheme == "mailto":
            found |= _mailto_links(url)
    return found, count_sentences("".join(pieces))


@lru_cache(maxsize=256)
def _mailto_links(url: str) -> frozenset[str]:
    """The links in a ``mailto:`` link's decoded subject and body (an introduction is the same in many emails)."""
    query = parse_qs(urlsplit(url).query)
    words = (*query.get("subject", []), *query.get("body", []))
    return frozenset(_trimmed(match.group(0)) for text in words for match in HTTP.finditer(text))


def count_sentences(text: str) -> int:
    """How many sentences ``text`` has: ends of sentences after a word (see the module's docstring).

    ``text`` has its URLs replaced already (``read_part``); list markers at a line's start do not count.
    """
    plain = LIST_MARKER.sub("", text)
    return sum(1 for match in SENTENCE_END.finditer(plain) if match.start() and not plain[match.start() - 1].isspace())


def _listed(urls: set[str], most: int = 3) -> str:
    shown = sorted(urls)
    more = f" and {len(shown) - most} more" if len(shown) > most else ""
    return ", ".join(shown[:most]) + more


def drift(html: str, text: str) -> list[Drift]:
    """How the HTML part (as shown) and the text part differ in their links and their sentences' count."""
    shown, hrefs = shown_text(html)
    (html_links, in_html), (text_links, in_text) = read_part(shown, hrefs), read_part(text)
    found = []
    if html_links - text_links:
        message = f"links in the HTML part missing from the text part: {_listed(html_links - text_links)}"
        found.append(Drift("txt", "links", message))
    if text_links - html_links:
        message = f"links in the text part missing from the HTML part: {_listed(text_links - html_links)}"
        found.append(Drift("html", "links", message))
    if in_html != in_text:
        message = f"the text part has {in_text} sentences, the HTML part {in_html} (drift between the parts?)"
        found.append(Drift("txt" if in_text < in_html else "html", "sentences", message))
    return found
