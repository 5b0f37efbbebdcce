"""Cutting a JSON array into its elements without parsing it: the parser's answer, one element at a time."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_automation.services.ingest.json_array import MalformedArray, array_elements

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=40,
)


@given(st.lists(JSON, max_size=6), st.sampled_from([None, 0, 2]), st.booleans())
def test_the_elements_are_the_arrays_elements_however_it_is_written(
    items: list[Any], indent: int | None, byte_order_mark: bool
) -> None:
    """Whatever the elements hold (brackets and quotes in strings, escapes, nesting) and however the
    array is laid out, each element's bytes parse to that element."""
    text = json.dumps(items, indent=indent, ensure_ascii=indent is None)
    data = (b"\xef\xbb\xbf" if byte_order_mark else b"") + text.encode()

    elements = list(array_elements(data, max_depth=1000))

    assert [element.index for element in elements] == list(range(len(items)))
    assert [orjson.loads(element.data) for element in elements] == orjson.loads(text)


def test_an_element_nested_too_deep_is_flagged_not_parsed() -> None:
    """It flags an element deeper than the bound, however deep, and goes on to the next."""
    data = b"[" + b"[" * 100_000 + b"]" * 100_000 + b', {"a": [[1]]}]'

    deep, shallow = array_elements(data, max_depth=3)

    assert (deep.index, deep.too_deep, len(deep.data)) == (0, True, 200_000)
    assert (shallow.index, shallow.too_deep, shallow.data) == (1, False, b'{"a": [[1]]}')


def test_a_broken_element_is_still_cut_out_for_the_parser_to_refuse() -> None:
    """It hands on elements it cannot judge (NaN, a lone surrogate escape, a bare word) as they are."""
    data = b'[NaN, "\\ud800", oops, {"ok": true}]'

    assert [e.data for e in array_elements(data, max_depth=32)] == [b"NaN", b'"\\ud800"', b"oops", b'{"ok": true}']


@pytest.mark.parametrize(
    ("data", "before", "index", "message"),
    [
        (b"", [], None, "empty document: expected a JSON array"),
        (b'{"a": 1}', [], None, "expected a JSON array, got an object"),
        (b"[1, 2", [b"1"], 1, "the array is not closed (the document ends inside it)"),
        (b'[1, "ab', [b"1"], 1, "a string is not closed (the document ends inside it)"),
        (b"[1,, 2]", [b"1"], 1, "missing element (two commas, or a comma before ']')"),
        (b"[1, 2,]", [b"1", b"2"], 2, "missing element (two commas, or a comma before ']')"),
        (b"[1}, 2]", [], 0, "unexpected '}' between elements"),
        (b"[1] [2]", [b"1"], None, "expected nothing after the array, got an array"),
    ],
)
def test_a_broken_array_ends_with_where_it_broke(
    data: bytes, before: list[bytes], index: int | None, message: str
) -> None:
    """It gives the elements before the break, then says where the array's structure broke."""
    found: list[bytes] = []

    with pytest.raises(MalformedArray) as caught:
        found.extend(element.data for element in array_elements(data, max_depth=32))

    assert (caught.value.index, caught.value.message) == (index, message)
    assert found == before


def test_an_empty_array_has_no_elements() -> None:
    """It gives nothing for an empty array with white space around and inside it."""
    assert list(array_elements(b" [ ] \n", max_depth=32)) == []
