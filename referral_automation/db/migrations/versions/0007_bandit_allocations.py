"""The multi-armed test's state: every refresh's allocation, and each request's logged choice.

``bandit_allocations`` keeps what a detection run's refresh decided for a campaign (the probability
of every arm, written once, keyed by its model version). Each referral request names the allocation
that chose its arm (``model_version``), the chosen arm's probability (``arm_propensity``) and whether
the uniform holdout chose it (``from_holdout``), so new policies can be evaluated on the logged
choices and the report can check the observed split against the logged probabilities. Requests made
before this revision keep NULLs there and take no part in those estimates.

The refresh reads, per arm and day of send age, every send and the first outcome of each: two
indexes serve it. ``ix_referral_requests_sends`` (campaign, variant, incentive, sent_at), partial on
the sent requests, covers the sends, so a million of them are read from the index alone (the table
rows are five times wider); ``ix_responses_kind_request`` (kind, request, occurred_at) finds the
outcomes of one kind among the provider's many events, already in request order.

SQLite cannot add a foreign key to a table, so ``referral_requests`` is rebuilt (batch mode), as 0005 does.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from referral_automation.db.types import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEY = "fk_referral_requests_model_version_bandit_allocations"
SENT = sa.text("sent_at IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "bandit_allocations",
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("policy", sa.String(length=20), nullable=False),
        sa.Column("objective", sa.String(length=20), nullable=False),
        sa.Column("holdout", sa.Float(), nullable=False),
        sa.Column("arms", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_bandit_allocations")),
    )
    with op.batch_alter_table("referral_requests") as batch:
        batch.add_column(sa.Column("model_version", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("arm_propensity", sa.Float(), nullable=True))
        batch.add_column(sa.Column("from_holdout", sa.Boolean(), nullable=True))
        batch.create_foreign_key(op.f(FOREIGN_KEY), "bandit_allocations", ["model_version"], ["version"])
        batch.create_index(
            "ix_referral_requests_sends",
            ["campaign", "variant", "incentive", "sent_at"],
            sqlite_where=SENT,
            postgresql_where=SENT,
        )
    op.create_index("ix_responses_kind_request", "responses", ["kind", "referral_request_id", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_responses_kind_request", table_name="responses")
    with op.batch_alter_table("referral_requests") as batch:
        batch.drop_index("ix_referral_requests_sends")
        batch.drop_constraint(op.f(FOREIGN_KEY), type_="foreignkey")
        batch.drop_column("from_holdout")
        batch.drop_column("arm_propensity")
        batch.drop_column("model_version")
    op.drop_table("bandit_allocations")
