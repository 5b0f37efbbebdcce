"""Checks on a referee before a referral counts: the advocate's own mailbox under another spelling,
throwaway addresses, and a code used far more than usual.

None of them decides alone what happens: self-referral is refused, the other two are flagged for a
person to review (issue 14: "flagged for review, not silently accepted").
"""

from __future__ import annotations

import contextlib
import math
from functools import cache
from importlib import resources

from referral_automation.domain.addresses import parse_mailbox

#: Gmail ignores dots in the local part and everything from a "+"; googlemail.com is the same mailbox.
GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
#: Providers documented to deliver ``name+anything@`` to ``name@`` (subaddressing), and that
#: ignore nothing else. Other domains keep their "+": for them it may be part of the mailbox's name.
#: Yahoo is not here: its disposable addresses use "-" with a base the user chose, not the mailbox.
SUBADDRESSING_DOMAINS = frozenset(
    {
        # Microsoft
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "hotmail.de",
        "hotmail.it",
        "hotmail.es",
        "outlook.de",
        "outlook.fr",
        "live.co.uk",
        "live.fr",
        "live.de",
        # Apple
        "icloud.com",
        "me.com",
        "mac.com",
        # Fastmail
        "fastmail.com",
        "fastmail.fm",
        # Proton
        "proton.me",
        "protonmail.com",
        "protonmail.ch",
        "pm.me",
        # Yandex
        "yandex.ru",
        "yandex.com",
        "ya.ru",
        # Zoho
        "zoho.com",
        "zohomail.com",
    }
)


def canonical_email(address: str) -> str:
    """The mailbox ``address`` delivers to, spelled one way: for comparing, never for sending.

    The local part lower-case (every large provider ignores its case), the domain lower-case ASCII;
    at Gmail (and googlemail.com, mapped to gmail.com) dots and a ``+tag`` dropped; at the
    ``SUBADDRESSING_DOMAINS`` a ``+tag`` dropped. ``ValueError`` unless ``parse_mailbox`` accepts it.
    """
    mailbox = parse_mailbox(address)
    local, domain = mailbox.local.lower(), mailbox.domain
    if domain in GMAIL_DOMAINS:
        domain = "gmail.com"
        local = _without_tag(local).replace(".", "") or local
    elif domain in SUBADDRESSING_DOMAINS:
        local = _without_tag(local)
    return f"{local}@{domain}"


def _without_tag(local: str) -> str:
    """``local`` up to its first "+", or the whole of it when nothing would be left."""
    return local.partition("+")[0] or local


def _comparable(address: str) -> str:
    """``canonical_email``, or for an address it refuses, the text itself trimmed and case-folded."""
    try:
        return canonical_email(address)
    except ValueError:
        return address.strip().casefold()


def is_self_referral(advocate_email: str, referee_email: str) -> bool:
    """Whether the referee's address is the advocate's own mailbox (``canonical_email``), e.g.
    ``Ada.L+friend@googlemail.com`` for ``adal@gmail.com``. Addresses that do not parse are
    compared as text, trimmed and case-folded."""
    return _comparable(advocate_email) == _comparable(referee_email)


@cache
def disposable_domains() -> frozenset[str]:
    """The bundled list of well-known disposable-address domains (``data/disposable_domains.txt``)."""
    text = resources.files("referral_automation.domain").joinpath("data/disposable_domains.txt").read_text("utf-8")
    lines = (line.strip().lower() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def is_disposable(address: str) -> bool:
    """Whether ``address`` (or a bare domain) is at a listed disposable domain or a subdomain of one.

    Text that is not a plain address is judged by what follows its last "@" (less a closing ">"),
    so ``Eve <x@sharklasers.com>`` is still recognised; nothing is an error.
    """
    if not isinstance(address, str):
        return False
    domain = address[-400:].rpartition("@")[2].strip().rstrip(">").strip().rstrip(".").lower()
    with contextlib.suppress(UnicodeError):  # not a host name: compared as it is, and never listed
        domain = domain.encode("idna").decode("ascii")
    listed = disposable_domains()
    labels = domain.split(".")
    return any(".".join(labels[start:]) in listed for start in range(len(labels) - 1))


#: Defaults of ``unusual_code_use``: a code is flagged once used more than 5 times its program's
#: typical rate in the same window, and never for 10 uses or fewer (a popular advocate's day).
DEFAULT_FLOOR = 10
DEFAULT_FACTOR = 5.0


def unusual_code_use(
    recent_uses: int,
    typical_uses: float,
    *,
    floor: int = DEFAULT_FLOOR,
    factor: float = DEFAULT_FACTOR,
) -> str | None:
    """Why a code's use looks unusual, or ``None``.

    ``recent_uses``: sign-ups with the code in the window (the caller picks the window, e.g. 24 h).
    ``typical_uses``: the program's typical sign-ups per code in a window of the same length (a
    mean or median over active codes). The code is unusual when ``recent_uses`` is more than
    ``max(floor, factor * typical_uses)``. A typical rate that is negative or not a finite number
    counts as 0, so the floor alone decides.
    """
    if floor < 0 or not math.isfinite(factor) or factor <= 0:
        raise ValueError("floor must be at least 0 and factor a positive number")
    typical = typical_uses if math.isfinite(typical_uses) and typical_uses > 0 else 0.0
    limit = max(float(floor), factor * typical)
    if recent_uses <= limit:
        return None
    return (
        f"the code was used {recent_uses} times in the window, more than {limit:g} "
        f"(the larger of {floor} and {factor:g} x the typical {typical:g})"
    )
