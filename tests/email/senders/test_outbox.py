"""The outbox sender: one RFC 5322 file per message, never two."""

from __future__ import annotations

import base64
import errno
import os
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_automation.email.message import EmailSender, OutgoingEmail, SendResult
from referral_automation.email.senders import make_sender
from referral_automation.email.senders.outbox import OutboxSender, encode_words, render_eml
from referral_automation.errors import PermanentDeliveryError, RetryableDeliveryError
from referral_automation.settings import Settings

NOW = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)


def outgoing(**changes: object) -> OutgoingEmail:
    values: dict[str, object] = {
        "message_id": "6b1f0f55-5d8c-5c4e-9a53-111111111111",
        "referral_request_id": "req-1",
        "sequence_step": 0,
        "campaign": "customer_referral",
        "variant": "gratitude",
        "incentive": "give50_get50",
        "to_email": "jurgen@example.de",
        "to_name": "Jürgen Müller",
        "from_email": "referrals@example.com",
        "from_name": "Acme Success Team",
        "reply_to_email": "replies@example.com",
        "reply_to_name": "Acme, Inc.",
        "subject": "Jürgen, would a colleague like this too?",
        "html": "<p>Hallo Jürgen,</p>\n<p>" + "a = b " * 40 + "</p>",
        "text": "Hallo Jürgen,\n\nReply OK and we do the rest.\n",
        "headers": {
            "List-Unsubscribe": "<http://localhost:8000/u/tok>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    }
    values.update(changes)
    return OutgoingEmail(**values)  # type: ignore[arg-type]


def parse(data: bytes) -> EmailMessage:
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_render_eml_parses_back_with_every_header_and_both_parts() -> None:
    """It writes a multipart/alternative message whose headers and parts read back unchanged."""
    email = outgoing()
    parsed = parse(render_eml(email, date=NOW))
    assert parsed["Subject"] == email.subject
    assert parsed["To"].addresses[0].display_name == "Jürgen Müller"
    assert parsed["To"].addresses[0].addr_spec == "jurgen@example.de"
    assert parsed["From"].addresses[0].addr_spec == "referrals@example.com"
    assert parsed["Reply-To"].addresses[0].display_name == "Acme, Inc."
    assert parsed["Message-ID"] == f"<{email.message_id}@example.com>"
    assert parsed["Date"].datetime == NOW
    assert parsed["X-Referral-Request-Id"] == "req-1"
    assert parsed["X-Referral-Sequence-Step"] == "0"
    assert parsed["X-Referral-Campaign"] == "customer_referral"
    assert parsed["X-Referral-Variant"] == "gratitude"
    assert parsed["List-Unsubscribe"] == "<http://localhost:8000/u/tok>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content() == email.text.replace("\n", "\r\n")
    assert parts[1].get_content().replace("\r\n", "\n") == email.html
    assert not parsed.defects


def test_render_eml_lines_are_crlf_and_short() -> None:
    """It ends every line with CRLF and keeps lines within RFC 5322's 998 characters."""
    data = render_eml(outgoing(html="x" * 5000), date=NOW)
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


def test_header_values_cannot_inject_headers() -> None:
    """It folds line breaks in a subject or header into spaces, so no header can be injected."""
    email = outgoing(subject="Hi\r\nBcc: victim@example.com", headers={"X-Note": "a\nBcc: x@example.com"})
    parsed = parse(render_eml(email, date=NOW))
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "Hi Bcc: victim@example.com"


def test_referral_headers_from_the_composer_are_not_duplicated() -> None:
    """It writes each header once even when the composer already set it in another case."""
    email = outgoing(headers={"x-referral-request-id": "req-1", "List-Unsubscribe": "<u>"})
    parsed = parse(render_eml(email, date=NOW))
    assert len(parsed.get_all("X-Referral-Request-Id") or []) == 1


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=200))
def test_encoded_subjects_round_trip(subject: str) -> None:
    """It encodes any one-line subject so that a standard parser reads the same text back."""
    clean = " ".join(subject.split())
    parsed = parse(render_eml(outgoing(subject=clean), date=NOW))
    assert str(parsed["Subject"] or "") == clean


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r"), max_size=400))
def test_bodies_round_trip(body: str) -> None:
    """It encodes any text body so that a standard parser reads the same text back."""
    parsed = parse(render_eml(outgoing(text=body), date=NOW))
    plain = next(iter(parsed.iter_parts())).get_content()
    assert plain == body.replace("\n", "\r\n")


def test_encode_words_keeps_ascii_and_splits_long_text() -> None:
    """It leaves ASCII alone and splits long non-ASCII text into encoded words of at most 75 characters."""
    assert encode_words("plain") == "plain"
    words = encode_words("ü" * 100).split("\r\n ")
    assert len(words) > 1
    assert all(len(word) <= 75 for word in words)


def test_non_ascii_local_part_is_refused() -> None:
    """It refuses an address it cannot write without SMTPUTF8 as a permanent error."""
    with pytest.raises(PermanentDeliveryError):
        render_eml(outgoing(to_email="jürgen@example.de"), date=NOW)


def test_send_writes_one_file_named_by_message_id(tmp_path: Path) -> None:
    """It writes `{message_id}.eml` and returns the file name as the provider message id."""
    sender = OutboxSender(tmp_path / "outbox", clock=lambda: NOW)
    email = outgoing()
    result = sender.send(email)
    assert result == SendResult(provider="outbox", provider_message_id=f"{email.message_id}.eml")
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == [f"{email.message_id}.eml"]


def test_send_twice_writes_once(tmp_path: Path) -> None:
    """It finds the file of a message sent before and neither rewrites it nor writes another."""
    sender = OutboxSender(tmp_path, clock=lambda: NOW)
    first = sender.send(outgoing())
    before = (tmp_path / first.provider_message_id).read_bytes()  # type: ignore[operator]
    second = OutboxSender(tmp_path, clock=lambda: NOW.replace(year=2030)).send(outgoing(subject="changed"))
    assert first == second
    assert (tmp_path / first.provider_message_id).read_bytes() == before  # type: ignore[operator]
    assert len(list(tmp_path.iterdir())) == 1


def test_send_many_reports_each_message(tmp_path: Path) -> None:
    """It sends each message on its own and returns the error of one that fails in its place."""
    sender = OutboxSender(tmp_path, clock=lambda: NOW)
    good = outgoing()
    bad = outgoing(message_id="6b1f0f55-5d8c-5c4e-9a53-222222222222", to_email="no-at-sign")
    outcomes = sender.send_many([good, bad])
    assert isinstance(outcomes[0], SendResult)
    assert isinstance(outcomes[1], PermanentDeliveryError)


def test_send_many_with_threads_keeps_the_order(tmp_path: Path) -> None:
    """It writes a large batch with several threads and returns each outcome in its message's place."""
    emails = [outgoing(message_id=f"6b1f0f55-5d8c-5c4e-9a53-{n:012d}") for n in range(40)]
    outcomes = OutboxSender(tmp_path, clock=lambda: NOW, threads=4).send_many(emails)
    assert [o.provider_message_id for o in outcomes if isinstance(o, SendResult)] == [
        f"{email.message_id}.eml" for email in emails
    ]
    assert len(list(tmp_path.glob("*.eml"))) == 40


def test_send_many_writes_in_the_calling_thread_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It writes a large batch without starting threads unless asked to (they cost CPU and gained nothing)."""
    import referral_automation.email.senders.outbox as outbox

    def no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("no thread pool by default")

    monkeypatch.setattr(outbox, "ThreadPoolExecutor", no_pool)
    emails = [outgoing(message_id=f"6b1f0f55-5d8c-5c4e-9a53-{n:012d}") for n in range(40)]
    outcomes = OutboxSender(tmp_path, clock=lambda: NOW).send_many(emails)
    assert all(isinstance(outcome, SendResult) for outcome in outcomes)
    assert len(list(tmp_path.glob("*.eml"))) == 40


def test_unwritable_directory_is_retryable(tmp_path: Path) -> None:
    """It reports a directory it cannot create as a retryable error."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(RetryableDeliveryError):
        OutboxSender(blocker / "outbox").send(outgoing())


@pytest.mark.skipif(
    not hasattr(os, "O_TMPFILE"),
    reason="unnamed files (O_TMPFILE) exist only on Linux; elsewhere the outbox renames a temporary file, "
    "which test_a_file_system_without_unnamed_files_gets_a_temporary_file_and_a_rename covers",
)
def test_a_message_gets_its_name_only_when_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It writes into an unnamed file and links it under its name: no temporary name, no rename."""

    def no_rename(*args: object) -> None:
        raise AssertionError("no temporary file renamed")

    monkeypatch.setattr(os, "replace", no_rename)
    email = outgoing()
    OutboxSender(tmp_path, clock=lambda: NOW).send(email)

    assert [path.name for path in tmp_path.iterdir()] == [f"{email.message_id}.eml"]
    assert (tmp_path / f"{email.message_id}.eml").read_bytes() == render_eml(email, date=NOW)
    assert (tmp_path / f"{email.message_id}.eml").stat().st_mode & 0o777 == 0o644 & ~_umask()


def test_a_file_system_without_unnamed_files_gets_a_temporary_file_and_a_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It falls back to a named temporary file for good when the file system refuses unnamed files."""
    import referral_automation.email.senders.outbox as outbox

    calls: list[str] = []

    def unsupported(directory: str, final: str, data: bytes) -> None:
        calls.append(final)
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(outbox, "_write_unnamed", unsupported)
    monkeypatch.setattr(outbox, "_O_TMPFILE", 1)
    sender = OutboxSender(tmp_path, clock=lambda: NOW)
    emails = [outgoing(message_id=f"6b1f0f55-5d8c-5c4e-9a53-{n:012d}") for n in range(3)]
    outcomes = sender.send_many(emails)

    assert all(isinstance(outcome, SendResult) for outcome in outcomes)
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"{email.message_id}.eml" for email in emails]
    assert len(calls) == 1


def test_a_name_taken_meanwhile_keeps_the_first_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It leaves a file another worker wrote between its check and its write, and reports the same send."""

    first = OutboxSender(tmp_path, clock=lambda: NOW).send(outgoing())
    before = (tmp_path / str(first.provider_message_id)).read_bytes()
    monkeypatch.setattr(os.path, "exists", lambda path: False)

    again = OutboxSender(tmp_path, clock=lambda: NOW.replace(year=2030)).send(outgoing(subject="changed"))

    assert again == first
    assert (tmp_path / str(first.provider_message_id)).read_bytes() == before
    assert len(list(tmp_path.iterdir())) == 1


def test_a_full_disk_is_retryable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It reports a write the file system refused for want of space as a retryable error."""
    import referral_automation.email.senders.outbox as outbox

    def full(directory: str, final: str, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outbox, "_write_unnamed", full)
    monkeypatch.setattr(outbox, "_O_TMPFILE", 1)

    with pytest.raises(RetryableDeliveryError, match="No space left"):
        OutboxSender(tmp_path, clock=lambda: NOW).send(outgoing())
    assert list(tmp_path.iterdir()) == []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_make_sender_picks_the_outbox(tmp_path: Path) -> None:
    """It builds the outbox sender for the outbox backend, writing into REFERRAL_OUTBOX_DIR."""
    sender = make_sender(Settings(REFERRAL_OUTBOX_DIR=tmp_path, REFERRAL_EMAIL_BACKEND="outbox"))
    assert isinstance(sender, EmailSender)
    assert isinstance(sender, OutboxSender)
    assert sender.idempotent
    assert sender.directory == tmp_path


def test_bodies_go_as_they_are_when_their_lines_fit() -> None:
    """It writes parts whose lines fit in 998 octets as they are: 7bit when ASCII, else 8bit UTF-8."""
    parts = list(parse(render_eml(outgoing(text="Hello Ann,\nreply OK.\n", html="<p>Hi</p>\n"), date=NOW)).iter_parts())
    assert [part["Content-Transfer-Encoding"] for part in parts] == ["7bit", "7bit"]
    data = render_eml(outgoing(text="Grüße, 李小龙\n", html="<p>Grüße</p>"), date=NOW)
    assert "Grüße, 李小龙\r\n".encode() in data  # readable (and searchable) in the file itself
    umlauts = list(parse(data).iter_parts())
    assert [part["Content-Transfer-Encoding"] for part in umlauts] == ["8bit", "8bit"]
    assert [part.get_content().replace("\r\n", "\n") for part in umlauts] == ["Grüße, 李小龙\n", "<p>Grüße</p>"]


def test_bodies_with_a_long_line_are_encoded() -> None:
    """It encodes a part with a line over 998 octets (counting UTF-8 bytes, not characters):
    HTML as base64, text as quoted-printable."""
    long_html = "<p>" + "ü" * 500 + "</p>"  # 507 characters, 1,007 octets
    long_text = "x" * 1200
    parts = list(parse(render_eml(outgoing(text=long_text, html=long_html), date=NOW)).iter_parts())
    assert [part["Content-Transfer-Encoding"] for part in parts] == ["quoted-printable", "base64"]
    assert [part.get_content() for part in parts] == [long_text, long_html]
    exactly = "y" * 998  # the longest line that goes as it is
    assert (
        list(parse(render_eml(outgoing(html=exactly), date=NOW)).iter_parts())[1]["Content-Transfer-Encoding"] == "7bit"
    )


@pytest.mark.parametrize("body", ["a\x00b", "see --=_alt_{boundary} here"])
def test_bodies_a_reader_could_misread_are_encoded(body: str) -> None:
    """It encodes a part holding a NUL or its own boundary, which a part written as it is cannot."""
    email = outgoing()
    text = body.format(boundary=email.message_id.replace("-", ""))
    parts = list(parse(render_eml(outgoing(text=text, html=text), date=NOW)).iter_parts())
    assert [part["Content-Transfer-Encoding"] for part in parts] == ["quoted-printable", "base64"]
    assert [part.get_content() for part in parts] == [text, text]


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r"), max_size=2000))
def test_html_bodies_round_trip(html: str) -> None:
    """It encodes any HTML (non-Latin text, long lines, markup) so that a standard parser reads it back."""
    data = render_eml(outgoing(html=html), date=NOW)
    parsed = parse(data)
    part = list(parsed.iter_parts())[1]
    assert part.get_content().replace("\r\n", "\n") == html
    assert not parsed.defects
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_html_in_base64_has_short_crlf_lines() -> None:
    """It wraps a base64 HTML part at 76 characters a line, each ending in CRLF, with the text's line breaks as CRLF."""
    html = ("<p>Grüße, 李小龙</p>" * 60 + "\n") * 4  # lines of 1,500 octets: too long to go as they are
    data = render_eml(outgoing(html=html), date=NOW)
    body = data.split(b"Content-Transfer-Encoding: base64\r\n\r\n")[1].split(b"\r\n--")[0]
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))
    assert base64.b64decode(body) == html.replace("\n", "\r\n").encode("utf-8")
