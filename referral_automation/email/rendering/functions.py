"""What templates can call beyond Jinja's own (``mailto``, ``ucfirst``, ``nl2br``), and text tidying.

Pure functions of their arguments (``mailto`` through a renderer's own ``MailtoEncoder``); the
renderer registers them on its sandbox.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape


def _plain(value: Any) -> str:
    """The text a value stands for (escaped ``Markup`` back to its characters)."""
    return value.unescape() if isinstance(value, Markup) else str(value)


#: Every character ``str.splitlines`` breaks a line at (a ``mailto:`` body has each as CRLF).
LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
#: ``quote(chr(byte), safe="")`` for every byte: the letters, digits and ``_.-~`` as they are.
_PERCENT = [chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "_.-~") else f"%{b:02X}" for b in range(256)]


class MailtoEncoder:
    """Builds ``mailto:`` links (RFC 6068: subject and body percent-encoded, line breaks as CRLF).

    Every email's ready-to-send introduction becomes one, and its words are nearly the same from
    one email to the next, so the encoder remembers the words it has encoded (at most
    ``limit``). One encoder belongs to one renderer; ``quote`` from the standard library is the
    plain way, and the tests hold the two to the same output.
    """

    def __init__(self, *, limit: int = 5_000) -> None:
        self.limit = limit
        self._words: dict[str, str] = {}

    def mailto(self, subject: Any, body: Any, to: Any = "") -> str:
        text = _plain(body)
        head = f"mailto:{quote(_plain(to), safe='@')}?subject={self.quote_text(_plain(subject))}&body="
        return head + "%0D%0A".join([self.quote_text(line) if line else "" for line in text.splitlines()])

    def quote_text(self, text: str) -> str:
        """``quote(text, safe="")``, word by word (a space is ``%20`` either way)."""
        words = self._words
        return "%20".join([words.get(word) or self._quote_word(word) for word in text.split(" ")])

    def _quote_word(self, word: str) -> str:
        """``quote(word, safe="")`` by one ``str.translate`` of its UTF-8 bytes (``quote`` goes byte by
        byte in Python)."""
        quoted = (word if word.isascii() else word.encode().decode("latin-1")).translate(_PERCENT)
        if len(self._words) >= self.limit:
            self._words.clear()
        self._words[word] = quoted
        return quoted


def ucfirst(value: Any) -> str:
    """The first letter in upper case, the rest untouched (unlike ``capitalize``)."""
    text = str(value)
    result = text[:1].upper() + text[1:]
    return Markup(result) if isinstance(value, Markup) else result


def nl2br(value: Any) -> Markup:
    """Escaped text with its line breaks as ``<br>``, for multi-line text in HTML."""
    escaped = str(escape(value))
    if "\r" in escaped:  # rarely: the two replacements cost more than the test
        escaped = escaped.replace("\r\n", "\n").replace("\r", "\n")
    return Markup(escaped.replace("\n", "<br>\n"))


_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")
#: A line break after a space or tab, or three in a row: where tidying has something to do.
_UNTIDY = re.compile(r"\n(?:(?<=[ \t]\n)|\n\n)")


def tidy_text(text: str) -> str:
    """The plain-text part without trailing spaces or runs of blank lines, ending in one newline.

    Rendered text is mostly tidy already: one search, from line break to line break, tells, and
    costs less than three ``in`` tests on text that is not pure ASCII.
    """
    if _UNTIDY.search(text) is not None:
        text = _TRAILING_SPACE.sub("\n", text)
        text = _BLANK_RUNS.sub("\n\n", text)  # after the first: "\n \n\n" becomes a run of three
    return text.strip("\n") + "\n"
