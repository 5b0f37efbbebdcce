"""Email addresses as hostile input: exactly one plain mailbox, or a reason why not.

``email.utils.parseaddr`` and ``getaddresses`` on Python 3.11.7 have no strict mode: from
``evil>,<victim@example.com`` they make two or three addresses, and a ``To`` built from it reaches
a second recipient (issue 13, item 8). So an address is parsed with the standard library's RFC 5322
parser (``email._header_value_parser``, what ``email.headerregistry`` uses), and refused unless the
parse is one mailbox with no defect, no display name, group, comment, quoting or angle brackets,
and the text is nothing but that mailbox's addr-spec.

A display name is never written as it came: ``format_address`` RFC 2047-encodes anything but
letters, digits, spaces and a few harmless marks, so no name can close a quoted string, add a
second address, or smuggle in a pre-encoded word that mail clients would decode and show.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from dataclasses import dataclass
from email import _header_value_parser as parser

#: RFC 5321's limit for a local part; 320 (64 + "@" + 255) for the whole address, as CONTRACT checks.
MAX_LOCAL = 64
MAX_ADDRESS = 320
#: RFC 1035: 63 octets a label, 253 for a name written without its final dot.
MAX_LABEL = 63
MAX_DOMAIN = 253
#: Longest display name kept (characters): with 4-byte characters it is 8 encoded words, so a
#: ``Reply-To:`` line with the longest address stays under RFC 5322's 998 octets.
MAX_DISPLAY_NAME = 80

#: An RFC 5322 dot-atom local part in ASCII (atext runs joined by single dots).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
#: One ASCII domain label: letters, digits and inner hyphens (LDH).
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
#: Display names written as they are: atext without "=" and "?" (so never an encoded word), and spaces.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+/^_`{|}~ -]+")
#: Characters refused in an address and dropped from a display name: C0/C1 controls, DEL, line and
#: paragraph separators, and the bidirectional overrides that make text display in another order.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]")
#: Token types of the parse tree that a plain addr-spec never has, with the reason for each.
_REFUSED_TOKENS = {
    "group": "a group",
    "display-name": "a display name",
    "angle-addr": "angle brackets (give the bare address)",
    "comment": "a comment",
    "quoted-string": "a quoted local part",
    "domain-literal": "a domain literal ([...])",
    "obs-route": "a source route",
}
#: UTF-8 bytes per RFC 2047 encoded word: base64 of 45 bytes is 60 characters, 72 with ``=?utf-8?b?...?=``
#: (at most 75 allowed).
_WORD_BYTES = 45


@dataclass(frozen=True, slots=True)
class Mailbox:
    """One plain mailbox: ``addr_spec`` is ``local@domain``, ASCII only, the domain lower-case
    (an internationalised domain in its IDNA ``xn--`` form), safe to write in any header."""

    addr_spec: str
    local: str
    domain: str


def parse_mailbox(text: str) -> Mailbox:
    """The one mailbox ``text`` is, or ``ValueError`` saying why it is not one.

    Surrounding spaces are ignored; everything else must be the bare addr-spec: at most 320
    characters, a dot-atom ASCII local part of at most 64, and a domain with a dot.
    """
    if not isinstance(text, str):
        raise ValueError("an email address must be text")
    if len(text) > MAX_ADDRESS:
        raise ValueError(f"longer than {MAX_ADDRESS} characters")
    if _CONTROLS.search(text):
        raise ValueError("contains a control character or line break")
    text = text.strip(" ")
    if not text:
        raise ValueError("empty")
    mailbox = _one_mailbox(text)
    local = _local_part(mailbox)
    domain = _ascii_domain(mailbox.domain or "")
    if mailbox.addr_spec != text:  # a catch-all: folding white space, obsolete forms
        raise ValueError("not a plain address")
    return Mailbox(addr_spec=f"{local}@{domain}", local=local, domain=domain)


def _one_mailbox(text: str) -> parser.Mailbox:
    """The parser's single mailbox for ``text``; anything else (a list, a group, a display name,
    a defect) is a ``ValueError``."""
    try:
        address_list, rest = parser.get_address_list(text)
    except Exception as error:  # the parser raises IndexError and others on some malformed input
        raise ValueError("not an email address") from error
    addresses = address_list.addresses
    if rest or len(addresses) != 1:
        raise ValueError(f"{len(addresses)} addresses where exactly one is allowed")
    found = _token_types(address_list)
    for token_type, reason in _REFUSED_TOKENS.items():
        if token_type in found:
            raise ValueError(f"has {reason}")
    if address_list.all_defects:
        raise ValueError(f"not a valid address ({address_list.all_defects[0]})")
    mailboxes = address_list.all_mailboxes
    if len(mailboxes) != 1 or mailboxes[0].token_type != "mailbox":
        raise ValueError("not a valid address")
    mailbox: parser.Mailbox = mailboxes[0]
    return mailbox


def _token_types(tree: parser.TokenList) -> set[str]:
    """Every token type in the parse tree (an input of at most 320 characters keeps it shallow)."""
    found: set[str] = set()
    stack: list[object] = [tree]
    while stack:
        token = stack.pop()
        found.add(str(getattr(token, "token_type", "")))
        if isinstance(token, list):
            stack.extend(token)
    return found


def _local_part(mailbox: parser.Mailbox) -> str:
    local = mailbox.local_part or ""
    if not local:
        raise ValueError("no local part before the @")
    if not local.isascii():
        raise ValueError("the local part is not ASCII (SMTPUTF8 addresses cannot be sent)")
    if len(local) > MAX_LOCAL:
        raise ValueError(f"the local part is longer than {MAX_LOCAL} characters")
    if not _DOT_ATOM.fullmatch(local):
        raise ValueError("the local part is not a plain dot-separated word")
    return local


def _ascii_domain(domain: str) -> str:
    """``domain`` lower-case in ASCII (IDNA), or ``ValueError`` unless it is a host name with a dot."""
    if not domain:
        raise ValueError("no domain after the @")
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError as error:
        raise ValueError("the domain is not a valid host name") from error
    labels = ascii_domain.split(".")
    if len(labels) < 2:
        raise ValueError("the domain has no dot")
    if len(ascii_domain) > MAX_DOMAIN or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("the domain is not a valid host name")
    if labels[-1].isdigit():
        raise ValueError("the domain is a bare IP address")
    return ascii_domain


def clean_display_name(name: str | None) -> str:
    """``name`` on one line: controls, line breaks and direction overrides become spaces, lone
    surrogates U+FFFD, runs of spaces one space; NFC; at most ``MAX_DISPLAY_NAME`` characters."""
    if not name:
        return ""
    name = name[: MAX_DISPLAY_NAME * 4]
    name = re.sub("[\ud800-\udfff]", "\ufffd", name)
    name = unicodedata.normalize("NFC", _CONTROLS.sub(" ", name))
    return " ".join(name.split())[:MAX_DISPLAY_NAME].strip()


def format_address(display_name: str | None, addr_spec: str) -> str:
    """A header value (``To``, ``From``, ``Reply-To``) for one mailbox, pure ASCII on one line.

    ``addr_spec`` must pass ``parse_mailbox`` (``ValueError`` otherwise). The display name is
    cleaned (``clean_display_name``) and written as it is only when it holds nothing but ASCII
    letters, digits, spaces and atext marks other than ``=`` and ``?``; anything else, quotes,
    commas, angle brackets, non-ASCII or text that looks like an encoded word, is RFC 2047-encoded
    whole, so it is always exactly one mailbox whatever the name says.
    """
    mailbox = parse_mailbox(addr_spec)
    name = clean_display_name(display_name)
    if not name:
        return mailbox.addr_spec
    phrase = name if _PLAIN_NAME.fullmatch(name) else encode_words(name)
    return f"{phrase} <{mailbox.addr_spec}>"


def encode_words(text: str) -> str:
    """``text`` as RFC 2047 base64 encoded words of at most 75 characters, split between characters
    (never inside one UTF-8 sequence) and separated by single spaces."""
    words: list[str] = []
    chunk = bytearray()
    for char in text:
        encoded = char.encode("utf-8", "replace")
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(_encoded_word(bytes(chunk)))
            chunk.clear()
        chunk += encoded
    if chunk:
        words.append(_encoded_word(bytes(chunk)))
    return " ".join(words)


def _encoded_word(raw: bytes) -> str:
    return "=?utf-8?b?" + base64.b64encode(raw).decode("ascii") + "?="
