"""What an inbound email's headers say about it: which of our messages it answers, and whether a
machine wrote it.

A reply names the message it answers in ``In-Reply-To`` and its thread in ``References`` (RFC 5322
3.6.4): lists of ``<id@domain>``. Our messages' ids are ``<message uuid@sender's domain>``
(``email.senders.outbox.message_id_header``), so the uuids found there name our messages.

An auto-reply (an out-of-office, a ticket system's receipt, a mailing list's digest) is not the
customer's answer: it must neither count as a reply nor stop follow-ups. RFC 3834 says how such
mail marks itself (``Auto-Submitted`` other than ``no``); Microsoft's and older systems use
``X-Autoreply``, ``X-Autorespond`` and ``Precedence: auto_reply | bulk | junk | list``; delivery
reports come as ``multipart/report``.

Headers are hostile: only the first ``MAX_IDS`` ids and ``MAX_HEADER_CHARS`` of a header are read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: How much of one header value is looked at.
MAX_HEADER_CHARS = 8 * 1024
#: How many message ids of ``In-Reply-To`` and ``References`` together are looked up.
MAX_IDS = 50

_MESSAGE_ID = re.compile(r"<([^<>\s@]{1,200})@[^<>\s]{1,255}>")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_AUTOMATED_PRECEDENCE = frozenset({"auto_reply", "bulk", "junk", "list"})
#: User agents of link checkers and preview fetchers: they open links, nobody clicked.
_AGENT_WORDS = (
    "bot",
    "crawler",
    "spider",
    "preview",
    "facebookexternalhit",
    "slurp",
    "curl/",
    "wget/",
    "python-requests",
    "go-http-client",
    "headlesschrome",
    "safelinks",
    "proofpoint",
    "mimecast",
    "barracuda",
)


def referenced_message_ids(in_reply_to: str | None, references: str | None) -> list[str]:
    """The uuids of ``<uuid@domain>`` ids in ``In-Reply-To`` then ``References`` (the message
    answered first, then the thread from its newest end), without repeats, at most ``MAX_IDS``."""
    found: list[str] = []
    for header in (in_reply_to, references):
        if not isinstance(header, str):
            continue
        ids = [match.group(1).lower() for match in _MESSAGE_ID.finditer(header[:MAX_HEADER_CHARS])]
        if header is references:
            ids.reverse()
        for local in ids:
            if _UUID.fullmatch(local) and local not in found:
                found.append(local)
    return found[:MAX_IDS]


def auto_reply_reason(headers: Mapping[str, str]) -> str | None:
    """Why a message is a machine's answer, or ``None`` when a person may have written it.

    ``headers`` maps lower-case header names to their (first) values.
    """

    def value(name: str) -> str:
        raw = headers.get(name)
        return raw[:MAX_HEADER_CHARS].strip().lower() if isinstance(raw, str) else ""

    auto_submitted = value("auto-submitted")
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"Auto-Submitted: {auto_submitted[:60]}"
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder"):
        if value(name) and value(name) not in ("no", "false", "0"):
            return f"{name}: {value(name)[:60]}"
    if value("precedence") in _AUTOMATED_PRECEDENCE:
        return f"Precedence: {value('precedence')}"
    if value("content-type").startswith("multipart/report"):
        return "a delivery or read report (multipart/report)"
    return None


def is_automated_agent(user_agent: str | None) -> bool:
    """Whether a referral-link request came from a link checker or a preview fetcher (by its
    User-Agent): its click is kept, but it is nobody's response."""
    if not isinstance(user_agent, str):
        return False
    agent = user_agent[:512].lower()
    return any(word in agent for word in _AGENT_WORDS)
