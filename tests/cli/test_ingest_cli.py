"""``referral-automation ingest customers|events``: exit codes, problems on stderr, clean ``--json``,
standard input, compressed files, update mode."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner, Result

from referral_automation.cli import app
from tests.support import ROOT

NOW = "2026-03-04T10:00:00Z"


def run(db_url: str, *args: str, stdin: bytes | None = None) -> Result:
    options = ["--database-url", db_url, "--config-dir", str(ROOT / "config"), "--now", NOW]
    return CliRunner().invoke(app, ["ingest", *args, *options], env={"COLUMNS": "200"}, input=stdin)


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
        "reasons_file": None,
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
    assert counts["reasons_file"] == str(tmp_path / "events.jsonl.rejects.reasons.jsonl")
    assert (tmp_path / "events.jsonl.rejects.jsonl").read_text().splitlines() == [lines[1], lines[2], lines[4]]


def test_the_summary_names_the_reject_files(workspace: str, tmp_path: Path) -> None:
    """It shows the reject file it wrote, at the path given with --rejects, and the reasons beside it."""
    path = tmp_path / "events.jsonl"
    path.write_text("[]\n")
    target = tmp_path / "rejected.jsonl"

    result = run(workspace, "events", str(path), "--rejects", str(target))

    assert result.exit_code == 1
    assert f"rejected lines written to {target}\n" in result.stdout
    assert f"their reasons written to {tmp_path / 'rejected.reasons.jsonl'}\n" in result.stdout
    assert target.read_text() == "[]\n"


def test_an_unknown_customer_column_fails_after_ingesting(sqlite_url: str, tmp_path: Path) -> None:
    """It reports the unknown column at line 1, ingests the rest, and exits 1."""
    path = tmp_path / "customers.csv"
    path.write_text(
        "customer_id,email,first_purchase_at,timezone,marketing_opt_in,colour\nc1,a@example.com,,UTC,no,red\n"
    )

    result = run(sqlite_url, "customers", str(path), "--json")

    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}:1: unknown column 'colour' (ignored;")
    assert json.loads(result.stdout)["inserted"] == 1


def test_a_customer_file_without_the_columns_a_new_customer_needs_ingests_nothing(
    sqlite_url: str, tmp_path: Path
) -> None:
    """It exits 1 naming the missing columns and update mode, and prints no summary (issue 16)."""
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,email,marketing_opt_in\nc1,a@example.com,yes\n")

    result = run(sqlite_url, "customers", str(path))

    assert result.exit_code == 1
    assert result.stderr == (
        f"{path}:1: missing columns 'first_purchase_at', 'timezone' (a new customer needs customer_id, email, "
        "first_purchase_at, timezone, marketing_opt_in; to change some fields of stored customers only, ingest in "
        "update mode (--update))\n"
    )
    assert result.stdout == ""


def test_update_mode_changes_stored_customers_from_a_partial_file(workspace: str, tmp_path: Path) -> None:
    """It updates the columns a partial file has with --update, and rejects customers it does not know."""
    path = tmp_path / "consent.csv"
    path.write_text("customer_id,marketing_opt_in\nc2,yes\nc3,yes\n")

    result = run(workspace, "customers", str(path), "--update", "--json")

    assert result.exit_code == 1
    assert result.stderr == f"{path}:3: unknown customer 'c3' (update mode changes only customers already stored)\n"
    assert (json.loads(result.stdout)["updated"], json.loads(result.stdout)["rejected"]) == (1, 1)
    assert (tmp_path / "consent.csv.rejects.csv").read_text() == "customer_id,marketing_opt_in\nc3,yes\n"


def test_events_are_read_from_standard_input(workspace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It reads events from - (gzip-compressed or not), naming standard input <stdin> in problems."""
    monkeypatch.chdir(tmp_path)
    data = (event("e1") + "\n" + "oops\n").encode()

    plain = run(workspace, "events", "-", "--json", stdin=data)
    compressed = run(workspace, "events", "-", "--json", stdin=gzip.compress((event("e2") + "\n").encode()))

    assert plain.exit_code == 1
    assert plain.stderr.splitlines() == [
        "<stdin>:2: malformed JSON: unexpected character, expected a JSON value (at column 1)"
    ]
    assert json.loads(plain.stdout)["rejects_file"] == str(tmp_path / "stdin.rejects.jsonl")
    assert (tmp_path / "stdin.rejects.jsonl").read_bytes() == b"oops\n"
    assert (compressed.exit_code, json.loads(compressed.stdout)["inserted"]) == (0, 1)


def test_customers_from_standard_input_need_a_format(sqlite_url: str, tmp_path: Path) -> None:
    """It reads customers from - in the --format given, and calls a missing --format a usage error."""
    csv = b"customer_id,email,first_purchase_at,timezone,marketing_opt_in\nc1,a@example.com,2025-01-01,UTC,yes\n"

    without = run(sqlite_url, "customers", "-", stdin=csv)
    given = run(sqlite_url, "customers", "-", "--format", "csv", "--json", stdin=csv)

    assert without.exit_code == 2
    assert "--format" in without.stderr
    assert (given.exit_code, json.loads(given.stdout)["inserted"]) == (0, 1)


def test_a_compressed_customer_file_is_read(sqlite_url: str, tmp_path: Path, customers_file: Path) -> None:
    """It reads customers.csv.gz as the CSV it holds."""
    path = tmp_path / "customers.csv.gz"
    path.write_bytes(gzip.compress(customers_file.read_bytes()))

    result = run(sqlite_url, "customers", str(path), "--json")

    assert (result.exit_code, json.loads(result.stdout)["inserted"]) == (0, 2)


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
