"""How the command line runs one flow: ephemeral or server-backed Prefect, quiet logs, no heartbeat.

* **Settings reach the flow through the environment.** The command's settings (``--database-url``,
  ``--config-dir``, or the demo workspace's) are exported as ``REFERRAL_*`` variables for the run
  and restored after, and the flow reads them with ``load_settings()`` exactly as it does under a
  deployment's worker. Flow parameters stay what an operator may change per run in the UI: ``now``
  and ``batch_size``.
* **Ephemeral or server.** Without ``PREFECT_API_URL`` Prefect starts a temporary server for this
  process whose run history is lost at exit; ``EPHEMERAL_HINT`` says how to keep it. That server's
  own logs (errors about the history it loses when stopped) are silenced unless the user set
  ``PREFECT_SERVER_LOGGING_LEVEL``.
* **Quiet console.** Prefect logs each run and task at INFO on stderr; the console handler is set to
  WARNING unless the user chose a level. It must be set before ``prefect`` is first imported, as must
  the temporary server's start-up timeout (raised to 120 s unless set).
* **No heartbeat.** A sync flow joins its heartbeat thread at the end, about a second per run or
  subflow; one-shot runs do not need it.
* **No tracebacks on the console** (``without_tracebacks``), unless ``--debug``: a task or flow that
  fails is still logged, in one line, and the command says what failed; the run's history on the
  Prefect server keeps the whole traceback.
"""

from __future__ import annotations

import os

os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
# The temporary server takes several seconds to start, more on a busy machine; Prefect's default gives up at 20 s.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# The temporary server's telemetry heartbeat writes to its SQLite database while runs do, and
# logs "database is locked" tracebacks; it has nothing to report for a one-shot run.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import importlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

from prefect import Flow
from prefect.logging.handlers import PrefectConsoleHandler
from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from referral_automation.errors import ReferralAutomationError
from referral_automation.settings import Settings

#: Command-line name → (module under ``referral_automation.flows``, flow function).
FLOWS: dict[str, tuple[str, str]] = {
    "detect": ("detect", "detect_flow"),
    "send": ("send", "send_flow"),
    "follow-ups": ("followups", "followups_flow"),
    "all": ("all", "run_all_flow"),
}

EPHEMERAL_HINT = (
    "note: PREFECT_API_URL is not set, so this run uses a temporary Prefect server and its history is not kept; "
    "run `prefect server start` and `export PREFECT_API_URL=http://127.0.0.1:4200/api` to keep runs"
)


class FlowUnavailableError(ReferralAutomationError):
    """A flow this installation does not have."""


def load_flow(name: str) -> Flow[..., Any]:
    """The flow for a command-line name (importing it imports Prefect)."""
    module_name, attribute = FLOWS[name]
    qualified = f"referral_automation.flows.{module_name}"
    try:
        module = importlib.import_module(qualified)
    except ModuleNotFoundError as error:
        if error.name not in (qualified, "referral_automation.flows"):
            raise
        message = f"the {name!r} flow is not available in this installation (no module {qualified})"
        raise FlowUnavailableError(message) from error
    flow: Flow[..., Any] = getattr(module, attribute)
    return flow


def is_ephemeral() -> bool:
    """True when no Prefect server is configured: runs go to a temporary one."""
    return not PREFECT_API_URL.value()


def settings_environment(settings: Settings) -> dict[str, str]:
    """The ``REFERRAL_*`` variables that make a flow read ``settings`` (secrets stay where they are)."""
    return {
        "REFERRAL_DATABASE_URL": settings.database_url,
        "REFERRAL_CONFIG_DIR": str(settings.config_dir.resolve()),
        "REFERRAL_TEMPLATES_DIR": str(settings.templates_dir.resolve()),
        "REFERRAL_OUTBOX_DIR": str(settings.outbox_dir.resolve()),
        "REFERRAL_EMAIL_BACKEND": settings.email_backend,
    }


@contextmanager
def exported(variables: Mapping[str, str]) -> Iterator[None]:
    """``variables`` in the environment for the block, each restored (or removed) after it."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
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


class _Untraced(logging.Formatter):
    """A console formatter's lines without the traceback a record carries."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        saved = (record.exc_info, record.exc_text, record.stack_info)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


@contextmanager
def without_tracebacks() -> Iterator[None]:
    """Prefect's console handlers print each record's message but not its traceback, for the block."""
    names = ["", *logging.root.manager.loggerDict]
    handlers = {
        handler
        for name in names
        for handler in getattr(logging.getLogger(name), "handlers", ())
        if isinstance(handler, PrefectConsoleHandler)
    }
    saved = [(handler, handler.formatter) for handler in handlers]
    for handler, formatter in saved:
        handler.setFormatter(_Untraced(formatter or logging.Formatter()))
    try:
        yield
    finally:
        for handler, formatter in saved:
            handler.setFormatter(formatter)


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
    with exported(settings_environment(settings)), without_heartbeat():
        return cast(Mapping[str, Any], flow(now=now))
