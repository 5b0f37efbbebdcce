"""What the send flow signs into each email: the unsubscribe link's token and the reply address.

Tokens are derived from the request id and the key (``domain.tokens``), never stored: the web app
reads the request id back out of them, and a forged or altered token names nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from referral_automation.domain import tokens
from referral_automation.errors import ReferralAutomationError


@dataclass(frozen=True, slots=True)
class LinkSigner:
    """Signs with ``key``; ``reply_address`` (``REFERRAL_REPLY_ADDRESS``) is the Inbound Parse
    address each email's Reply-To is made from, or ``None`` to keep the campaign's reply-to."""

    key: bytes
    reply_address: str | None = None
    #: Keys whose tokens are still read (never signed with): the generated key after a switch to
    #: ``REFERRAL_SECRET_KEY`` (``keys.accepted_keys``).
    accepted: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if self.reply_address is not None:
            # A base the tokens cannot extend (too long, a "+" already) is refused when a run starts, not per email.
            try:
                tokens.reply_address(self.key, self.reply_address, "00000000-0000-0000-0000-000000000000")
            except ValueError as error:
                raise ReferralAutomationError(f"REFERRAL_REPLY_ADDRESS: {error}") from error

    def unsubscribe_token(self, request_id: str) -> str:
        return tokens.unsubscribe_token(self.key, request_id)

    def reply_to(self, request_id: str) -> str | None:
        """``reply+<token>@domain`` for ``request_id``, or ``None`` without a reply address."""
        if self.reply_address is None:
            return None
        return tokens.reply_address(self.key, self.reply_address, request_id)

    def request_of_unsubscribe_token(self, token: object) -> str | None:
        return next(filter(None, (tokens.read_unsubscribe_token(key, token) for key in self._keys())), None)

    def request_of_reply_address(self, address: object) -> str | None:
        return next(filter(None, (tokens.request_from_reply_address(key, address) for key in self._keys())), None)

    def _keys(self) -> tuple[bytes, ...]:
        return (self.key, *self.accepted)

    def hash_ip(self, ip: str) -> str:
        return tokens.hash_ip(self.key, ip)
