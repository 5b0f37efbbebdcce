"""The elements of a top-level JSON array, one at a time, found without parsing the whole document.

A batch of SendGrid events is one JSON array, and parsing it whole lets one element spoil the
rest: orjson refuses the whole document for one lone-surrogate escape or one ``NaN``, and the
standard library's parser recurses in C until ``RecursionError`` on a deep one. So the array is
cut into its elements by a scanner that only tracks strings and brackets (a depth counter, no
recursion, whatever the nesting), and each element is then parsed on its own: one bad element is
one reject. The scanner does not judge an element's inside (the parser does); an element that
nests deeper than ``max_depth`` is reported as such without being parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

#: The next byte that matters outside a string: a quote, a bracket, a comma.
_STRUCTURE = re.compile(rb'["\[\]{},]')
#: The next byte that matters inside a string: its closing quote, or a backslash escaping the next.
_IN_STRING = re.compile(rb'["\\]')
_WHITE = b" \t\r\n"
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")


@dataclass(frozen=True, slots=True)
class Element:
    """One element of the array: its index and bytes, or why it cannot be one (``problem``).

    ``too_deep`` says it nests deeper than the bound (its bytes are still given).
    """

    index: int
    data: bytes
    too_deep: bool = False


class MalformedArray(ValueError):  # noqa: N818 (a ValueError, like json's JSONDecodeError)
    """The document is not an array, or breaks off; ``index`` is the element it stopped at."""

    def __init__(self, index: int | None, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.message = message


def array_elements(data: bytes, *, max_depth: int) -> Iterator[Element]:
    """The elements of the JSON array ``data`` in order, then ``MalformedArray`` if the document
    is not an array or its structure breaks off (the elements before it have been given).

    A UTF-8 byte-order mark and white space around the array are allowed.
    """
    position = _skip_white(data, 3 if data.startswith(b"\xef\xbb\xbf") else 0)
    if position == len(data):
        raise MalformedArray(None, "empty document: expected a JSON array")
    if data[position] != ord("["):
        raise MalformedArray(None, f"expected a JSON array, got {_what_starts(data, position)}")
    position = _skip_white(data, position + 1)
    if position < len(data) and data[position] == ord("]"):
        return _rest_is_white(data, position + 1)
    index = 0
    while True:
        end, deepest = _element_end(data, position, index)
        element = data[position:end].strip(_WHITE)
        if not element:
            raise MalformedArray(index, "missing element (two commas, or a comma before ']')")
        yield Element(index, element, deepest > max_depth)
        index += 1
        if data[end] == ord("]"):
            return _rest_is_white(data, end + 1)
        position = end + 1  # after the comma


def _element_end(data: bytes, start: int, index: int) -> tuple[int, int]:
    """Where the element starting at ``start`` ends (the offset of the ``,`` or ``]`` after it),
    and how deep it nests."""
    depth = deepest = 0
    position = start
    search = _STRUCTURE.search
    while True:
        found = search(data, position)
        if found is None:
            raise MalformedArray(index, "the array is not closed (the document ends inside it)")
        byte = data[found.start()]
        position = found.end()
        if byte == 34:  # a string: skip to its closing quote
            position = _string_end(data, position, index)
        elif byte in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSE:
            if depth == 0:
                if byte == 93:  # the array's closing bracket
                    return found.start(), deepest
                raise MalformedArray(index, "unexpected '}' between elements")
            depth -= 1
        elif depth == 0:  # a comma between elements
            return found.start(), deepest


def _string_end(data: bytes, position: int, index: int) -> int:
    """Where the string whose contents start at ``position`` ends (after its closing quote)."""
    search = _IN_STRING.search
    while True:
        found = search(data, position)
        if found is None:
            raise MalformedArray(index, "a string is not closed (the document ends inside it)")
        if data[found.start()] == 34:
            return found.end()
        position = found.end() + 1  # the escaped character, whatever it is


def _skip_white(data: bytes, position: int) -> int:
    while position < len(data) and data[position] in _WHITE:
        position += 1
    return position


def _rest_is_white(data: bytes, position: int) -> None:
    rest = _skip_white(data, position)
    if rest != len(data):
        raise MalformedArray(None, f"expected nothing after the array, got {_what_starts(data, rest)}")


def _what_starts(data: bytes, position: int) -> str:
    byte = data[position : position + 1]
    names = {b"{": "an object", b'"': "a string", b"[": "an array"}
    return names.get(byte, f"{data[position : position + 20]!r}")
