"""Counting what a send or follow-up run did, and running its batches until nothing is left.

Both runs (first asks and follow-ups) are a series of claim-send-record batches. ``until_idle``
is their one loop, whoever calls it: the services' ``send_due`` and ``send_follow_ups`` in one
process, or a flow that runs each batch as a Prefect task and turns a failed batch into a report
with ``failed_batches`` set, so the run goes on with the next batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from referral_automation.domain.delivery import DeliveryOutcome, Verdict

#: Consecutive failed batches after which a run stops (the database or the provider is down).
MAX_FAILED_IN_A_ROW = 3


@dataclass(slots=True)
class DeliveryReport:
    """Counts of a send or follow-up run (or one batch of it), for logs, artifacts and ``--json``."""

    batches: int = 0
    claimed: int = 0
    sent: int = 0
    settled: int = 0
    failed: int = 0
    #: Failed because their email could not be rendered (a template error, an address that is no mailbox).
    unrenderable: int = 0
    retried: int = 0
    ambiguous: int = 0
    waiting: int = 0
    stopped: int = 0
    #: Given back unsent because the sender could not build a request (a malformed SendGrid setting).
    released: int = 0
    rescheduled: int = 0
    cancelled: int = 0
    finished: int = 0
    failed_batches: int = 0

    @property
    def idle(self) -> bool:
        """Nothing was due: no request claimed, moved, cancelled or finished, and no batch failed."""
        touched = self.claimed + self.rescheduled + self.cancelled + self.finished
        return touched == 0 and self.failed_batches == 0

    def count(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        for outcome in outcomes:
            name = "unrenderable" if outcome.unrenderable else _REPORT_FIELDS[outcome.verdict]
            setattr(self, name, getattr(self, name) + 1)

    def add(self, other: DeliveryReport) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


_REPORT_FIELDS = {
    Verdict.SENT: "sent",
    Verdict.SETTLED: "settled",
    Verdict.FAILED: "failed",
    Verdict.RETRY: "retried",
    Verdict.AMBIGUOUS: "ambiguous",
    Verdict.WAITING: "waiting",
    Verdict.STOPPED: "stopped",
    Verdict.RELEASED: "released",
}


def until_idle(
    batch: Callable[[], DeliveryReport], *, max_failed_in_a_row: int = MAX_FAILED_IN_A_ROW
) -> DeliveryReport:
    """Run ``batch`` until one finds nothing due, or ``max_failed_in_a_row`` fail one after another."""
    report, failed_in_a_row = DeliveryReport(), 0
    while failed_in_a_row < max_failed_in_a_row:
        done = batch()
        report.add(done)
        failed_in_a_row = failed_in_a_row + 1 if done.failed_batches else 0
        if done.idle:
            break
    return report
