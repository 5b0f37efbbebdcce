"""The worker runtime's process-wide policies: the heap frozen around each batch."""

from __future__ import annotations

import gc

from referral_automation.flows.runtime import frozen_heap, run_batches

from referral_automation.services.sending.batches import DeliveryReport


def test_a_batch_runs_with_the_heap_frozen() -> None:
    """It keeps what was alive before a batch out of the garbage collector's passes while the batch
    runs, and hands it back to the collector afterwards."""
    before = gc.get_freeze_count()
    seen: list[int] = []

    def batch() -> DeliveryReport:
        seen.append(gc.get_freeze_count())
        return DeliveryReport(batches=1)

    report, errors = run_batches(batch, label="send")

    assert (report.batches, errors) == (1, [])
    assert seen[0] > before
    assert gc.get_freeze_count() == before


def test_a_heap_the_process_froze_stays_frozen() -> None:
    """It leaves a heap the process froze itself (before forking, say) frozen after a batch."""
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with frozen_heap():
            pass
        assert gc.get_freeze_count() > frozen // 2  # still frozen (objects freed meanwhile leave it too)
    finally:
        gc.unfreeze()


def test_batches_run_until_one_finds_nothing_due() -> None:
    """It runs batches until one claims, moves, cancels and finishes nothing, and adds up their counts."""
    reports = iter([DeliveryReport(batches=1, claimed=2, sent=2), DeliveryReport(batches=1, rescheduled=1),
                    DeliveryReport(batches=1)])  # fmt: skip

    report, _ = run_batches(lambda: next(reports), label="send")

    assert (report.batches, report.sent, report.rescheduled) == (3, 2, 1)
