"""Fixtures of the integration tests: PostgreSQL, a real Prefect server, a fake SendGrid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from referral_automation.email.senders.sendgrid_fake import FakeSendGrid
from tests.support.databases import truncate_postgres

CLI = Path(sys.executable).with_name("referral-automation")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_health(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the Prefect server exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the Prefect server did not start:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def pg_url(postgres_schema_url: str) -> str:
    truncate_postgres(postgres_schema_url)
    return postgres_schema_url


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prefect server on a free loopback port (its own home and SQLite), stopped afterwards."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false"}
    with (home / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [str(CLI.with_name("prefect")), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: teardown stops exactly what it started
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        wait_for_health(server, url, home / "server.log")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid(latency=0.02) as server:
        yield server
