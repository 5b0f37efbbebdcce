"""How the command line runs one flow: ephemeral or server-backed Prefect, quiet logs, no heartbeat.

* **Settings reach the flow through the environment.** ``--database-url`` and ``--config-dir`` are
  exported as ``REFERRAL_DATABASE_URL`` / ``REFERRAL_CONFIG_DIR`` for the run (and restored after),
  and the flow reads them with ``load_settings()`` exactly as it does under a deployment's worker.
  Flow parameters stay what an operator may change per run in the UI: ``now`` and ``batch_size``.
* **Ephemeral or server.** Without ``PREFECT_API_URL`` Prefect starts a temporary server for this
  process whose run history is lost at exit; ``EPHEMERAL_HINT`` says how to keep it. That server's
  own logs (errors about the history it loses when stopped) are silenced unless the user set
  ``PREFECT_SERVER_LOGGING_LEVEL``.
* **Quiet console.** Prefect logs each run and task at INFO on stderr; the console handler is set to
  WARNING unless the user chose a level. It must be set before ``prefect`` is first imported, as must
  the temporary server's start-up timeout (raised to 120 s unless set).
* **No heartbeat.** A sync flow joins its heartbeat thread at the end, about 1.1 s per run or
  subflow (NOTES.md); one-shot runs do not need it.
"""

from __future__ import annotations

import os

os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
# The temporary server takes 6-12 s to start, more on a busy machine; Prefect's default gives up at 20 s.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# The temporary server's telemetry heartbeat writes to its SQLite database while runs do, and
# logs "database is locked" tracebacks (NOTES.md); it has nothing to report for a one-shot run.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import importlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from prefect import Flow
from prefect.client.schemas.objects import State, TaskRun
from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.tasks import Task
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from referral_automation.errors import ReferralAutomationError
from referral_automation.settings import Settings

#: Command-line name → (module, flow function). ``all`` runs the three others in order.
FLOWS: dict[str, tuple[str, str]] = {
    "detect": ("flows.detect", "detect_flow"),
    "send": ("flows.send", "send_flow"),
    "follow-ups": ("flows.followups", "followups_flow"),
    "all": ("flows.all", "run_all_flow"),
}
ALL_STEPS = ("detect", "send", "follow-ups")

EPHEMERAL_HINT = (
    "note: PREFECT_API_URL is not set, so this run uses a temporary Prefect server and its history is not kept; "
    "run `prefect server start` and `export PREFECT_API_URL=http://127.0.0.1:4200/api` to keep runs"
)


class FlowUnavailableError(ReferralAutomationError):
    """A flow this installation does not have (yet)."""


def load_flow(name: str) -> Flow[..., Any]:
    """The flow for a command-line name; for ``all``, only once every step it runs is available."""
    for step in ALL_STEPS if name == "all" else ():
        load_flow(step)
    module_name, attribute = FLOWS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        path = module_name.replace(".", "/") + ".py"
        message = f"the {name!r} flow is not available in this installation ({path} is missing)"
        raise FlowUnavailableError(message) from error
    flow: Flow[..., Any] = getattr(module, attribute)
    return flow


def is_ephemeral() -> bool:
    """True when no Prefect server is configured: runs go to a temporary one."""
    return not PREFECT_API_URL.value()


@contextmanager
def referral_environment(settings: Settings) -> Iterator[None]:
    """Export the run's database and config directory as ``REFERRAL_*`` variables, then restore them."""
    wanted = {
        "REFERRAL_DATABASE_URL": settings.database_url,
        "REFERRAL_CONFIG_DIR": str(settings.config_dir.resolve()),
    }
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def without_heartbeat() -> Iterator[None]:
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def run_flow(name: str, *, now: datetime, settings: Settings) -> Mapping[str, Any]:
    """Run one flow to the end in this process and return its counts."""
    flow = load_flow(name)
    if is_ephemeral():
        # The temporary server is stopped when this process exits, in the middle of recording the
        # run (its history is thrown away anyway) and logs tracebacks about it: keep them quiet.
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
        # At exit the events worker drains to that server and warns "Still processing items" while
        # it waits: routine for a one-shot run on a busy machine.
        logging.getLogger("EventsWorker").setLevel(logging.ERROR)
    with referral_environment(settings), without_heartbeat():
        return cast(Mapping[str, Any], flow(now=now))


def utc(now: datetime | None) -> datetime:
    """A flow's ``now`` parameter: the clock when missing, UTC when naive (as ``--now`` reads it)."""
    if now is None:
        return datetime.now(UTC)
    return (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC)


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
