"""``run-all``: one pass of the whole pipeline — detect, then send, then follow-ups.

The three flows run as subflows, so each keeps its own run, tasks and artifact in the UI. They are
looked up before the first one starts: a missing step fails the run before anything is done.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow

from flows.runtime import ALL_STEPS, load_flow, utc


@flow(name="run-all", description="Detect moments, send due requests, then send due follow-ups.")
def run_all_flow(now: datetime | None = None) -> dict[str, Any]:
    """Each step's counts, by step name (``detect``, ``send``, ``follow-ups``)."""
    at = utc(now)
    steps = {name: load_flow(name) for name in ALL_STEPS}
    return {name: step(now=at) for name, step in steps.items()}
