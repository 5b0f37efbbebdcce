"""SQLAlchemy 2.0 tables: the engine's whole state lives here.

Idempotency is carried by keys (DESIGN.md): events by ``event_id``; moments by
(customer, rule, source key); referral requests by moment; messages by (request, sequence step).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from referral_automation.db.types import JSONDocument, UTCDateTime
from referral_automation.domain.rewards import RewardStatus
from referral_automation.domain.statuses import (
    Decision,
    MessageStatus,
    MomentOutcome,
    ReferralStatus,
    RequestStatus,
    sql_list,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: BIGINT on PostgreSQL, INTEGER (the rowid alias, so it autoincrements) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Customer(Base):
    """A customer as the CRM knows them; upserted by ``customer_id``."""

    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    company: Mapped[str] = mapped_column(String(300), default="")
    plan: Mapped[str] = mapped_column(String(100), default="")
    lifetime_value: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal(0))
    first_purchase_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    locale: Mapped[str] = mapped_column(String(35), default="en")
    marketing_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The advocate whose referral brought this customer (set when a referee converts).
    referred_by: Mapped[str | None] = mapped_column(String(128))


class JourneyEvent(Base):
    """One customer-journey event. ``seq`` orders ingestion and is the detection watermark."""

    __tablename__ = "journey_events"
    __table_args__ = (Index("ix_journey_events_customer_time", "customer_id", "occurred_at"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"))
    type: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    properties: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Moment(Base):
    """A detected positive moment of truth, with what came of it.

    ``source_key`` is the event id for event rules and ``time:<rule>`` for time-based rules, so a
    moment is recorded once however often detection runs. ``outcome`` is ``requested``,
    ``blocked`` (``blocked_by`` names the guard) or ``superseded`` (another moment of the same
    customer in the same run had a higher priority).
    """

    __tablename__ = "moments"
    __table_args__ = (
        UniqueConstraint("customer_id", "rule_id", "source_key"),
        CheckConstraint(f"outcome IN ({sql_list(MomentOutcome)})", name="outcome"),
        # Detection decides only candidates; the table of past moments grows forever.
        Index(
            "ix_moments_candidates",
            "customer_id",
            sqlite_where=text(f"outcome = '{MomentOutcome.CANDIDATE}'"),
            postgresql_where=text(f"outcome = '{MomentOutcome.CANDIDATE}'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # No index of its own: the unique (customer_id, rule_id, source_key) index leads with it.
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"))
    rule_id: Mapped[str] = mapped_column(String(100))
    source_key: Mapped[str] = mapped_column(String(200))
    event_seq: Mapped[int | None] = mapped_column(BigId)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    priority: Mapped[int] = mapped_column(Integer)
    campaign: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(20))
    blocked_by: Mapped[str | None] = mapped_column(String(50))
    reason: Mapped[str | None] = mapped_column(Text)


class ReferralRequest(Base):
    """One ask for referrals, from its moment to its last follow-up.

    Statuses (CONTRACT.md): ``pending_approval → approved | rejected | expired``,
    ``scheduled → sending → sent | failed``, ``suppressed``, ``cancelled``.
    """

    __tablename__ = "referral_requests"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_list(RequestStatus)})", name="status"),
        Index("ix_referral_requests_due", "status", "scheduled_for"),
        Index("ix_referral_requests_customer_created", "customer_id", "created_at"),
        # Only requests with a follow-up to come (migration 0004 says why).
        Index(
            "ix_referral_requests_followup",
            "status",
            "next_followup_at",
            sqlite_where=text("next_followup_at IS NOT NULL"),
            postgresql_where=text("next_followup_at IS NOT NULL"),
        ),
        # The sends of each arm: covers the bandit's refresh (migration 0007 says why).
        Index(
            "ix_referral_requests_sends",
            "campaign",
            "variant",
            "incentive",
            "sent_at",
            sqlite_where=text("sent_at IS NOT NULL"),
            postgresql_where=text("sent_at IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"))
    moment_id: Mapped[str] = mapped_column(ForeignKey("moments.id"), unique=True)
    campaign: Mapped[str] = mapped_column(String(100))
    variant: Mapped[str] = mapped_column(String(100))
    incentive: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    #: Secret of the unsubscribe link (the code is forwarded to friends, so it cannot serve).
    unsubscribe_token: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    approval_required: Mapped[bool] = mapped_column(Boolean, default=False)
    approval_reason: Mapped[str | None] = mapped_column(Text)
    approval_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    followups_sent: Mapped[int] = mapped_column(Integer, default=0)
    next_followup_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: The multi-armed test's choice (migration 0007; NULL on requests made before it): the allocation
    #: that chose the arm (every arm's probability is there), the chosen arm's probability, and
    #: whether the uniform holdout chose it rather than the policy.
    model_version: Mapped[str | None] = mapped_column(ForeignKey("bandit_allocations.version"))
    arm_propensity: Mapped[float | None] = mapped_column(Float)
    from_holdout: Mapped[bool | None] = mapped_column(Boolean)


class BanditAllocation(Base):
    """One refresh of a campaign's multi-armed test: the probability every arm had of being chosen.

    Written once by the first detection run that refreshed it, never changed: a request names it
    by ``model_version``, so off-policy estimates and the sample-ratio check can read, for every
    logged choice, what each arm's probability was. The version is a hash of the settings, the
    posteriors and the probabilities, so an allocation is kept once however many runs (or
    campaigns with the same arms and history) arrive at it. ``arms`` is a list of
    ``[variant, incentive, propensity, probability of being best]`` in the configured order.
    """

    __tablename__ = "bandit_allocations"

    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    policy: Mapped[str] = mapped_column(String(20))
    objective: Mapped[str] = mapped_column(String(20))
    holdout: Mapped[float] = mapped_column(Float)
    arms: Mapped[list[Any]] = mapped_column(JSONDocument)


class ApprovalDecision(Base):
    """A success manager's (or the expiry clock's) decision on a request that needed approval."""

    __tablename__ = "approval_decisions"
    __table_args__ = (CheckConstraint(f"decision IN ({sql_list(Decision)})", name="decision"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    referral_request_id: Mapped[str] = mapped_column(ForeignKey("referral_requests.id"), index=True)
    decision: Mapped[str] = mapped_column(String(20))
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)


class Suppression(Base):
    """An address that must not be emailed (unsubscribe, bounce, spam report)."""

    __tablename__ = "suppressions"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(String(50))
    source: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Message(Base):
    """One email of a request: step 0 is the first ask, 1 and 2 are follow-ups.

    The row is written (``sending``) before the provider is called, so a crash between the
    provider's acceptance and the status write is visible and reconciled, never re-sent blindly.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("referral_request_id", "sequence_step"),
        CheckConstraint(f"status IN ({sql_list(MessageStatus)})", name="status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    referral_request_id: Mapped[str] = mapped_column(ForeignKey("referral_requests.id"))
    sequence_step: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    provider: Mapped[str] = mapped_column(String(30))
    provider_message_id: Mapped[str | None] = mapped_column(String(200), index=True)
    subject: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)


class Response(Base):
    """Something a customer (or the provider on their behalf) did after a message.

    ``kind``: delivered, opened, clicked, replied_ok, referral, conversion, unsubscribed,
    bounced, spam_reported, … ``external_id`` (such as SendGrid's ``sg_event_id``) deduplicates.
    """

    __tablename__ = "responses"
    __table_args__ = (
        Index("ix_responses_request_kind", "referral_request_id", "kind"),
        # The first outcome of a kind per request, in request order (the bandit's refresh, migration 0007).
        Index("ix_responses_kind_request", "kind", "referral_request_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    referral_request_id: Mapped[str | None] = mapped_column(ForeignKey("referral_requests.id"))
    message_id: Mapped[str | None] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(30))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(30))
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)


class FlowState(Base):
    """Named watermarks of the flows (``detect`` keeps the last event ``seq`` it finished)."""

    __tablename__ = "flow_state"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    position: Mapped[int] = mapped_column(BigId, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """Who did what to which thing, and when: decisions, warnings, status changes by people."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    subject_type: Mapped[str] = mapped_column(String(50))
    subject_id: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)


class Referral(Base):
    """A referee's sign-up with an advocate's code: one per referee, however often they sign up.

    ``referee_canonical`` is the mailbox the address delivers to (``domain.referees.canonical_email``),
    so ``Ann.Lee+promo@gmail.com`` and ``annlee@googlemail.com`` are one referee. A sign-up that
    looks wrong (a throwaway address, a code used far more than usual) is ``held`` with its
    ``review_reasons`` until a person accepts or rejects it. ``converted_at`` is set once, when the
    referee becomes a customer (``referee_customer_id``).
    """

    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_list(ReferralStatus)})", name="status"),
        # The unusual-use check counts a code's sign-ups in a recent window, and all codes' in it.
        Index("ix_referrals_code_created", "code", "created_at"),
        Index("ix_referrals_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    referral_request_id: Mapped[str] = mapped_column(ForeignKey("referral_requests.id"), index=True)
    advocate_customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    referee_email: Mapped[str] = mapped_column(String(320))
    referee_canonical: Mapped[str] = mapped_column(String(320), unique=True)
    referee_name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20))
    review_reasons: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    conversion_value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    referee_customer_id: Mapped[str | None] = mapped_column(String(128))


class LinkClick(Base):
    """One request of a referral link (``/r/{code}``). No address is kept: ``ip_hash`` is a keyed
    hash (``domain.tokens.hash_ip``) that tells clicks of one client apart and nothing more."""

    __tablename__ = "link_clicks"
    __table_args__ = (Index("ix_link_clicks_request_time", "referral_request_id", "clicked_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    referral_request_id: Mapped[str] = mapped_column(ForeignKey("referral_requests.id"))
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ip_hash: Mapped[str | None] = mapped_column(String(32))
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    automated: Mapped[bool] = mapped_column(Boolean, default=False)


class RewardEntry(Base):
    """One line of the reward ledger (``domain.rewards``): ``pending`` until the refund window
    ends, then ``issued``; ``cancelled`` by a refund inside the window. Ids are derived from the
    referral and the side, so recording a conversion twice adds nothing."""

    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_list(RewardStatus)})", name="status"),
        CheckConstraint("side IN ('referrer', 'referee')", name="side"),
        Index("ix_rewards_due", "status", "issue_after"),
        # The cap per advocate counts their referrer rewards under one incentive.
        Index("ix_rewards_recipient", "recipient", "incentive_id", "side"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.id"), index=True)
    incentive_id: Mapped[str] = mapped_column(String(100))
    side: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(30))
    value: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20))
    issue_after: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InstanceSecret(Base):
    """Secrets this installation generated for itself (the link-signing key when
    ``REFERRAL_SECRET_KEY`` is not set), so every process that shares the database shares them."""

    __tablename__ = "instance_secrets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    #: The database's clock: a key is made wherever it is first needed, with no ``now`` at hand.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("CURRENT_TIMESTAMP"))
