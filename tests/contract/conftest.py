"""Stoplight Prism 5.14.2 serving SendGrid's own Mail Send description as a validating mock.

It needs ``../shared/sendgrid/tsg_mail_v3.patched.json`` beside the checkout (CI has it) and Node.
``make test`` installs Prism into ``.tools/prism``; when only pytest is run, this installs it the
same way. Prism starts once per test session on a free loopback port, with ``--errors`` so any
violation of the description is an error answer, and is stopped (its process group) at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT

SPEC = ROOT.parent / "shared" / "sendgrid" / "tsg_mail_v3.patched.json"
PRISM_DIR = ROOT / ".tools" / "prism"
PRISM = PRISM_DIR / "node_modules" / ".bin" / "prism"
PRISM_PACKAGE = "@stoplight/prism-cli@5.14.2"
STARTUP_TIMEOUT = 90.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _install_prism() -> None:
    """The same command as the Makefile's ``prism`` target."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot install Stoplight Prism for the SendGrid contract test")
    subprocess.run(
        [npm, "install", "--prefix", str(PRISM_DIR), PRISM_PACKAGE], check=True, capture_output=True, timeout=600
    )


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Prism exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        if "Prism is listening" in log.read_text(errors="replace"):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return
        time.sleep(0.2)
    raise RuntimeError(f"Prism did not start within {STARTUP_TIMEOUT:.0f} s:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a running Prism mock of SendGrid's Mail Send API."""
    if not SPEC.is_file():
        pytest.skip(f"{SPEC} is not beside the checkout (CI provides ../shared/sendgrid/)")
    if shutil.which("node") is None or shutil.which("npx") is None:
        pytest.skip("node/npx are not installed: the SendGrid contract test needs Stoplight Prism")
    if not PRISM.exists():
        _install_prism()
    port = _free_port()
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(PRISM), "mock", "--errors", "-h", "127.0.0.1", "-p", str(port), str(SPEC)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so teardown stops exactly what it started
        )
    try:
        _wait_until_listening(process, port, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
