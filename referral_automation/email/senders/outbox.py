"""The outbox: a sender that writes each message as one RFC 5322 ``.eml`` file.

It is the default backend (CONTRACT.md "Every email"): a developer or a reviewer opens the files
in any mail client. It is *idempotent*: the file is named by the message id, so sending the same
message again finds the file and writes nothing, which lets the send service redo an ambiguous
send safely.

The MIME text is built by hand rather than with ``email.message.EmailMessage``: the standard
library's generator costs about 2.5 ms a message here, this one about 0.1 ms, and the send
benchmark's target is 5,000 emails a second. Tests parse every file back with the standard
library's parser (``policy.default``) to keep this honest: any text, any HTML (non-Latin,
long lines), any subject, and header injection attempts.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from referral_automation.email.message import OutgoingEmail, SendOutcome, SendResult
from referral_automation.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError

CRLF = "\r\n"
#: Characters that force a display name into a quoted string (RFC 5322 "specials").
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')
#: Longest raw UTF-8 chunk of one encoded word: 45 bytes -> 60 base64 characters, 72 with the wrapper.
_WORD_BYTES = 45
#: Headers the outbox writes itself; the same names in ``OutgoingEmail.headers`` are ignored.
_OWN_HEADERS = frozenset(
    {"from", "to", "reply-to", "subject", "date", "message-id", "mime-version", "content-type",
     "content-transfer-encoding"}
)  # fmt: skip


def _one_line(value: str) -> str:
    """Header values never carry line breaks (no header injection from templates or data)."""
    return " ".join(value.split()) if ("\n" in value or "\r" in value) else value


def encode_words(value: str) -> str:
    """An unstructured header value: as it is when ASCII, else RFC 2047 base64 encoded words.

    Words are split on character boundaries so no UTF-8 sequence is cut in two, and folded with
    CRLF + space so no line grows past 78 characters.
    """
    if value.isascii():
        return value
    words: list[str] = []
    chunk = bytearray()
    for char in value:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(_encoded_word(bytes(chunk)))
            chunk.clear()
        chunk += encoded
    if chunk:
        words.append(_encoded_word(bytes(chunk)))
    return (CRLF + " ").join(words)


def _encoded_word(raw: bytes) -> str:
    return "=?utf-8?b?" + base64.b64encode(raw).decode("ascii") + "?="


def format_address(name: str | None, address: str) -> str:
    """``Name <local@domain>`` with the name quoted or encoded as RFC 5322 and 2047 require."""
    address = _ascii_address(_one_line(address).strip())
    name = _one_line(name or "").strip()
    if not name:
        return address
    if not name.isascii():
        return f"{encode_words(name)} <{address}>"
    if _SPECIALS.search(name):
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{address}>'
    return f"{name} <{address}>"


def _ascii_address(address: str) -> str:
    """Addresses must be ASCII in a plain RFC 5322 message: IDNA for the domain, refuse the rest."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise PermanentDeliveryError(f"not an email address: {address!r}")
    if not local.isascii():
        raise PermanentDeliveryError(f"the outbox cannot write a non-ASCII local part (SMTPUTF8): {address!r}")
    return f"{local}@{_ascii_domain(domain)}"


def _ascii_domain(domain: str) -> str:
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise PermanentDeliveryError(f"cannot encode the domain {domain!r}: {error}") from error


def _body(body: str, boundary: str, *, html: bool = False) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, encoded body) with CRLF line ends.

    A body whose lines all fit in 998 octets goes as it is: ``7bit`` when ASCII, else ``8bit``
    UTF-8 (RFC 6152; what mail clients write and read today). The outbox is for people to read,
    in a mail client or a text editor, and its HTML stays searchable that way; it is a fifth
    smaller than encoded, and encoding cost more than rendering the HTML.
    A body with a longer line (or a NUL, or the boundary) is encoded: HTML as base64 (one C
    call), plain text as quoted-printable (still readable). The CRLF that the caller puts after
    it belongs to the boundary line (RFC 2046), so the body's own last line break, if any,
    survives a round trip.
    """
    normalised = body.replace("\r\n", "\n").replace("\r", "\n") if "\r" in body else body
    if boundary not in normalised and "\x00" not in normalised:
        data = normalised.replace("\n", CRLF).encode("utf-8")
        if len(data) <= _MAX_LINE or max(map(len, data.split(b"\r\n"))) <= _MAX_LINE:
            return ("7bit" if data.isascii() else "8bit"), data
    if html:
        return "base64", _base64_lines(normalised.replace("\n", CRLF).encode("utf-8"))
    return "quoted-printable", CRLF.join([_qp_line(line) if line else "" for line in normalised.split("\n")]).encode(
        "ascii"
    )


def _base64_lines(data: bytes) -> bytes:
    """``data`` in base64, 76 characters a line (RFC 2045) joined by CRLF.

    Encoded in one C call and cut into lines as bytes: the HTML part is the bulk of a message,
    and going through ``str`` and back (or a call per line) cost a third more.
    """
    encoded = binascii.b2a_base64(data, newline=False)
    return b"\r\n".join([encoded[start : start + 76] for start in range(0, len(encoded), 76)])


#: Longest line a 7bit or 8bit part may have (RFC 5322: 998 octets before the CRLF).
_MAX_LINE = 998


def _qp_line(line: str) -> str:
    """One line (no line break in it) as quoted-printable, soft breaks as ``=`` + CRLF.

    Each hard line break of RFC 2045 starts a fresh line of at most 76 characters, so encoding
    line by line gives what encoding the whole text at once would.
    """
    return binascii.b2a_qp(line.encode("utf-8"), istext=True).decode("ascii").replace("\n", CRLF)


def message_id_header(email: OutgoingEmail) -> str:
    """``<message id@sender's domain>``: derived from the message id, so a reply's In-Reply-To finds it."""
    domain = email.from_email.rpartition("@")[2].strip() or "referral-automation.invalid"
    return f"<{email.message_id}@{_ascii_domain(domain)}>"


def render_eml(email: OutgoingEmail, *, date: datetime) -> bytes:
    """The whole message as RFC 5322 bytes: multipart/alternative, plain text first, then HTML."""
    boundary = "=_alt_" + email.message_id.replace("-", "")  # "=_" never occurs in quoted-printable either
    headers = [
        ("From", format_address(email.from_name, email.from_email)),
        ("To", format_address(email.to_name, email.to_email)),
    ]
    if email.reply_to_email:
        headers.append(("Reply-To", format_address(email.reply_to_name, email.reply_to_email)))
    headers += [
        ("Subject", encode_words(_one_line(email.subject))),
        ("Date", format_datetime(date.astimezone(UTC))),
        ("Message-ID", message_id_header(email)),
        ("MIME-Version", "1.0"),
    ]
    headers += [(name, encode_words(_one_line(value))) for name, value in _extra_headers(email)]
    headers.append(("Content-Type", f'multipart/alternative; boundary="{boundary}"'))
    lines = [f"{name}: {value}" for name, value in headers]
    lines.append("")
    parts = [CRLF.join(lines).encode("ascii")]
    for subtype, content in (("plain", email.text), ("html", email.html)):
        encoding, encoded = _body(content, boundary, html=subtype == "html")
        part_headers = (
            f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {encoding}\r\n"
        )
        parts += [part_headers.encode("ascii"), encoded]
    parts.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"\r\n".join(parts)


def _extra_headers(email: OutgoingEmail) -> list[tuple[str, str]]:
    """The referral headers, then the composer's (List-Unsubscribe, …); one of each name, any case."""
    extra = {
        name.lower(): (name, value)
        for name, value in (
            ("X-Referral-Request-Id", email.referral_request_id),
            ("X-Referral-Sequence-Step", str(email.sequence_step)),
            ("X-Referral-Campaign", email.campaign),
            ("X-Referral-Variant", email.variant),
            ("X-Referral-Incentive", email.incentive),
        )
    }
    for name, value in email.headers.items():
        if name.lower() not in _OWN_HEADERS:
            extra[name.lower()] = (name, value)
    return list(extra.values())


#: ``os.O_TMPFILE`` where the platform has it (Linux).
_O_TMPFILE: int | None = getattr(os, "O_TMPFILE", None)
#: What a file system (or a kernel, or a missing /proc) answers when it cannot make or name unnamed files.
_NO_UNNAMED_FILES = frozenset({errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT, errno.EXDEV, errno.EPERM})


def _write_unnamed(directory: str, final: str, data: bytes) -> None:
    """``data`` into an unnamed file in ``directory``, then linked as ``final`` (``FileExistsError`` if taken).

    ``os.link`` calls ``linkat`` with ``AT_SYMLINK_FOLLOW`` only when given a directory
    descriptor; the file's own descriptor serves (``linkat`` ignores it for an absolute path).
    """
    assert _O_TMPFILE is not None
    descriptor = os.open(directory, _O_TMPFILE | os.O_WRONLY, 0o644)
    try:
        os.write(descriptor, data)
        os.link(f"/proc/self/fd/{descriptor}", final, src_dir_fd=descriptor)
    finally:
        os.close(descriptor)


def outbox_file_name(message_id: str) -> str:
    return f"{message_id}.eml"


class OutboxSender:
    """Writes ``{message_id}.eml`` into a directory; the file name is the provider message id.

    Writes are atomic, so a reader never sees half a message, and a crash leaves either no file or
    the whole one. On Linux a message is written into an unnamed file (``O_TMPFILE``) and given its
    name only when complete (``linkat``), which also refuses a name already taken: half the file
    system work of a named temporary file and a rename (benchmarks/HISTORY.md), and a crash leaves no temporary file
    behind. Elsewhere, or on a file system without ``O_TMPFILE``, a named temporary file and
    ``os.replace``. No ``fsync``: the outbox is for development and review, and a send that a
    power cut loses is simply sent again on the next run.
    """

    name = "outbox"
    idempotent = True

    def __init__(self, directory: Path, *, clock: Callable[[], datetime] | None = None, threads: int = 1) -> None:
        self.directory = Path(directory)
        self.threads = threads
        self._directory = str(self.directory)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._ready = False
        #: Whether to write through an unnamed file (cleared for good once the file system refuses it).
        self._unnamed = _O_TMPFILE is not None

    def send(self, email: OutgoingEmail) -> SendResult:
        """Write the message unless its file already exists (then it was sent before: same result)."""
        if not self._ready:
            self._prepare()
        name = outbox_file_name(email.message_id)
        final = os.path.join(self._directory, name)
        if not os.path.exists(final):
            self._write(final, render_eml(email, date=self._clock()))
        return SendResult(provider=self.name, provider_message_id=name)

    def _write(self, final: str, data: bytes) -> None:
        if self._unnamed:
            try:
                _write_unnamed(self._directory, final, data)
                return
            except FileExistsError:
                return  # written meanwhile (another worker): the same message
            except OSError as error:
                if error.errno not in _NO_UNNAMED_FILES:
                    raise RetryableDeliveryError(f"cannot write {final}: {error}") from error
                self._unnamed = False
        temporary = f"{final}.{os.getpid()}.tmp"
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(descriptor, data)
            finally:
                os.close(descriptor)
            os.replace(temporary, final)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise RetryableDeliveryError(f"cannot write {final}: {error}") from error

    def send_many(self, emails: Sequence[OutgoingEmail]) -> list[SendOutcome]:
        """Each message on its own (one that cannot be written does not stop the others).

        In the calling thread by default: on a local file system (tmpfs, or a disk's page cache:
        no ``fsync``) a write barely waits, and threads cost CPU in the send benchmark for no gain in
        wall time. ``threads`` > 1 writes
        from a few threads, for a file system whose waits are worth overlapping (a network share).
        """
        if not self._ready:
            self._prepare()
        if self.threads <= 1 or len(emails) < 2 * self.threads:
            return self._outcomes(emails)
        # One slice per thread, not one task per message: a future per message cost more CPU than the write.
        size = -(-len(emails) // self.threads)
        slices = [emails[start : start + size] for start in range(0, len(emails), size)]
        with ThreadPoolExecutor(len(slices), thread_name_prefix="outbox") as pool:
            return [outcome for outcomes in pool.map(self._outcomes, slices) for outcome in outcomes]

    def _outcomes(self, emails: Sequence[OutgoingEmail]) -> list[SendOutcome]:
        return [self._outcome(email) for email in emails]

    def _outcome(self, email: OutgoingEmail) -> SendOutcome:
        try:
            return self.send(email)
        except DeliveryError as error:
            return error

    def _prepare(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RetryableDeliveryError(f"cannot create the outbox directory {self.directory}: {error}") from error
        self._ready = True
