"""How the command line runs a flow: Prefect's console shows a failure in one line, not a traceback."""

from __future__ import annotations

import io
import logging

from prefect.logging.handlers import PrefectConsoleHandler

from referral_automation.cli.flow_runner import without_tracebacks


def test_prefect_console_lines_lose_their_tracebacks_for_the_block() -> None:
    """It prints a failed task's log line without its traceback inside the block, and with it after."""
    stream = io.StringIO()
    handler = PrefectConsoleHandler(stream=stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("referral_automation.test_flow_runner")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with without_tracebacks():
            try:
                raise ValueError("the batch failed")
            except ValueError:
                logger.exception("Task run failed")
        quiet = stream.getvalue()
        try:
            raise ValueError("again")
        except ValueError:
            logger.exception("Task run failed")
    finally:
        logger.removeHandler(handler)
    assert "ERROR Task run failed" in quiet
    assert "Traceback" not in quiet
    assert "Traceback" in stream.getvalue()[len(quiet) :]
