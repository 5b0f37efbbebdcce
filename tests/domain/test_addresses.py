"""Addresses: exactly one plain mailbox or a reason, and display names that can never add a recipient."""

from __future__ import annotations

from email import _header_value_parser as header_parser
from email import message_from_bytes
from email.policy import default

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_automation.domain.addresses import (
    MAX_DISPLAY_NAME,
    Mailbox,
    clean_display_name,
    encode_words,
    format_address,
    parse_mailbox,
)


def test_a_plain_address_is_one_mailbox() -> None:
    """It splits a plain address into its local part and its domain."""
    assert parse_mailbox("ada.lovelace+news@example.co.uk") == Mailbox(
        addr_spec="ada.lovelace+news@example.co.uk", local="ada.lovelace+news", domain="example.co.uk"
    )


def test_surrounding_spaces_are_ignored() -> None:
    """It ignores spaces around the address (a CSV cell), and nothing else."""
    assert parse_mailbox("  ada@example.com ").addr_spec == "ada@example.com"


def test_the_domain_is_lower_case_ascii() -> None:
    """It writes the domain in lower case, an internationalised one in IDNA form; the local part keeps its case."""
    assert parse_mailbox("Ada@Example.COM").addr_spec == "Ada@example.com"
    assert parse_mailbox("ada@bücher.de").domain == "xn--bcher-kva.de"


REFUSED = [
    ("two-recipients-through-a-bracket", "evil>,<victim@example.com", "2 addresses"),
    ("a-list", "ada@example.com, eve@example.com", "2 addresses"),
    ("a-display-name", "Ada <ada@example.com>", "display name"),
    ("angle-brackets", "<ada@example.com>", "angle brackets"),
    ("a-group", "friends: ada@example.com;", "group"),
    ("a-trailing-comment", "ada@example.com (Ada)", "comment"),
    ("a-leading-comment", "(Ada)ada@example.com", "comment"),
    ("a-quoted-local-part", '"ada lovelace"@example.com', "quoted"),
    ("needless-quotes", '"ada"@example.com', "quoted"),
    ("a-domain-literal", "ada@[192.0.2.1]", "domain literal"),
    ("a-bare-ip", "ada@192.0.2.1", "IP address"),
    ("no-dot-in-the-domain", "ada@localhost", "no dot"),
    ("no-domain", "ada@", "not an email address"),
    ("no-local-part", "@example.com", "not a valid address"),
    ("no-at", "ada.example.com", "no domain"),
    ("two-dots", "ada..l@example.com", "not a valid address"),
    ("a-leading-dot", ".ada@example.com", "not a valid address"),
    ("a-space-inside", "ada l@example.com", "not a valid address"),
    ("a-space-before-the-at", "ada @example.com", "not a plain address"),
    ("a-space-in-the-domain", "ada@example .com", "not a valid address"),
    ("a-trailing-dot", "ada@example.com.", "not a valid address"),
    ("a-hyphen-at-a-label-edge", "ada@-example.com", "host name"),
    ("an-underscore-in-the-domain", "ada@ex_ample.com", "host name"),
    ("an-empty-label", "ada@example..com", "not a valid address"),
    ("a-label-of-64", "ada@" + "a" * 64 + ".com", "host name"),
    ("a-non-ascii-local-part", "zoë@example.com", "ASCII"),
    ("a-local-part-of-65", "a" * 65 + "@example.com", "64"),
    ("longer-than-320", "a@" + ("b" * 60 + ".") * 6, "320"),
    ("a-newline", "ada@example.com\nBcc: eve@example.com", "control"),
    ("a-carriage-return", "ada@example.com\r", "control"),
    ("a-nul", "ada\x00@example.com", "control"),
    ("a-tab", "ada@example.com\t", "control"),
    ("a-line-separator", "ada@example.com\u2028", "control"),
    ("an-encoded-word", "=?utf-8?q?ada?=@example.com", "not a valid address"),
    ("empty", "", "empty"),
    ("spaces-only", "   ", "empty"),
    ("a-semicolon", "ada@example.com;", "not a valid address"),
]


@pytest.mark.parametrize(("text", "reason"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_anything_but_one_plain_mailbox_is_refused(text: str, reason: str) -> None:
    """It refuses lists, groups, names, comments, quoting, odd domains and control characters, saying why."""
    with pytest.raises(ValueError, match=reason):
        parse_mailbox(text)


def test_text_that_is_not_a_string_is_refused() -> None:
    """It refuses a value that is not text instead of crashing on it."""
    with pytest.raises(ValueError, match="text"):
        parse_mailbox(b"ada@example.com")  # type: ignore[arg-type]


def test_a_local_part_of_64_and_an_address_of_320_are_accepted() -> None:
    """It accepts the longest local part and address RFC 5321 allows."""
    local = "a" * 64
    domain = ".".join(["b" * 63] * 3) + "." + "c" * 61
    address = f"{local}@{domain}"
    assert len(address) == 318
    assert parse_mailbox(address).local == local


@given(st.text(max_size=400))
@settings(max_examples=400, deadline=None)
def test_any_text_is_a_mailbox_or_a_value_error(text: str) -> None:
    """It never fails any other way, and what it accepts is one ASCII mailbox that parses back to itself."""
    try:
        mailbox = parse_mailbox(text)
    except ValueError:
        return
    assert mailbox.addr_spec.isascii()
    assert parse_mailbox(mailbox.addr_spec) == mailbox


# --------------------------------------------------------------------------- format_address
def _parsed(header_value: str) -> list[tuple[str, str]]:
    """(display name, addr-spec) of every mailbox the standard library finds in a header value."""
    address_list, rest = header_parser.get_address_list(header_value)
    assert rest == ""
    return [(mailbox.display_name or "", mailbox.addr_spec) for mailbox in address_list.all_mailboxes]


def test_a_plain_name_is_written_as_it_is() -> None:
    """It writes letters, digits and spaces unencoded, so the outbox stays readable."""
    assert format_address("Ada Lovelace", "ada@example.com") == "Ada Lovelace <ada@example.com>"


def test_no_name_gives_the_bare_address() -> None:
    """It writes only the address when there is no name, or only white space and controls."""
    assert format_address(None, "ada@example.com") == "ada@example.com"
    assert format_address(" \r\n\t ", "ada@example.com") == "ada@example.com"


HOSTILE_NAMES = [
    ("a-second-address", 'Eve <eve@example.com>, "x'),
    ("a-closing-quote", 'Ada" <eve@example.com>, "'),
    ("a-backslash", "Ada \\"),
    ("an-encoded-word", "=?utf-8?b?RXZlIDxldmVAZXhhbXBsZS5jb20+?="),
    ("an-encoded-word-in-quotes", '"=?utf-8?q?Eve?="'),
    ("a-header-injection", "Ada\r\nBcc: eve@example.com"),
    ("non-ascii", "Zoë Ðuković 山田"),
    ("right-to-left-override", "Ada\u202egnp.exe"),
    ("a-comment", "Ada (admin)"),
    ("a-colon-and-semicolon", "undisclosed-recipients:;"),
    ("a-lone-surrogate", "Ada \ud800"),
    ("emoji", "🎉 Ada 👩‍💻"),
]


@pytest.mark.parametrize("name", [c[1] for c in HOSTILE_NAMES], ids=[c[0] for c in HOSTILE_NAMES])
def test_a_hostile_name_stays_one_mailbox(name: str) -> None:
    """It encodes any name beyond plain ASCII, so the header is still exactly one mailbox with that address."""
    value = format_address(name, "ada@example.com")
    assert value.isascii()
    assert "\r" not in value
    assert "\n" not in value
    assert value.endswith(" <ada@example.com>")
    assert value.startswith("=?utf-8?b?")
    assert [addr for _, addr in _parsed(value)] == ["ada@example.com"]


def test_a_name_that_is_an_encoded_word_is_encoded_again() -> None:
    """It encodes a name that is literally an encoded word, so clients show that text, not its decoding."""
    name = "=?utf-8?b?RXZl?="
    [(display, _)] = _parsed(format_address(name, "ada@example.com"))
    assert display == name


def test_controls_and_direction_overrides_leave_the_name() -> None:
    """It turns line breaks, controls and direction overrides into spaces (one space for a run)."""
    assert clean_display_name("Ada\r\n\x00Lovelace\u202e") == "Ada Lovelace"
    assert format_address("Ada\x00Eve", "ada@example.com") == "Ada Eve <ada@example.com>"


def test_a_long_name_is_cut() -> None:
    """It keeps at most MAX_DISPLAY_NAME characters of a name, so the header line stays under 998 octets."""
    value = format_address("😀" * 500, "a" * 64 + "@" + "b" * 63 + ".com")
    assert clean_display_name("😀" * 500) == "😀" * MAX_DISPLAY_NAME
    assert len(f"Reply-To: {value}") < 998


def test_encoded_words_respect_the_rfc_2047_length() -> None:
    """It splits a long name into encoded words of at most 75 characters, never inside a character."""
    words = encode_words("ё" * 100).split(" ")
    assert len(words) > 1
    assert all(len(word) <= 75 for word in words)


def test_the_domain_is_written_in_ascii() -> None:
    """It writes an internationalised domain in its IDNA form, as an RFC 5322 header needs."""
    assert format_address("Ada", "ada@bücher.de") == "Ada <ada@xn--bcher-kva.de>"


def test_a_bad_address_is_refused() -> None:
    """It refuses to format an address that parse_mailbox refuses."""
    with pytest.raises(ValueError, match="2 addresses"):
        format_address("Ada", "evil>,<victim@example.com")


ADDRESSES = st.builds(
    "{}@{}.{}".format,
    st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\.[A-Za-z0-9_-]{1,10}){0,2}", fullmatch=True),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
    st.sampled_from(["com", "de", "co.uk", "example"]),
)


@given(name=st.text(max_size=120), address=ADDRESSES)
@settings(max_examples=500, deadline=None)
def test_format_address_always_parses_back_to_one_mailbox(name: str, address: str) -> None:
    """Whatever the name, the header value parses back (RFC 5322 parser and EmailMessage) to exactly one
    mailbox with the same address, and its display name decodes to the cleaned name."""
    value = format_address(name, address)
    assert value.isascii()
    [(display, addr_spec)] = _parsed(value)
    assert addr_spec == address
    cleaned = clean_display_name(name)
    # Python's parser keeps the space between adjacent encoded words, which RFC 2047 drops.
    assert display.replace(" ", "") == cleaned.replace(" ", "")
    message = message_from_bytes(f"To: {value}\r\n\r\n".encode("ascii"), policy=default)
    assert [a.addr_spec for a in message["To"].addresses] == [address]
