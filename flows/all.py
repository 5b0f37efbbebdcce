"""``run-all``: one pass of the whole pipeline — detect, then send, then follow-ups.

The three flows run as subflows, so each keeps its own run, tasks and artifact in the UI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow

from .detect import detect_flow
from .followups import followups_flow
from .runtime import utc
from .send import send_flow

#: The steps of a pass, in order, by their command-line names.
STEPS = {"detect": detect_flow, "send": send_flow, "follow-ups": followups_flow}


@flow(name="run-all", description="Detect moments, send due requests, then send due follow-ups.")
def run_all_flow(now: datetime | None = None) -> dict[str, Any]:
    """Each step's counts, by step name (``detect``, ``send``, ``follow-ups``)."""
    at = utc(now)
    return {name: step(now=at) for name, step in STEPS.items()}
