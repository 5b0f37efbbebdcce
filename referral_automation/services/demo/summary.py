"""What a demo workspace holds after a run, counted from its database for the demo's summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import (
    ApprovalDecision,
    AuditEntry,
    Customer,
    JourneyEvent,
    Message,
    Moment,
    ReferralRequest,
    Response,
)
from referral_automation.domain.responses import ResponseKind
from referral_automation.domain.statuses import MessageStatus, MomentOutcome
from referral_automation.email.senders.outbox import outbox_file_name

#: Response kinds shown per arm, in funnel order.
ARM_KINDS = (
    ResponseKind.OPENED,
    ResponseKind.REFERRAL_CLICKED,
    ResponseKind.REPLIED_OK,
    ResponseKind.REFERRAL,
    ResponseKind.CONVERSION,
)


@dataclass(slots=True)
class ArmCounts:
    """One arm (variant × incentive): requests sent, and how many of them got each response."""

    variant: str
    incentive: str
    sent: int = 0
    responded: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class DemoSummary:
    customers: int
    events: int
    moments: dict[str, int]
    blocked_by: dict[str, int]
    requests: dict[str, int]
    decisions: dict[str, int]
    messages_by_step: dict[int, int]
    responses: dict[str, int]
    arms: list[ArmCounts]
    timezone_fallbacks: int
    sample_first_ask: Path | None
    sample_follow_up: Path | None
    sample_customer: str | None
    #: The request of ``sample_first_ask`` (``requests show`` tells its story).
    sample_request: str | None = None


def summarise(factory: sessionmaker[Session], outbox_dir: Path) -> DemoSummary:
    """Totals of the workspace: stages, statuses, responses by kind and by arm, sample files."""
    with factory() as session:
        first_ask = _first_message(session, step=0)
        follow_up = _first_message(session, step=1)
        return DemoSummary(
            customers=_count(session, Customer),
            events=_count(session, JourneyEvent),
            moments=_grouped(session, Moment.outcome),
            blocked_by=_grouped(session, Moment.blocked_by, Moment.outcome == MomentOutcome.BLOCKED),
            requests=_grouped(session, ReferralRequest.status),
            decisions=_grouped(session, ApprovalDecision.decision),
            messages_by_step={
                int(step): count
                for step, count in session.execute(
                    select(Message.sequence_step, func.count())
                    .where(Message.status == MessageStatus.SENT)
                    .group_by(Message.sequence_step)
                    .order_by(Message.sequence_step)
                )
            },
            responses=_grouped(session, Response.kind),
            arms=_arms(session),
            timezone_fallbacks=_count(session, AuditEntry, AuditEntry.action == "timezone_fallback"),
            sample_first_ask=outbox_dir / outbox_file_name(first_ask[0]) if first_ask else None,
            sample_follow_up=outbox_dir / outbox_file_name(follow_up[0]) if follow_up else None,
            sample_customer=first_ask[1] if first_ask else None,
            sample_request=first_ask[2] if first_ask else None,
        )


def _count(session: Session, model: type, *where: object) -> int:
    return int(session.execute(select(func.count()).select_from(model).where(*where)).scalar() or 0)  # type: ignore[arg-type]


def _grouped(session: Session, column: object, *where: object) -> dict[str, int]:
    query = select(column, func.count()).where(*where).group_by(column).order_by(func.count().desc())  # type: ignore[call-overload]
    return {str(key): int(count) for key, count in session.execute(query) if key is not None}


def _first_message(session: Session, *, step: int) -> tuple[str, str, str] | None:
    """A sent message of ``step`` (the first by id), its customer and its request, to point the reader at."""
    query = (
        select(Message.id, ReferralRequest.customer_id, ReferralRequest.id)
        .join(ReferralRequest, ReferralRequest.id == Message.referral_request_id)
        .where(Message.status == MessageStatus.SENT, Message.sequence_step == step)
        .order_by(Message.id)
        .limit(1)
    )
    row = session.execute(query).first()
    return (row[0], row[1], row[2]) if row else None


def _arms(session: Session) -> list[ArmCounts]:
    """Per arm: requests whose first ask went out, and the requests with each kind of response."""
    arms: dict[tuple[str, str], ArmCounts] = {}
    sent = (
        select(ReferralRequest.variant, ReferralRequest.incentive, func.count())
        .where(ReferralRequest.sent_at.is_not(None))
        .group_by(ReferralRequest.variant, ReferralRequest.incentive)
    )
    for variant, incentive, count in session.execute(sent):
        arms[(variant, incentive)] = ArmCounts(variant, incentive, sent=int(count))
    kinds = [kind.value for kind in ARM_KINDS]
    responded = (
        select(ReferralRequest.variant, ReferralRequest.incentive, Response.kind, Response.referral_request_id)
        .join(Response, Response.referral_request_id == ReferralRequest.id)
        .where(Response.kind.in_(kinds))
        .distinct()
    )
    tally: Counter[tuple[str, str, str]] = Counter()
    for variant, incentive, kind, _ in session.execute(responded):
        tally[(variant, incentive, kind)] += 1
    for (variant, incentive, kind), count in tally.items():
        arm = arms.setdefault((variant, incentive), ArmCounts(variant, incentive))
        arm.responded[kind] = count
    return [arms[key] for key in sorted(arms)]
