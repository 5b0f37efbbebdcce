"""The send path's own SQL: the tables it writes, the message rows and provider evidence it reads.

Nothing here commits: the calling service owns the transaction (``with session.begin():``). The
batched writes themselves go through ``db.bulk`` (bulk updates by id, inserts by column values).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from referral_automation.db.models import Message, ReferralRequest, Response
from referral_automation.db.sql import Driver, chunks
from referral_automation.domain.responses import ACCEPTED_BY_PROVIDER

requests_table: Table = ReferralRequest.__table__  # type: ignore[assignment]
messages_table: Table = Message.__table__  # type: ignore[assignment]
responses_table: Table = Response.__table__  # type: ignore[assignment]


#: The columns of a message row the send path looks at (``_MESSAGE_TIMES`` are timestamps).
_MESSAGE_COLUMNS = ("id", "status", "provider", "provider_message_id", "created_at", "sent_at", "error")
_MESSAGE_TIMES = frozenset({"created_at", "sent_at"})


def message_rows(session: Session, message_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The existing message rows among ``message_ids``, by id (through the driver: most batches find none)."""
    driver = Driver(session)
    sql = f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM {messages_table.name} WHERE id {driver.IN_LIST}"
    found: dict[str, dict[str, Any]] = {}
    for raw in driver.select_in(sql, message_ids):
        row = dict(zip(_MESSAGE_COLUMNS, raw, strict=True))
        for column in _MESSAGE_TIMES:
            if row[column] is not None:
                row[column] = driver.timestamp_out(row[column])
        found[row["id"]] = row
    return found


def accepted_by_provider(session: Session, messages: Sequence[tuple[str, str, int]]) -> dict[str, str | None]:
    """Messages a provider has reported on (so it accepted them), with the provider's message id if told.

    ``messages`` are (message id, request id, step). A response names its message, or, for the
    first ask only, may name just the request (events that carry no step).
    """
    kinds = sorted(kind.value for kind in ACCEPTED_BY_PROVIDER)
    found: dict[str, str | None] = {}
    by_id = {message_id: (request_id, step) for message_id, request_id, step in messages}
    first_asks = {request_id: message_id for message_id, request_id, step in messages if step == 0}
    r = responses_table
    for part in chunks(list(by_id)):
        query = select(r.c.message_id, r.c.details).where(r.c.message_id.in_(part), r.c.kind.in_(kinds))
        for message_id, details in session.execute(query):
            found.setdefault(message_id, _provider_id(details))
    for part in chunks(list(first_asks)):
        query = select(r.c.referral_request_id, r.c.details).where(
            r.c.referral_request_id.in_(part), r.c.message_id.is_(None), r.c.kind.in_(kinds)
        )
        for request_id, details in session.execute(query):
            found.setdefault(first_asks[request_id], _provider_id(details))
    return found


def _provider_id(details: Any) -> str | None:
    if isinstance(details, dict):
        value = details.get("provider_message_id") or details.get("sg_message_id")
        return str(value) if value else None
    return None
