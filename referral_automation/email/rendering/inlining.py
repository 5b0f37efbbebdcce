"""CSS inlining of HTML *templates*, once at load time, so no email pays for it.

Gmail and Outlook ignore most ``<style>`` rules, so every element needs its ``style=""``. Running
css-inline on each rendered email costs more than rendering it;
the styles depend only on the markup, which the template fixes. So the renderer inlines each
``.html`` template source once: Jinja constructs (``{{ … }}``, ``{% … %}``, ``{# … #}``) are
swapped for placeholders the HTML parser keeps in place (comments in text, private-use
characters inside attribute values), css-inline adds the styles, and the constructs go back.

A template this cannot handle safely (a Jinja tag between attributes, inside ``<style>``, or
markup the parser would reshape, such as an ``<a>`` opened in both arms of an ``if``) is
reported as not inlinable; the renderer then inlines every rendered email instead, slower but
equally correct. Line numbers of the original source are kept in a map so errors point at the
marketer's file, not at the inlined one.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

import css_inline

#: Jinja's default delimiters (the renderer does not change them).
JINJA_CONSTRUCT = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
#: Private-use characters: never in real copy, kept verbatim by the HTML parser and serialiser.
OPEN, CLOSE = "\ue000", "\ue001"
PLACEHOLDER = re.compile(f"<!--{OPEN}(\\d+){CLOSE}-->|{OPEN}(\\d+){CLOSE}")
TAG_NAME = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)")
HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
#: css-inline moves kept ``@media`` rules into a ``<style>`` of its own: style elements are not compared.
STYLE_ELEMENT = re.compile(r"<style\b.*?</style\s*>", re.DOTALL | re.IGNORECASE)
CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
#: Tags the parser adds by itself around a document; their presence or absence changes nothing.
IMPLIED_TAGS = frozenset({"html", "head", "body"})
#: Elements whose content is text, not markup: a comment placeholder would become visible text.
TEXT_ONLY = frozenset({"title", "textarea"})
RAW_TEXT = frozenset({"style", "script"})


@dataclass(frozen=True, slots=True)
class InlinedSource:
    """A template source with inline styles, and where its Jinja constructs were originally."""

    source: str
    #: Line of each construct in ``source``, and its line in the original file (same order).
    new_lines: tuple[int, ...]
    old_lines: tuple[int, ...]

    def original_line(self, line: int) -> int:
        """The original file's line for a line of the inlined source."""
        index = bisect.bisect_right(self.new_lines, line) - 1
        if index < 0:
            return line
        return max(1, self.old_lines[index] + line - self.new_lines[index])


def strip_css_comments(css: str) -> str:
    """Comments of a stylesheet would otherwise be copied into every email's ``<style>``."""
    return CSS_COMMENT.sub("", css).strip()


def make_inliner(css: str) -> css_inline.CSSInliner:
    """The one inliner configuration every template and fallback uses."""
    return css_inline.CSSInliner(
        keep_style_tags=False,
        keep_at_rules=True,  # @media rules cannot be inlined: they stay in a <style> for clients that read it
        load_remote_stylesheets=False,
        apply_width_attributes=True,  # Outlook reads width="" on tables and cells, not CSS
        extra_css=css or None,
    )


class _Scanner:
    """Just enough of an HTML tokenizer to know where each Jinja construct sits."""

    def __init__(self) -> None:
        self.state = "text"  # text | tag | attr" | attr' | comment | raw:<name>
        self.raw_end = ""

    def feed(self, data: str) -> None:
        i = 0
        while i < len(data):
            i = self._step(data, i)

    def _step(self, data: str, i: int) -> int:
        state = self.state
        if state == "text":
            if data.startswith("<!--", i):
                self.state = "comment"
                return i + 4
            match = TAG_NAME.match(data, i)
            if match:
                name = match.group(2).lower()
                self.state = "tag"
                self.raw_end = name if not match.group(1) and name in RAW_TEXT | TEXT_ONLY else ""
                return match.end()
            return i + 1
        if state == "comment":
            end = data.find("-->", i)
            if end < 0:
                return len(data)
            self.state = "text"
            return end + 3
        if state == "tag":
            char = data[i]
            if char in "\"'":
                self.state = f"attr{char}"
            elif char == ">":
                self.state = f"raw:{self.raw_end}" if self.raw_end else "text"
            return i + 1
        if state.startswith("attr"):
            end = data.find(state[-1], i)
            if end < 0:
                return len(data)
            self.state = "tag"
            return end + 1
        # raw text: only its own end tag leaves it
        close = re.compile(f"</{re.escape(state[4:])}", re.IGNORECASE).search(data, i)
        if close is None:
            return len(data)
        self.state = "text"
        return close.start()

    def placeholder(self, index: int) -> str | None:
        """The placeholder for a construct here, or None if none would survive the parser."""
        token = f"{OPEN}{index}{CLOSE}"
        if self.state == "text":
            return f"<!--{token}-->"
        if self.state.startswith("attr") or self.state == "comment":
            return token
        if self.state.startswith("raw:") and self.state[4:] in TEXT_ONLY:
            return token
        return None


def _protect(source: str) -> tuple[str, list[re.Match[str]]] | None:
    scanner = _Scanner()
    parts: list[str] = []
    constructs = list(JINJA_CONSTRUCT.finditer(source))
    position = 0
    for index, match in enumerate(constructs):
        data = source[position : match.start()]
        scanner.feed(data)
        placeholder = scanner.placeholder(index)
        if placeholder is None:
            return None
        parts += [data, placeholder]
        position = match.end()
    parts.append(source[position:])
    return "".join(parts), constructs


_IMPLIED_TBODY_OPEN = re.compile(r"(<table\b[^>]*>\s*)<tbody>", re.IGNORECASE)
_IMPLIED_TBODY_CLOSE = re.compile(r"</tbody>(\s*</table>)", re.IGNORECASE)


def _tag_sequence(html: str) -> list[str]:
    """Start and end tags in order, without comments, styles and the tags a parser implies.

    A ``<tbody>`` right inside ``<table>`` is implied; one anywhere else (after a ``{% for %}``,
    say) would repeat with the loop, so it counts as a change.
    """
    html = _IMPLIED_TBODY_CLOSE.sub(r"\1", _IMPLIED_TBODY_OPEN.sub(r"\1", STYLE_ELEMENT.sub("", html)))
    html = PLACEHOLDER.sub("", HTML_COMMENT.sub("", html))
    return [f"{slash}{name.lower()}" for slash, name in TAG_NAME.findall(html) if name.lower() not in IMPLIED_TAGS]


def same_meaning(order: list[int], constructs: list[re.Match[str]]) -> bool:
    """Whether constructs in ``order`` mean what they meant in source order.

    css-inline may reorder a tag's attributes, and with them the expressions in their values.
    That is harmless as long as statements (``{% … %}``) keep their order and every expression
    stays between the same statements.
    """
    if sorted(order) != list(range(len(constructs))):
        return False
    is_statement = [c.group(0).startswith("{%") for c in constructs]
    seen_statements = 0
    last_statement = -1
    for index in order:
        if is_statement[index]:
            if index < last_statement:
                return False
            last_statement = index
            seen_statements += 1
        elif seen_statements != sum(is_statement[:index]):
            return False
    return True


def _restore(inlined: str, source: str, constructs: list[re.Match[str]]) -> InlinedSource | None:
    parts: list[str] = []
    order: list[int] = []
    lines: list[tuple[int, int]] = []
    position = 0
    line = 1
    for match in PLACEHOLDER.finditer(inlined):
        index = int(match.group(1) or match.group(2))
        if index >= len(constructs):
            return None
        before = inlined[position : match.start()]
        line += before.count("\n")
        construct = constructs[index]
        order.append(index)
        lines.append((line, source.count("\n", 0, construct.start()) + 1))
        parts += [before, construct.group(0)]
        line += construct.group(0).count("\n")
        position = match.end()
    rest = inlined[position:]
    if OPEN in rest or CLOSE in rest or not same_meaning(order, constructs):
        return None
    parts.append(rest)
    new_lines, old_lines = zip(*sorted(lines), strict=True) if lines else ((), ())
    return InlinedSource("".join(parts), tuple(new_lines), tuple(old_lines))


def inline_template_source(source: str, inliner: css_inline.CSSInliner, css: str) -> InlinedSource | None:
    """``source`` with inline styles, or None if it cannot be inlined before rendering (see module doc)."""
    if OPEN in source or CLOSE in source:
        return None
    protected = _protect(source)
    if protected is None:
        return None
    marked, constructs = protected
    try:
        if re.search(r"<html[\s>]", marked, re.IGNORECASE):
            inlined = inliner.inline(marked)
        else:
            inlined = inliner.inline_fragment(marked, css)
    except css_inline.InlineError:
        return None
    if _tag_sequence(inlined) != _tag_sequence(marked):
        return None
    return _restore(inlined, source, constructs)
