"""What a referee's sign-up and a conversion must say, checked once for the API and the command line.

pydantic models (``extra="forbid"``): FastAPI answers 422 with each problem's field and reason, and
``responses record`` prints the same reasons. Everything a partner's product or a back-office file
can send is bounded and checked here, before any query: the code's shape, one plain mailbox, a name
on one line, a finite non-negative amount in a known currency shape.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from referral_automation.domain.addresses import clean_display_name, parse_mailbox

#: The largest conversion value accepted (the ledger's column holds 12 digits before the point).
MAX_VALUE = Decimal("999999999999.99")
CODE_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"


def _mailbox(value: str) -> str:
    """One plain address, as ``parse_mailbox`` writes it (the domain lower-case ASCII)."""
    return parse_mailbox(value).addr_spec


#: Controls, line breaks and the invisible direction marks and overrides that make text read other than it is.
_NOT_IN_A_NAME = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]")


def _one_line_name(value: str) -> str:
    if _NOT_IN_A_NAME.search(value):
        raise ValueError("a name cannot contain control characters, line breaks or direction overrides")
    return clean_display_name(value)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


Code = Annotated[str, Field(pattern=CODE_PATTERN, description="The advocate's referral code (8-64 of A-Z a-z 0-9 _ -)")]
Email = Annotated[str, Field(min_length=3, max_length=320), AfterValidator(_mailbox)]
When = Annotated[datetime | None, AfterValidator(_aware)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class SignupIn(Strict):
    """A referee signed up with an advocate's code."""

    code: Code
    email: Email = Field(description="The referee's address: exactly one plain mailbox")
    name: Annotated[str, Field(max_length=200), AfterValidator(_one_line_name)] = ""
    occurred_at: When = Field(None, description="When they signed up (default: now)")


class ConversionIn(Strict):
    """A referee became a customer: named by their address, or by the code when only one referee used it."""

    code: Code | None = None
    referee_email: Email | None = None
    value: Decimal = Field(ge=0, le=MAX_VALUE, max_digits=14, decimal_places=2, allow_inf_nan=False)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", description="ISO 4217 (default: the setting)")
    customer_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:@+-]+$",
        description="Their id as a customer (default: derived from their address)",
    )
    occurred_at: When = Field(None, description="When they converted (default: now)")

    @model_validator(mode="after")
    def _named(self) -> ConversionIn:
        if self.code is None and self.referee_email is None:
            raise ValueError("give the referee's address (referee_email), the referral code (code), or both")
        return self
