"""``referral-automation simulate``: a policy beside a uniform split in a synthetic world."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from referral_automation.cli import app

ARMS = """\
- {name: thanks, rate: 0.05, value: 100, cost: 10, delay_days: 1}
- {name: peers, rate: 0.09, value: 100, cost: 10, delay_days: 1}
- {name: "[red]short", rate: 0.12, value: 100, cost: 60, delay_days: 1}
"""


@pytest.fixture
def arms_file(tmp_path: Path) -> Path:
    path = tmp_path / "arms.yaml"
    path.write_text(ARMS, encoding="utf-8")
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["simulate", *args])


def test_json_has_the_promised_keys_and_is_reproducible(arms_file: Path) -> None:
    """It prints one JSON document with policy, sends, regret, uniform regret and per arm the share, true rate and
    conversions; the same seed prints the same document."""
    args = ["--arms", str(arms_file), "--sends", "3000", "--seed", "7", "--per-day", "300", "--json"]
    first, again = run(*args), run(*args)

    assert first.exit_code == 0, first.output
    document = json.loads(first.stdout)
    assert {"policy", "sends", "regret", "uniform_regret", "arms"} <= set(document)
    assert (document["policy"], document["sends"]) == ("thompson", 3000)
    assert [arm["name"] for arm in document["arms"]] == ["thanks", "peers", "[red]short"]
    assert all({"name", "share", "true_rate", "conversions"} <= set(arm) for arm in document["arms"])
    assert document["regret"] < document["uniform_regret"]
    assert again.stdout == first.stdout


def test_the_table_shows_each_arm_beside_uniform_and_both_regrets(arms_file: Path) -> None:
    """It prints per arm the policy's and uniform's share, conversions and profit, then both regrets against
    always playing the most profitable arm, arm names shown as they are written."""
    result = run("--arms", str(arms_file), "--sends", "2000", "--seed", "1", "--policy", "uniform")

    assert result.exit_code == 0, result.output
    assert "[red]short" in result.stdout
    table = result.stdout.split("regret against")[0]
    assert max(len(line) for line in table.splitlines()) <= 80
    assert "regret against always playing peers (expected profit lost): uniform" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "greedy"], "'greedy' is not one of thompson, uniform"),
        (["--sends", "0"], "--sends"),
        (["--per-day", "1", "--sends", "5000"], "more than 3,650 days"),
    ],
)
def test_impossible_runs_are_usage_errors(arms_file: Path, args: list[str], message: str) -> None:
    """It refuses an unknown policy, no sends, or a run of more than ten years, before simulating anything."""
    base = {"--arms": str(arms_file), "--sends": "1000", "--seed": "1"}
    for name, value in zip(args[::2], args[1::2], strict=True):
        base[name] = value
    result = run(*(part for item in base.items() for part in item))
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())  # Click's box folds at 80 columns


def test_a_bad_arms_file_is_reported_at_its_line(tmp_path: Path) -> None:
    """It prints each mistake of the arms file as path:line: message and exits 1."""
    path = tmp_path / "arms.yaml"
    path.write_text(ARMS.replace("rate: 0.09", "rate: 9"), encoding="utf-8")

    result = run("--arms", str(path), "--sends", "100", "--seed", "1")

    assert result.exit_code == 1
    assert result.stderr.strip() == f"{path}:2: 1.rate: Input should be less than or equal to 1"
