"""Text from customers, webhooks and files made safe to print on a terminal.

A customer id, a name or an event id can hold anything a CSV, a JSON line or a webhook carried:
an ESC sequence that clears the screen or sets the window title, a carriage return that
overwrites the line before it, a bidirectional override that shows ``exe.txt`` as ``txt.exe``.
Every such character is shown as a visible escape (``\\x1b``, ``\\u202e``) instead, so what an
operator reads is what is stored, and nothing printed can drive the terminal. Rich markup in
values (``[bold]``) is never interpreted either: table cells are ``Text``, lines are printed
with ``markup=False``.
"""

from __future__ import annotations

import re

from rich.text import Text

#: C0 and C1 controls and DEL (ESC, CR, BEL, backspace, newline, tab: a cell or a line is one line),
#: the bidirectional marks, embeddings, overrides and isolates, zero-width characters, the line
#: and paragraph separators, and the interlinear annotation marks.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(value: object) -> str:
    """``value`` as text with every character that could drive the terminal shown as an escape."""
    text = value if isinstance(value, str) else str(value)
    return UNSAFE.sub(_escape, text)


def cell(value: object, *, style: str = "") -> Text:
    """A table cell: the value made ``visible``, never read as Rich markup."""
    return Text(visible("" if value is None else value), style=style)


def lines(*values: object) -> Text:
    """A cell of several lines, one a value (a line break inside a value stays escaped)."""
    return Text("\n".join(visible(value) for value in values))
