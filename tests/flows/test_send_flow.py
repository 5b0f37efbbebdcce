"""The send and follow-up flows under Prefect: batches, artifacts, failed batches, approvals expiry."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from referral_automation.services.sending.batches import DeliveryReport
from tests.support.send import (
    NOW,
    add_customer,
    add_request,
    request_row,
)

pytestmark = [pytest.mark.flow, pytest.mark.xdist_group("prefect"), pytest.mark.usefixtures("prefect_harness")]


def test_send_flow_sends_each_request_once_in_batches(send_workspace: dict[str, Any]) -> None:
    """It sends every due request in batches, nothing on a re-run, and publishes its counts as an artifact."""
    from prefect.artifacts import Artifact
    from referral_automation.flows.send import ARTIFACT_KEY, send_flow

    first = send_flow(now=NOW, batch_size=2)
    second = send_flow(now=NOW + timedelta(minutes=5), batch_size=2)
    assert (first["sent"], first["batches"], first["failed_batches"]) == (3, 3, 0)
    assert second["sent"] == 0
    assert len(list(send_workspace["outbox"].glob("*.eml"))) == 3
    assert all(request_row(send_workspace["factory"], r).status == "sent" for r in send_workspace["requests"])
    artifact = Artifact.get(ARTIFACT_KEY)
    assert artifact is not None
    assert "| sent | 0 |" in str(getattr(artifact, "data", ""))


def test_followups_flow_sends_the_first_follow_up(send_workspace: dict[str, Any]) -> None:
    """It sends step 1 to every request whose follow-up is due, once."""
    from referral_automation.flows.followups import followups_flow
    from referral_automation.flows.send import send_flow

    send_flow(now=NOW)
    due = request_row(send_workspace["factory"], send_workspace["requests"][0]).next_followup_at
    assert due is not None
    first = followups_flow(now=due)
    again = followups_flow(now=due + timedelta(minutes=1))
    assert (first["sent"], again["sent"]) == (3, 0)
    assert len(list(send_workspace["outbox"].glob("*.eml"))) == 6
    assert request_row(send_workspace["factory"], send_workspace["requests"][0]).followups_sent == 1


def test_a_failed_batch_is_recorded_and_the_run_goes_on(
    send_workspace: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It records a failing batch, still sends the other batches, then fails the run naming the error."""
    import referral_automation.flows.send as send_module
    from referral_automation.flows.runtime import BatchesFailedError
    from referral_automation.flows.send import send_flow

    from referral_automation.services.sending import first_asks as send_service

    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> DeliveryReport:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away for a moment")
        return send_service.send_batch(*args, **kwargs)

    monkeypatch.setattr(send_module, "send_batch", flaky)
    with pytest.raises(BatchesFailedError, match="database went away"):
        send_flow(now=NOW, batch_size=2)
    assert all(request_row(send_workspace["factory"], r).status == "sent" for r in send_workspace["requests"])


def test_send_flow_expires_overdue_approvals(send_workspace: dict[str, Any]) -> None:
    """It expires a request that waited for approval past its deadline, and never sends it."""
    from referral_automation.flows.send import send_flow

    factory = send_workspace["factory"]
    add_customer(factory, "vip", plan="enterprise")
    waiting = add_request(factory, "vip", status="pending_approval", approval_expires_at=NOW - timedelta(hours=1))
    counts = send_flow(now=NOW)
    assert counts["expired_approvals"] == 1
    assert request_row(factory, waiting).status == "expired"


def test_demo_runs_the_prefect_flows(tmp_path: Path) -> None:
    """It runs the demo's detect, send and follow-ups as Prefect flows, with the same counts as without Prefect."""
    from typer.testing import CliRunner

    from referral_automation.cli import app
    from tests.support.demo import NOW as DEMO_NOW
    from tests.support.demo import counts

    def demo(workspace: Path, *extra: str) -> str:
        args = ["demo", "--customers", "60", "--workspace", str(workspace), "--now", DEMO_NOW, *extra]
        result = CliRunner().invoke(app, args, env={"COLUMNS": "120"})
        assert result.exit_code == 0, result.output
        return result.output

    with_flows = demo(tmp_path / "flows")
    assert counts(with_flows) == counts(demo(tmp_path / "direct", "--direct"))
    assert re.search(r"first asks sent\s*│\s*[1-9]", with_flows)
