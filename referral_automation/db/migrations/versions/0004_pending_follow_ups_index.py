"""``ix_referral_requests_followup`` holds only requests with a follow-up to come.

The follow-up claim reads ``status = 'sent' AND next_followup_at <= now``, which implies
``next_followup_at IS NOT NULL``, so a partial index on that condition serves it. Every other
request (scheduled, sending, finished with its follow-ups) had an entry under a NULL time,
ordered by row id: each status change of a first ask (claim: ``sending``, record: ``sent``)
moved that entry to a random page. At 100,000 first asks the claim wrote 2.0 database pages an
email to SQLite's WAL with the full index, 1.6 with this one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("next_followup_at IS NOT NULL")
COLUMNS = ["status", "next_followup_at"]


def upgrade() -> None:
    op.drop_index("ix_referral_requests_followup", table_name="referral_requests")
    op.create_index(
        "ix_referral_requests_followup",
        "referral_requests",
        COLUMNS,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_referral_requests_followup", table_name="referral_requests")
    op.create_index("ix_referral_requests_followup", "referral_requests", COLUMNS)
