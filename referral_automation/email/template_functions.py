"""What templates can call beyond Jinja's own (``mailto``, ``ucfirst``, ``nl2br``), and text tidying.

Pure functions of their arguments; the renderer registers them on its sandbox.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape


def _plain(value: Any) -> str:
    """The text a value stands for (escaped ``Markup`` back to its characters)."""
    return value.unescape() if isinstance(value, Markup) else str(value)


def mailto(subject: Any, body: Any, to: Any = "") -> str:
    """A ``mailto:`` URL with subject and body percent-encoded (RFC 6068: line breaks as CRLF)."""
    return _mailto(_plain(subject), _plain(body), _plain(to))


@lru_cache(maxsize=8)  # a retried or previewed email encodes the same introduction again
def _mailto(subject: str, body: str, to: str) -> str:
    crlf = "\r\n".join(body.splitlines())
    return f"mailto:{quote(to, safe='@')}?subject={quote(subject, safe='')}&body={quote(crlf, safe='')}"


def ucfirst(value: Any) -> str:
    """The first letter in upper case, the rest untouched (unlike ``capitalize``)."""
    text = str(value)
    result = text[:1].upper() + text[1:]
    return Markup(result) if isinstance(value, Markup) else result


def nl2br(value: Any) -> Markup:
    """Escaped text with its line breaks as ``<br>``, for multi-line text in HTML."""
    escaped = str(escape(value)).replace("\r\n", "\n").replace("\r", "\n")
    return Markup(escaped.replace("\n", "<br>\n"))


_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")


def tidy_text(text: str) -> str:
    """The plain-text part without trailing spaces or runs of blank lines, ending in one newline."""
    if " \n" in text or "\t\n" in text:  # a regex scan costs more than the render: look first
        text = _TRAILING_SPACE.sub("\n", text)
    if "\n\n\n" in text:
        text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip("\n") + "\n"
