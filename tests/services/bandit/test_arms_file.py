"""The simulator's world file: a YAML or JSON list of arms, every mistake reported at its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from referral_automation.errors import InputError
from referral_automation.services.bandit.arms_file import MAX_ARMS, load_world
from referral_automation.services.bandit.simulator import SimArm

YAML = """\
# two messages
- {name: thanks, rate: 0.05, value: 100, cost: 10, delay_days: 2.5}
- name: short
  rate: 0.08
  value: 100
  cost: 60
"""


def problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_world(path)
    return [str(problem) for problem in caught.value.problems]


def test_a_yaml_world_is_read_with_the_default_delay(tmp_path: Path) -> None:
    """It reads every arm of a YAML list, an arm without a delay taking three days."""
    path = tmp_path / "arms.yaml"
    path.write_text(YAML, encoding="utf-8")
    assert load_world(path) == [SimArm("thanks", 0.05, 100.0, 10.0, 2.5), SimArm("short", 0.08, 100.0, 60.0, 3.0)]


def test_a_json_world_reads_the_same(tmp_path: Path) -> None:
    """It reads a JSON list of the same arms the same way."""
    path = tmp_path / "arms.json"
    path.write_text('[{"name": "a", "rate": 0.1, "value": 50, "cost": 5, "delay_days": 0}]', encoding="utf-8")
    assert load_world(path) == [SimArm("a", 0.1, 50.0, 5.0, 0.0)]


CASES = [
    ("rate-above-one", "  rate: 0.08\n", "  rate: 1.5\n", 4, "1.rate: Input should be less than or equal to 1"),
    ("negative-cost", "  cost: 60\n", "  cost: -1\n", 6, "1.cost: Input should be greater than or equal to 0"),
    ("unknown-key", "  cost: 60\n", "  cost: 60\n  colour: red\n", 7, "1: unknown key 'colour'"),
    ("missing-value", "  value: 100\n", "", 3, "1.value: Field required"),
    ("rate-not-a-number", "rate: 0.05,", "rate: high,", 2, "0.rate: Input should be a valid number"),
    ("same-name-twice", "name: short", "name: thanks", 3, "1.name: arm name 'thanks' is used twice"),
    ("delay-beyond-a-year", "delay_days: 2.5", "delay_days: 1000", 2, "0.delay_days: Input should be less than"),
    ("empty-name", "name: short", "name: ''", 3, "1.name: String should have at least 1 character"),
    ("control-character", "name: short", 'name: "a\\u0007b"', 3, "1.name: String should match pattern"),
    ("not-a-list", YAML, "arms: []\n", 1, "(top level): Input should be a valid list"),
    ("empty-list", YAML, "[]\n", 1, "(top level): List should have at least 1 item"),
    ("bad-yaml", "  cost: 60\n", "  cost: [60\n", 7, "invalid YAML"),
]


@pytest.mark.parametrize(("old", "new", "line", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_mistake_is_reported_at_its_line(tmp_path: Path, old: str, new: str, line: int, message: str) -> None:
    """It reports each mistake as path:line: message, at the line of the offending value."""
    path = tmp_path / "arms.yaml"
    assert YAML.count(old) == 1
    path.write_text(YAML.replace(old, new), encoding="utf-8")
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:{line}: "), problem
    assert message in problem


def test_more_arms_than_a_test_runs_are_refused(tmp_path: Path) -> None:
    """It refuses a world of more arms than a campaign's test may have."""
    path = tmp_path / "arms.json"
    arms = ", ".join(f'{{"name": "a{n}", "rate": 0.1, "value": 1, "cost": 0}}' for n in range(MAX_ARMS + 1))
    path.write_text(f"[{arms}]", encoding="utf-8")
    assert "List should have at most 100 items" in problems(path)[0]


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    """It names a file it cannot read."""
    assert problems(tmp_path / "missing.yaml") == [
        f"{tmp_path / 'missing.yaml'}: cannot read: No such file or directory"
    ]
