"""Drop ``ix_moments_customer_id``: the unique (customer_id, rule_id, source_key) index covers it.

Every query by a moment's customer can use the unique index's leading column, so the single-column
index only cost detection a random-page insert per moment recorded.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_moments_customer_id", table_name="moments")


def downgrade() -> None:
    op.create_index("ix_moments_customer_id", "moments", ["customer_id"])
