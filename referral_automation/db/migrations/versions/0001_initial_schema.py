"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import referral_automation.db.types
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('subject_type', sa.String(length=50), nullable=False),
    sa.Column('subject_id', sa.String(length=200), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_subject', ['subject_type', 'subject_id'], unique=False)

    op.create_table('customers',
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('first_name', sa.String(length=200), nullable=False),
    sa.Column('last_name', sa.String(length=200), nullable=False),
    sa.Column('company', sa.String(length=300), nullable=False),
    sa.Column('plan', sa.String(length=100), nullable=False),
    sa.Column('lifetime_value', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('first_purchase_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('locale', sa.String(length=35), nullable=False),
    sa.Column('marketing_opt_in', sa.Boolean(), nullable=False),
    sa.Column('created_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customers'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customers_email'), ['email'], unique=False)

    op.create_table('flow_state',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('position', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('updated_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_flow_state'))
    )
    op.create_table('suppressions',
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('reason', sa.String(length=50), nullable=False),
    sa.Column('source', sa.String(length=50), nullable=False),
    sa.Column('created_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('email', name=op.f('pk_suppressions'))
    )
    op.create_table('journey_events',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('occurred_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('properties', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('ingested_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'], name=op.f('fk_journey_events_customer_id_customers')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_journey_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_journey_events_event_id'))
    )
    with op.batch_alter_table('journey_events', schema=None) as batch_op:
        batch_op.create_index('ix_journey_events_customer_time', ['customer_id', 'occurred_at'], unique=False)

    op.create_table('moments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('rule_id', sa.String(length=100), nullable=False),
    sa.Column('source_key', sa.String(length=200), nullable=False),
    sa.Column('event_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('occurred_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('detected_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('campaign', sa.String(length=100), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('blocked_by', sa.String(length=50), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'], name=op.f('fk_moments_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moments')),
    sa.UniqueConstraint('customer_id', 'rule_id', 'source_key', name=op.f('uq_moments_customer_id'))
    )
    with op.batch_alter_table('moments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_moments_customer_id'), ['customer_id'], unique=False)

    op.create_table('referral_requests',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('moment_id', sa.String(length=36), nullable=False),
    sa.Column('campaign', sa.String(length=100), nullable=False),
    sa.Column('variant', sa.String(length=100), nullable=False),
    sa.Column('incentive', sa.String(length=100), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('unsubscribe_token', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('approval_required', sa.Boolean(), nullable=False),
    sa.Column('approval_reason', sa.Text(), nullable=True),
    sa.Column('approval_expires_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('scheduled_for', referral_automation.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('followups_sent', sa.Integer(), nullable=False),
    sa.Column('next_followup_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sa.String(length=100), nullable=True),
    sa.Column('lease_expires_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'], name=op.f('fk_referral_requests_customer_id_customers')),
    sa.ForeignKeyConstraint(['moment_id'], ['moments.id'], name=op.f('fk_referral_requests_moment_id_moments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_requests')),
    sa.UniqueConstraint('code', name=op.f('uq_referral_requests_code')),
    sa.UniqueConstraint('moment_id', name=op.f('uq_referral_requests_moment_id')),
    sa.UniqueConstraint('unsubscribe_token', name=op.f('uq_referral_requests_unsubscribe_token'))
    )
    with op.batch_alter_table('referral_requests', schema=None) as batch_op:
        batch_op.create_index('ix_referral_requests_customer_created', ['customer_id', 'created_at'], unique=False)
        batch_op.create_index('ix_referral_requests_due', ['status', 'scheduled_for'], unique=False)
        batch_op.create_index('ix_referral_requests_followup', ['status', 'next_followup_at'], unique=False)

    op.create_table('approval_decisions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('referral_request_id', sa.String(length=36), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=False),
    sa.Column('decided_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['referral_request_id'], ['referral_requests.id'], name=op.f('fk_approval_decisions_referral_request_id_referral_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_decisions'))
    )
    with op.batch_alter_table('approval_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_decisions_referral_request_id'), ['referral_request_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('referral_request_id', sa.String(length=36), nullable=False),
    sa.Column('sequence_step', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('provider', sa.String(length=30), nullable=False),
    sa.Column('provider_message_id', sa.String(length=200), nullable=True),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['referral_request_id'], ['referral_requests.id'], name=op.f('fk_messages_referral_request_id_referral_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('referral_request_id', 'sequence_step', name=op.f('uq_messages_referral_request_id'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_provider_message_id'), ['provider_message_id'], unique=False)

    op.create_table('responses',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('referral_request_id', sa.String(length=36), nullable=True),
    sa.Column('message_id', sa.String(length=36), nullable=True),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('occurred_at', referral_automation.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=30), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['referral_request_id'], ['referral_requests.id'], name=op.f('fk_responses_referral_request_id_referral_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_responses')),
    sa.UniqueConstraint('external_id', name=op.f('uq_responses_external_id'))
    )
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.create_index('ix_responses_request_kind', ['referral_request_id', 'kind'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_index('ix_responses_request_kind')

    op.drop_table('responses')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_provider_message_id'))

    op.drop_table('messages')
    with op.batch_alter_table('approval_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_decisions_referral_request_id'))

    op.drop_table('approval_decisions')
    with op.batch_alter_table('referral_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_referral_requests_followup')
        batch_op.drop_index('ix_referral_requests_due')
        batch_op.drop_index('ix_referral_requests_customer_created')

    op.drop_table('referral_requests')
    with op.batch_alter_table('moments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_moments_customer_id'))

    op.drop_table('moments')
    with op.batch_alter_table('journey_events', schema=None) as batch_op:
        batch_op.drop_index('ix_journey_events_customer_time')

    op.drop_table('journey_events')
    op.drop_table('suppressions')
    op.drop_table('flow_state')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_email'))

    op.drop_table('customers')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_subject')

    op.drop_table('audit_log')
