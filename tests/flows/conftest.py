"""The one Prefect test server of the session, shared by every flow test.

Starting it costs about 9 s, so flow tests ask for ``prefect_harness`` (never autouse) and carry
``@pytest.mark.flow`` and ``@pytest.mark.xdist_group("prefect")``: under ``pytest -n 2 --dist
loadgroup`` they all run on one worker, which starts the server once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect API (its own database) for the whole session, with flow heartbeats off."""
    from prefect.testing.utilities import prefect_test_harness

    from referral_automation.cli.flow_runner import without_heartbeat

    with prefect_test_harness(server_startup_timeout=120), without_heartbeat():
        yield
