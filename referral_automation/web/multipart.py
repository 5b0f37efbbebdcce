"""Inbound Parse posts as fields of bytes, decoded in the charset SendGrid names for each.

SendGrid posts ``multipart/form-data`` whose text fields are in the sender's charsets (the
``charsets`` field says which: ``{"text": "iso-8859-1", ...}``); a generic form parser decodes
everything as UTF-8 and would garble them. Attachments are not read (their bytes are skipped),
and the number of fields is bounded. Anything that is not well-formed multipart is a
``MalformedFormError`` with the reason.
"""

from __future__ import annotations

import codecs
import json

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

#: More fields than an Inbound Parse post has (about 15, plus one per attachment's info).
MAX_FIELDS = 64


class MalformedFormError(ValueError):
    """Not a multipart form this app can read."""


def form_fields(body: bytes, content_type: str) -> dict[str, str]:
    """The text fields of a ``multipart/form-data`` body (file parts skipped), each decoded."""
    raw = _raw_fields(body, content_type)
    charsets = _charsets(raw.get("charsets", b""))
    return {name: _decode(value, charsets.get(name, "utf-8")) for name, value in raw.items()}


def _raw_fields(body: bytes, content_type: str) -> dict[str, bytes]:
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        raise MalformedFormError(f"expected multipart/form-data, got {kind.decode('latin-1') or 'no content type'}")
    boundary = options.get(b"boundary")
    if not boundary:
        raise MalformedFormError("the multipart content type has no boundary")
    fields: dict[str, bytes] = {}
    part: dict[str, object] = {}

    def on_part_begin() -> None:
        part.clear()
        part.update(data=bytearray(), header_field=b"", headers={})

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part["header_field"] = bytes(part["header_field"]) + data[start:end]  # type: ignore[call-overload]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        headers = part["headers"]
        assert isinstance(headers, dict)
        name = bytes(part["header_field"]).lower()  # type: ignore[call-overload]
        headers[name] = headers.get(name, b"") + data[start:end]

    def on_header_end() -> None:
        part["header_field"] = b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if "filename" not in part:
            part["data"] += data[start:end]  # type: ignore[operator]

    def on_headers_finished() -> None:
        headers = part["headers"]
        assert isinstance(headers, dict)
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        if b"filename" in disposition:
            part["filename"] = True
        part["name"] = disposition.get(b"name", b"").decode("utf-8", "replace")

    def on_part_end() -> None:
        name = str(part.get("name") or "")
        if name and "filename" not in part:
            if len(fields) >= MAX_FIELDS:
                raise MalformedFormError(f"more than {MAX_FIELDS} fields")
            fields[name] = bytes(part["data"])  # type: ignore[call-overload]

    callbacks = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as error:
        raise MalformedFormError(f"malformed multipart body: {error}") from error
    if not fields:
        raise MalformedFormError("the multipart body has no fields")
    return fields


def _charsets(raw: bytes) -> dict[str, str]:
    try:
        document = json.loads(raw.decode("utf-8", "replace") or "{}")
    except ValueError:
        return {}
    if not isinstance(document, dict):
        return {}
    return {str(name): str(value) for name, value in document.items() if isinstance(value, str)}


def _decode(value: bytes, charset: str) -> str:
    """``value`` in ``charset`` (an unknown charset is read as UTF-8); undecodable bytes replaced."""
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        codec = "utf-8"
    return value.decode(codec, "replace")
