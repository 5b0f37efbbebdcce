"""Indexes for detection: candidate moments, and customers by first purchase (time-based rules).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CANDIDATES = sa.text("outcome = 'candidate'")


def upgrade() -> None:
    op.create_index(
        "ix_moments_candidates",
        "moments",
        ["customer_id"],
        sqlite_where=CANDIDATES,
        postgresql_where=CANDIDATES,
    )
    op.create_index("ix_customers_first_purchase_at", "customers", ["first_purchase_at"])


def downgrade() -> None:
    op.drop_index("ix_customers_first_purchase_at", table_name="customers")
    op.drop_index("ix_moments_candidates", table_name="moments")
