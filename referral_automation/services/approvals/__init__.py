"""Approvals: a success manager decides on requests to important customers before they go out."""

from referral_automation.services.approvals.decide import (
    ApprovalError,
    DecisionResult,
    PendingApproval,
    approve,
    expire_overdue_approvals,
    list_pending,
    reject,
)
from referral_automation.services.inspection.lookup import resolve_request_id

__all__ = [
    "ApprovalError",
    "DecisionResult",
    "PendingApproval",
    "approve",
    "expire_overdue_approvals",
    "list_pending",
    "reject",
    "resolve_request_id",
]
