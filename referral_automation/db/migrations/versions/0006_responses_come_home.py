"""Responses come home: referees and their sign-ups, referral-link clicks, the reward ledger, the
installation's own signing key, and who referred a customer.

- ``referrals``: one row per referee (unique by the mailbox their address delivers to), with the
  advocate's request, a review status (``accepted | held | rejected``) and, once they convert,
  the conversion's value and the customer they became.
- ``link_clicks``: every request of ``/r/{code}``, with a keyed hash of the client's IP (never the
  address itself) and whether a link checker made it.
- ``rewards``: the ledger, ``pending → issued`` (or ``cancelled``), ids derived per referral and side.
- ``instance_secrets``: the link-signing key generated on first use when ``REFERRAL_SECRET_KEY``
  is not set, so the send flow and the web app sign and check with one key.
- ``customers.referred_by``: the advocate whose referral brought the customer.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from referral_automation.db.types import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "instance_secrets",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_instance_secrets")),
    )
    _link_clicks()
    _referrals()
    _rewards()
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("referred_by", sa.String(length=128), nullable=True))


def _link_clicks() -> None:
    op.create_table(
        "link_clicks",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("referral_request_id", sa.String(length=36), nullable=False),
        sa.Column("clicked_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ip_hash", sa.String(length=32), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("automated", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_request_id"],
            ["referral_requests.id"],
            name=op.f("fk_link_clicks_referral_request_id_referral_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_clicks")),
    )
    op.create_index("ix_link_clicks_request_time", "link_clicks", ["referral_request_id", "clicked_at"])


def _referrals() -> None:
    op.create_table(
        "referrals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("referral_request_id", sa.String(length=36), nullable=False),
        sa.Column("advocate_customer_id", sa.String(length=128), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("referee_email", sa.String(length=320), nullable=False),
        sa.Column("referee_canonical", sa.String(length=320), nullable=False),
        sa.Column("referee_name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("review_reasons", JSON_DOCUMENT, nullable=False),
        sa.Column("reviewed_by", sa.String(length=200), nullable=True),
        sa.Column("reviewed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("converted_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("conversion_value", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("referee_customer_id", sa.String(length=128), nullable=True),
        sa.CheckConstraint("status IN ('accepted', 'held', 'rejected')", name=op.f("ck_referrals_status")),
        sa.ForeignKeyConstraint(
            ["advocate_customer_id"],
            ["customers.customer_id"],
            name=op.f("fk_referrals_advocate_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["referral_request_id"],
            ["referral_requests.id"],
            name=op.f("fk_referrals_referral_request_id_referral_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("referee_canonical", name=op.f("uq_referrals_referee_canonical")),
    )
    op.create_index(op.f("ix_referrals_advocate_customer_id"), "referrals", ["advocate_customer_id"])
    op.create_index("ix_referrals_code_created", "referrals", ["code", "created_at"])
    op.create_index("ix_referrals_created", "referrals", ["created_at"])
    op.create_index(op.f("ix_referrals_referral_request_id"), "referrals", ["referral_request_id"])


def _rewards() -> None:
    op.create_table(
        "rewards",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("referral_id", sa.String(length=36), nullable=False),
        sa.Column("incentive_id", sa.String(length=100), nullable=False),
        sa.Column("side", sa.String(length=10), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("value", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("issue_after", UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_at", UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("side IN ('referrer', 'referee')", name=op.f("ck_rewards_side")),
        sa.CheckConstraint("status IN ('pending', 'issued', 'cancelled')", name=op.f("ck_rewards_status")),
        sa.ForeignKeyConstraint(["referral_id"], ["referrals.id"], name=op.f("fk_rewards_referral_id_referrals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rewards")),
    )
    op.create_index("ix_rewards_due", "rewards", ["status", "issue_after"])
    op.create_index("ix_rewards_recipient", "rewards", ["recipient", "incentive_id", "side"])
    op.create_index(op.f("ix_rewards_referral_id"), "rewards", ["referral_id"])


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("referred_by")
    op.drop_table("rewards")
    op.drop_table("referrals")
    op.drop_table("link_clicks")
    op.drop_table("instance_secrets")
