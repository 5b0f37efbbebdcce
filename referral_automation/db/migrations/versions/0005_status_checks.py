"""Statuses and outcomes are checked by the database: a CHECK constraint on each status column.

``referral_requests.status``, ``messages.status``, ``moments.outcome`` and
``approval_decisions.decision`` hold the values of ``domain.statuses``; a typo in code (or a
hand-written UPDATE) is refused instead of leaving a row no query will ever find. The lists are
written out here as they are today: a later change of the enums comes with its own migration.

SQLite cannot add a constraint to a table, so its tables are rebuilt (Alembic's batch mode), with
foreign-key enforcement off for the rebuild as SQLite's own procedure says (env.py).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column, constraint name, the values allowed)
CHECKS = (
    (
        "referral_requests",
        "status",
        "ck_referral_requests_status",
        ("pending_approval", "approved", "rejected", "expired", "scheduled", "sending", "sent", "failed",
         "suppressed", "cancelled"),
    ),
    ("messages", "status", "ck_messages_status", ("sending", "sent", "retry", "failed", "cancelled")),
    ("moments", "outcome", "ck_moments_outcome", ("candidate", "requested", "blocked", "superseded")),
    ("approval_decisions", "decision", "ck_approval_decisions_decision", ("approved", "rejected", "expired")),
)  # fmt: skip


def _condition(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    for table, column, name, values in CHECKS:
        with op.batch_alter_table(table) as batch:
            batch.create_check_constraint(op.f(name), _condition(column, values))


def downgrade() -> None:
    for table, _column, name, _values in reversed(CHECKS):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(name), type_="check")
