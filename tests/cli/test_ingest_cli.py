"""``referral-automation ingest customers|events``: exit codes, problems on stderr, clean ``--json``."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner, Result

from referral_automation.cli import app
from tests.support import ROOT

NOW = "2026-03-04T10:00:00Z"
CUSTOMERS = "customer_id,email,marketing_opt_in\nc1,ada@example.com,yes\nc2,bob@example.com,no\n"


def run(db_url: str, *args: str) -> Result:
    options = ["--database-url", db_url, "--config-dir", str(ROOT / "config"), "--now", NOW]
    return CliRunner().invoke(app, ["ingest", *args, *options], env={"COLUMNS": "200"})


def event(event_id: str, **changes: object) -> str:
    line = {
        "event_id": event_id,
        "customer_id": "c1",
        "type": "nps_submitted",
        "occurred_at": "2026-03-03T16:00:00+01:00",
        "properties": {"score": 10},
    }
    return orjson.dumps({**line, **changes}).decode()


def test_customers_are_ingested_with_a_summary(sqlite_url: str, customers_file: Path) -> None:
    """It exits 0 and prints what it did on stdout, nothing on stderr."""
    result = run(sqlite_url, "customers", str(customers_file))

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "inserted" in result.stdout
    assert "2" in result.stdout


def test_events_are_ingested_and_a_second_run_changes_nothing(workspace: str, tmp_path: Path) -> None:
    """It exits 0 both times; the second run counts every event as already known."""
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([event("e1"), event("e2", customer_id="c2")]) + "\n")

    first = run(workspace, "events", str(path), "--json")
    second = run(workspace, "events", str(path), "--json")

    assert (first.exit_code, second.exit_code) == (0, 0)
    assert json.loads(first.stdout)["inserted"] == 2
    assert json.loads(second.stdout) | {"source": None} == {
        "source": None,
        "read": 2,
        "inserted": 0,
        "updated": 0,
        "already_known": 2,
        "rejected": 0,
        "problems": 0,
        "rejects_file": None,
    }


def test_bad_lines_are_listed_on_stderr_and_exit_1(workspace: str, tmp_path: Path) -> None:
    """It prints FILE:LINE: reason for each bad line on stderr, keeps the good ones, and exits 1."""
    path = tmp_path / "events.jsonl"
    lines = [event("e1"), "oops", event("e2", occurred_at="2026-03-03 16:00"), "", event("e3", customer_id="zed")]
    path.write_text("\n".join(lines) + "\n")

    result = run(workspace, "events", str(path), "--json")

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}:2: malformed JSON: unexpected character, expected a JSON value (at column 1)",
        f"{path}:3: occurred_at has no time zone",
        f"{path}:5: unknown customer 'zed'",
    ]
    counts = json.loads(result.stdout)
    assert (counts["inserted"], counts["rejected"]) == (1, 3)
    assert counts["rejects_file"] == str(tmp_path / "events.jsonl.rejects.jsonl")
    assert len((tmp_path / "events.jsonl.rejects.jsonl").read_text().splitlines()) == 3


def test_the_summary_names_the_reject_file(workspace: str, tmp_path: Path) -> None:
    """It shows the reject file it wrote, at the path given with --rejects."""
    path = tmp_path / "events.jsonl"
    path.write_text("[]\n")
    target = tmp_path / "rejected.jsonl"

    result = run(workspace, "events", str(path), "--rejects", str(target))

    assert result.exit_code == 1
    assert str(target) in result.stdout
    assert target.exists()


def test_an_unknown_customer_column_fails_after_ingesting(sqlite_url: str, tmp_path: Path) -> None:
    """It reports the unknown column at line 1, ingests the rest, and exits 1."""
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,email,colour\nc1,a@example.com,red\n")

    result = run(sqlite_url, "customers", str(path), "--json")

    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}:1: unknown column 'colour' (ignored;")
    assert json.loads(result.stdout)["inserted"] == 1


def test_a_customer_file_without_an_email_column_ingests_nothing(sqlite_url: str, tmp_path: Path) -> None:
    """It exits 1 with FILE:1: missing column 'email' and prints no summary."""
    path = tmp_path / "customers.csv"
    path.write_text("customer_id\nc1\n")

    result = run(sqlite_url, "customers", str(path))

    assert result.exit_code == 1
    assert result.stderr == f"{path}:1: missing column 'email'\n"
    assert result.stdout == ""


def test_a_missing_file_exits_1(sqlite_url: str, tmp_path: Path) -> None:
    """It exits 1 naming the file it cannot open."""
    result = run(sqlite_url, "events", str(tmp_path / "nope.jsonl"))

    assert result.exit_code == 1
    assert result.stderr == f"{tmp_path / 'nope.jsonl'}: cannot open: No such file or directory\n"


def test_a_database_without_the_schema_says_to_run_init(tmp_path: Path, customers_file: Path) -> None:
    """It exits 1 with a hint to run init rather than a SQL error."""
    result = run(f"sqlite:///{tmp_path / 'empty.db'}", "customers", str(customers_file))

    assert result.exit_code == 1
    assert "run `referral-automation init`" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["events"],
        ["events", "x.jsonl", "--batch-size", "0"],
        ["customers", "x.csv", "--colour"],
    ],
    ids=["no file", "batch size 0", "unknown option"],
)
def test_usage_errors_exit_2(sqlite_url: str, args: list[str]) -> None:
    """It exits 2 on a usage error."""
    assert run(sqlite_url, *args).exit_code == 2


def test_a_bad_now_is_a_usage_error(sqlite_url: str, customers_file: Path) -> None:
    """It exits 2 when --now is not an ISO 8601 time."""
    result = CliRunner().invoke(
        app, ["ingest", "customers", str(customers_file), "--database-url", sqlite_url, "--now", "soon"]
    )

    assert result.exit_code == 2
    assert "--now" in result.stderr


def test_the_default_batch_sizes_are_the_services_own() -> None:
    """It commits as many lines at a time as the ingest services do when called from Python."""
    import inspect

    from referral_automation.cli import ingest as cli_ingest
    from referral_automation.services.ingest import customers as ingest_customers
    from referral_automation.services.ingest import events as ingest_events

    assert inspect.signature(cli_ingest.events).parameters["batch_size"].default == ingest_events.DEFAULT_BATCH_SIZE
    customers_default = inspect.signature(cli_ingest.customers).parameters["batch_size"].default
    assert customers_default == ingest_customers.DEFAULT_BATCH_SIZE
