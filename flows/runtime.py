"""What every flow shares as the worker runtime: retries, the heap policy, batch failures, artifacts.

* **Retries.** Each database batch is one transaction, so a task retries it whole on transient
  database errors (lost connections, locks, serialization failures) and on nothing else.
* **The heap.** A batch allocates thousands of short-lived objects, and each of the collector's
  passes over its older generations walks the whole heap (configuration, compiled templates,
  SQLAlchemy's metadata). ``frozen_heap`` keeps what is alive before a batch out of its way while
  the batch runs: a process-wide policy of the worker, not of any use case.
* **Failed batches.** A failed batch is logged and counted (``run_batches``), the run goes on with
  the next one and stops after a few failures in a row; a run with failed batches publishes its
  counts and then fails, so the CLI exits 1 and the UI shows red.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.objects import State, TaskRun
from prefect.tasks import Task
from prefect.utilities.annotations import quote
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from referral_automation.errors import ReferralAutomationError, SenderSetupError
from referral_automation.services.sending.batches import DeliveryReport, until_idle

T = TypeVar("T")


class BatchesFailedError(ReferralAutomationError):
    """Some batches of a send or follow-up run failed; the others were done and are counted."""


def utc(now: datetime | None) -> datetime:
    """A flow's ``now`` parameter: the clock when missing, UTC when naive (as ``--now`` reads it)."""
    if now is None:
        return datetime.now(UTC)
    return (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC)


def unvisited(value: T) -> T:
    """``value`` marked so Prefect hands it to a task without walking it (config, pipeline, options)."""
    return cast(T, quote(value))


@contextmanager
def frozen_heap() -> Iterator[None]:
    """What is alive before a batch kept out of the garbage collector's way while the batch runs.

    ``gc.freeze`` and ``gc.unfreeze`` only move lists; nothing escapes collection for longer than
    the batch (another thread's batch ending first just ends the freeze early). A heap the process
    froze itself (before forking workers, say) is left as it is.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_batches(batch: Callable[[], DeliveryReport], *, label: str) -> tuple[DeliveryReport, list[str]]:
    """``until_idle`` over ``batch``, each under ``frozen_heap``; a failed batch is recorded and the next goes on.

    A sender that cannot build a request (``SenderSetupError``) ends the run after its batch: every
    batch would give its messages back the same way until the setting is fixed.
    """
    errors: list[str] = []
    setup_failed: list[SenderSetupError] = []

    def attempt() -> DeliveryReport:
        if setup_failed:
            return DeliveryReport()  # idle: ends the run
        try:
            with frozen_heap():
                return batch()
        except Exception as error:  # per-batch capture: flows are where broad catches belong
            if isinstance(error, SenderSetupError):
                setup_failed.append(error)
            errors.append(f"{type(error).__name__}: {error}")
            get_run_logger().error("%s batch failed: %s", label, errors[-1])
            return DeliveryReport(failed_batches=1)

    return until_idle(attempt), errors


def publish(key: str, title: str, counts: dict[str, int], errors: list[str], now: datetime) -> None:
    """The run's counts (and batch errors) as a markdown artifact on the run's Artifacts tab."""
    lines = [f"## {title} at {now.isoformat()}", "", "| measure | count |", "| --- | ---: |"]
    lines += [f"| {name.replace('_', ' ')} | {value} |" for name, value in counts.items()]
    if errors:
        lines += ["", "### Failed batches", "", *(f"- `{error}`" for error in errors)]
    create_markdown_artifact(markdown="\n".join(lines) + "\n", key=key, description=title)
    get_run_logger().info("%s: %s", key, counts)


def finish(counts: dict[str, int], errors: list[str]) -> dict[str, Any]:
    """The counts, or (after they were published) a failure naming the failed batches."""
    if errors:
        raise BatchesFailedError(f"{len(errors)} batch(es) failed, the first: {errors[0]}")
    return counts


# --------------------------------------------------------------------------- retries
def is_transient_database_error(error: BaseException) -> bool:
    """Errors worth retrying a whole batch for: lost connections, locks, serialization failures.

    Every batch is one transaction, so a retry redoes it from a consistent state.
    """
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, OperationalError | InterfaceError)


def retry_on_transient_database_errors(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect ``retry_condition_fn``: retry a batch task only for transient database errors."""
    error = state.data if isinstance(state.data, BaseException) else state.result(raise_on_failure=False)
    return isinstance(error, BaseException) and is_transient_database_error(error)


#: Retry policy of every database batch task.
DATABASE_RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": [2, 10, 30],
    "retry_condition_fn": retry_on_transient_database_errors,
}
