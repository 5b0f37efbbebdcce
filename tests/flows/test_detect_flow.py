"""The detect-moments flow under Prefect, its retry policy and its deployment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.states import Failed
from referral_automation.flows import runtime
from sqlalchemy.exc import OperationalError

from referral_automation.cli import flow_runner
from referral_automation.db.models import ReferralRequest
from referral_automation.db.session import session_factory
from tests.support.detect_factories import (
    NOW,
    ROOT,
    rows,
)

HOUR = timedelta(hours=1)


@pytest.mark.parametrize("batch_size", [1, 5000])
@pytest.mark.flow
@pytest.mark.xdist_group("prefect")
@pytest.mark.usefixtures("prefect_harness")
def test_the_flow_creates_the_requests_once_and_publishes_its_counts(detect_workspace: str, batch_size: int) -> None:
    """It creates one request per promoter, nothing on a second run, and a markdown artifact of the counts."""
    from prefect.artifacts import Artifact
    from referral_automation.flows.detect import ARTIFACT_KEY, detect_flow

    first = detect_flow(now=NOW, batch_size=batch_size)
    second = detect_flow(now=NOW + HOUR, batch_size=batch_size)

    assert (first["events_scanned"], first["candidates"], first["requests_created"]) == (3, 2, 2)
    assert (second["events_scanned"], second["requests_created"], second["watermark"]) == (0, 0, 3)
    requested = sorted(r["customer_id"] for r in rows(session_factory(detect_workspace), ReferralRequest))
    assert requested == ["ada", "bob"]
    artifact = Artifact.get(ARTIFACT_KEY)
    assert artifact is not None
    assert artifact.type == "markdown"
    assert "| events scanned | 0 |" in str(artifact.data)


@pytest.mark.flow
@pytest.mark.xdist_group("prefect")
@pytest.mark.usefixtures("prefect_harness")
def test_the_flow_publishes_each_campaigns_test_as_a_table(detect_workspace: str) -> None:
    """It publishes, after the run, a table of every arm of the campaign's test and notes on the holdout and the
    allocation check, for the allocation the run's requests were chosen with."""
    import json

    from prefect.artifacts import Artifact
    from referral_automation.flows.detect import bandit_key, detect_flow

    detect_flow(now=NOW)

    artifact = Artifact.get(bandit_key("customer_referral"))
    assert artifact is not None
    assert (artifact.key, artifact.type) == ("bandit-customer-referral", "table")
    table = json.loads(str(artifact.data))
    assert [row["arm"] for row in table] == [
        f"{v} × {i}" for v in ("gratitude", "social_proof", "direct_ask") for i in ("give50_get50", "donation")
    ]
    assert sum(int(row["sends"]) for row in table) == 0
    assert "sample ratio" in str(artifact.description)
    versions = {r["model_version"] for r in rows(session_factory(detect_workspace), ReferralRequest)}
    assert len(versions) == 1
    assert str(versions.pop()) in str(artifact.description)


@pytest.mark.flow
@pytest.mark.xdist_group("prefect")
@pytest.mark.usefixtures("prefect_harness")
def test_a_transient_database_error_retries_the_batch(detect_workspace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """It retries a scan batch that hit a lost connection, and the run still creates both requests."""
    import referral_automation.flows.detect as detect_module

    real_scan = detect_module.scan_events
    failures = {"left": 1}

    def flaky_scan(*args: Any, **kwargs: Any) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
        return real_scan(*args, **kwargs)

    monkeypatch.setattr(detect_module, "scan_events", flaky_scan)
    monkeypatch.setattr(detect_module, "scan_task", detect_module.scan_task.with_options(retry_delay_seconds=0))

    report = detect_module.detect_flow(now=NOW)

    assert failures["left"] == 0
    assert report["requests_created"] == 2


@pytest.mark.flow
@pytest.mark.xdist_group("prefect")
@pytest.mark.usefixtures("prefect_harness")
def test_run_all_detects_then_sends_then_follows_up(
    detect_workspace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It runs the three flows in order: the requests detected are sent in the same pass."""
    from referral_automation.flows.all import run_all_flow

    outbox = tmp_path / "outbox"
    monkeypatch.setenv("REFERRAL_TEMPLATES_DIR", str(ROOT / "templates" / "email"))
    monkeypatch.setenv("REFERRAL_OUTBOX_DIR", str(outbox))
    monkeypatch.setenv("REFERRAL_EMAIL_BACKEND", "outbox")

    result = run_all_flow(now=NOW)

    assert list(result) == ["detect", "send", "follow-ups"]
    assert result["detect"]["requests_created"] == 2
    assert result["send"]["sent"] == 2
    assert len(list(outbox.glob("*.eml"))) == 2


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (OperationalError("SELECT 1", {}, Exception("database is locked")), True),
        (ValueError("a bug"), False),
    ],
)
def test_only_transient_database_errors_are_retried(error: Exception, retried: bool) -> None:
    """It retries lost connections and locks, never a bug."""
    state = Failed(data=error)

    assert runtime.retry_on_transient_database_errors(None, None, state) is retried  # type: ignore[arg-type]


def test_settings_reach_the_flow_through_the_environment_and_are_restored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """It exports the run's database URL and config directory, then puts the old values back."""
    from referral_automation.settings import load_settings

    monkeypatch.setenv("REFERRAL_DATABASE_URL", "sqlite:///before.db")
    monkeypatch.delenv("REFERRAL_CONFIG_DIR", raising=False)
    settings = load_settings(database_url="sqlite:///during.db", config_dir=tmp_path)

    with flow_runner.exported(flow_runner.settings_environment(settings)):
        inside = load_settings()

    assert (inside.database_url, inside.config_dir) == ("sqlite:///during.db", tmp_path.resolve())
    assert load_settings().database_url == "sqlite:///before.db"
    assert load_settings().config_dir == Path("config")


def test_the_deployments_match_the_flows_the_command_line_runs() -> None:
    """It deploys detect every 15 minutes, send every 5 and follow-ups hourly, from the entrypoints `run` uses."""
    from prefect.cli.deploy._models import PrefectYamlModel  # what `prefect deploy` validates the file with
    from prefect.flows import load_flow_from_entrypoint

    project = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    PrefectYamlModel.model_validate(project)
    deployments = {d["name"]: d for d in project["deployments"]}

    for name, every in (("detect", 900), ("send", 300), ("follow-ups", 3600)):
        module, function = flow_runner.FLOWS[name]
        assert deployments[name]["entrypoint"] == f"flows/{module}.py:{function}"
        assert [s["interval"] for s in deployments[name]["schedules"]] == [every]
    assert load_flow_from_entrypoint(str(ROOT / deployments["detect"]["entrypoint"])).name == "detect-moments"
